"""Test-wide setup: a private LANEKIT_HOME per session, and a final check that no process
lanekit started during the session is still alive."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="lanekit-test-home-"))
os.environ.setdefault("LANEKIT_MODEL_CACHE", str(Path.home() / ".cache" / "lanekit" / "models"))
os.environ["LANEKIT_HOME"] = str(_SESSION_HOME)


def _session_processes():
    import psutil

    from lanekit.lanes.registry import lanekit_processes

    mine = []
    for proc in lanekit_processes():
        try:
            if proc.environ().get("LANEKIT_HOME") == str(_SESSION_HOME):
                mine.append(proc)
        except psutil.Error:
            continue
    return mine


def pytest_sessionfinish(session, exitstatus):
    """The suite ends by asserting that no lanekit-started process survives."""
    survivors = _session_processes()
    if survivors:
        for proc in survivors:
            try:
                proc.kill()
            except Exception:
                pass
        session.exitstatus = 1
        print(f"\nFAIL: lanekit-started processes survived the test session: {[p.pid for p in survivors]}")


@pytest.fixture(scope="session")
def llama_server() -> str:
    """Path of this machine's real llama-server (fails with the install command when missing)."""
    from lanekit.errors import EngineNotFound
    from lanekit.lanes.engines.llamacpp import find_llama_server

    try:
        return find_llama_server()
    except EngineNotFound as exc:
        pytest.fail(f"llama-server missing: {exc} (run ./install.sh)")


def pytest_addoption(parser):
    parser.addoption("--gpu", action="store_true", default=False, help="run tests/gpu (needs an NVIDIA GPU)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--gpu"):
        return
    skip = pytest.mark.skip(reason="GPU tests run only with --gpu")
    for item in items:
        if "tests/gpu/" in str(item.fspath):
            item.add_marker(skip)
