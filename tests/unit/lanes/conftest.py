"""Fixtures for the lane tests that ask this machine's real llama-server build a question."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def llama_server_binary() -> str:
    """The real llama-server of this machine (fails with the install command when missing)."""
    from lanekit.errors import EngineNotFound
    from lanekit.lanes.engines.llamacpp import find_llama_server

    try:
        return find_llama_server()
    except EngineNotFound as exc:
        pytest.fail(f"llama-server missing: {exc} (run ./install.sh)")
