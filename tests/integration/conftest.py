"""Fixtures for tests that start real processes: the real llama-server and the fake engine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FAKE_ENGINE = Path(__file__).with_name("fake_engine.py")


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from lanekit.lanes.embedded import model_path

    return model_path("smollm2-135m")


@pytest.fixture(scope="session")
def qwen_path() -> Path:
    from lanekit.lanes.embedded import model_path

    return model_path("qwen2.5-coder-1.5b")


@pytest.fixture
def fake_engine_spec(smollm2_path, tmp_path):
    """Build a llama.cpp-shaped lane spec whose binary is the fake engine in a given mode."""
    from lanekit.lanes.spec import parse_lane

    wrapper = tmp_path / "fake-llama-server"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_ENGINE} \"$@\"\n")
    wrapper.chmod(0o755)

    def make(mode: str, name: str = "fake", **fields):
        data = {"name": name, "engine": "llamacpp", "model": str(smollm2_path), "ctx": 1024,
                "binary": str(wrapper), "env": {"FAKE_ENGINE_MODE": mode}, "warm_timeout_s": 20,
                "stop_grace_s": 1.5, **fields}
        return parse_lane(data)

    return make
