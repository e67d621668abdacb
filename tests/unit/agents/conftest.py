"""Fixtures for the jail tests: a host directory the jail must never reach, and a toolbox.

`outside` holds a secret (content the model must never read), a file that only a directory
listing would reveal, and a victim file that must never change; `canary` is a host path under
/tmp that a write escaping the jail would create.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from lanekit.agents.jail import Jail, default_jail
from lanekit.agents.tools import ToolBox, Workspace

SECRET = "TOP SECRET 7f3a"
LISTED_ONLY = "only-a-listing-shows-this.txt"
VICTIM = "victim.txt"


@dataclass
class Outside:
    """What lies outside the workspace, and the checks that nothing crossed over."""

    root: Path
    canary: Path

    @property
    def secret(self) -> Path:
        return self.root / "secret.txt"

    def leaked(self, text: str) -> bool:
        """True when `text` shows the secret's content, a listing of `root`, or the host's passwd."""
        return SECRET in text or LISTED_ONLY in text or "root:x:0:0" in text

    def untouched(self) -> bool:
        """Nothing outside was written: the victim is intact, no new files, no canary."""
        names = sorted(p.name for p in self.root.iterdir())
        return ((self.root / VICTIM).read_text() == "unchanged\n" and names == sorted([LISTED_ONLY, "secret.txt", VICTIM])
                and not self.canary.exists())


@pytest.fixture
def outside(tmp_path) -> Outside:
    root = tmp_path / "outside"
    root.mkdir()
    (root / "secret.txt").write_text(SECRET + "\n")
    (root / LISTED_ONLY).write_text("")
    (root / VICTIM).write_text("unchanged\n")
    canary = Path("/tmp") / f"lanekit-escape-canary-{uuid.uuid4().hex}"
    yield Outside(root, canary)
    canary.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def jail() -> Jail:
    j = default_jail()
    if not j.available:
        pytest.fail(f"the tool jail cannot run here: {j.unavailable_reason()} (install bubblewrap: ./install.sh)")
    return j


@pytest.fixture
def box(jail, outside):
    ws = Workspace.create({"notes/a.txt": "alpha\nbeta\ngamma\n", "data/n.txt": "1\n2\n3\n"})
    tb = ToolBox(ws, shell_timeout_s=5, jail=jail)
    yield tb
    ws.cleanup()


@pytest.fixture(scope="session")
def python_ro() -> list[Path]:
    """What the jail must see to run this interpreter (a 'hostile program' in these tests)."""
    return sorted({Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent})
