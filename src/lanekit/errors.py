"""One error tree for everything a user can fix.

    LanekitError                 user-fixable; printed as one line plus the fix, exit code 2
    ├── ConfigError              bad lanes.yaml / bakeoff.yaml / flag (names the field path)
    ├── ModelError               model file missing, not a GGUF, unknown catalog id
    ├── EngineNotFound           engine binary missing (says how to install it)
    ├── EngineBroken             engine binary installed but dies on this host (a signal; says how to rebuild)
    ├── LaneWontFit              memory guard refused the lane (shows the arithmetic)
    ├── PortInUse                the lane's port is already bound
    ├── LaneStartError           engine exited or never became healthy (carries the log tail)
    ├── LaneNotFound             no live lane with that name
    ├── Busy                     another lanekit holds this LANEKIT_HOME or endpoint (names the holder)
    ├── EndpointError            an OpenAI-compatible endpoint did not answer as expected
    └── HarnessError             the agent harness (Hermes) is missing or refused to run
        └── SandboxUnavailable   this host cannot jail the battery's tools (bubblewrap / user namespaces)

Bugs are not caught: they raise ordinary exceptions with a traceback.
"""

from __future__ import annotations


class LanekitError(Exception):
    """A problem the user can fix. `fix` says how, in one line."""

    exit_code = 2

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message}\n  fix: {self.fix}"


class ConfigError(LanekitError):
    """A configuration value is wrong; the message names the field path."""


class ModelError(LanekitError):
    """A model file is missing, unreadable, not a GGUF, or not in the catalog."""


class EngineNotFound(LanekitError):
    """The engine's binary is not installed."""


class EngineBroken(LanekitError):
    """The engine's binary is installed but cannot run on this host (it dies on a signal)."""


class LaneWontFit(LanekitError):
    """The memory guard refused to start a lane; `estimate` holds the arithmetic."""

    def __init__(self, message: str, fix: str | None = None, estimate: object | None = None) -> None:
        super().__init__(message, fix)
        self.estimate = estimate


class PortInUse(LanekitError):
    """The requested port is already bound by another process."""


class LaneStartError(LanekitError):
    """The engine exited during warm-up or never became healthy."""

    def __init__(self, message: str, fix: str | None = None, log_tail: str = "") -> None:
        super().__init__(message, fix)
        self.log_tail = log_tail

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n--- last log lines ---\n{self.log_tail}" if self.log_tail else base


class LaneNotFound(LanekitError):
    """No live lane with that name is recorded."""


class Busy(LanekitError):
    """Another lanekit process holds what this one needs (a LANEKIT_HOME's bakeoff, an endpoint)."""


class EndpointError(LanekitError):
    """An OpenAI-compatible endpoint did not answer as expected."""


class HarnessError(LanekitError):
    """The agent harness is missing or refused to run."""
