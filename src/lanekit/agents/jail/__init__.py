"""The tool jail: what a model writes runs confined by the kernel, not filtered by strings.

    Jail().run(argv, cwd=..., rw=[workspace], ro=[...], timeout_s=...)  # bwrap + prlimit
    default_jail(), SandboxUnavailable                                  # probe once; refuse
    Beneath(root).read_bytes/write_bytes/list_dir/iter_files            # openat2 file tools
    LaneBridge(base_url)                                                # the one way out: a lane

See sandbox.py for what a jailed command sees and may do.
"""

from __future__ import annotations

from lanekit.agents.jail.beneath import Beneath, PathRefused
from lanekit.agents.jail.bridge import LaneBridge
from lanekit.agents.jail.process import RunResult
from lanekit.agents.jail.sandbox import SHELL_LIMITS, Jail, Limits, Net, SandboxUnavailable, default_jail

__all__ = ["SHELL_LIMITS", "Beneath", "Jail", "LaneBridge", "Limits", "Net", "PathRefused", "RunResult",
           "SandboxUnavailable", "default_jail"]
