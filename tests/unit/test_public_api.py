"""The curated public API is pinned."""

import lanekit


def test_public_api_is_pinned():
    assert set(lanekit.__all__) >= {"LanekitError", "LaneWontFit", "ConfigError", "__version__"}
    for name in lanekit.__all__:
        assert hasattr(lanekit, name), name
