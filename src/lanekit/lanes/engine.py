"""The Engine seam: how one serving engine turns a LaneSpec into a process and URLs.

One module per engine under `lanes/engines/` implements `Engine` and registers itself with
`register_engine`; the lifecycle never knows which engine it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from lanekit.errors import ConfigError

if TYPE_CHECKING:
    from lanekit.catalog.memory import MemoryEstimate
    from lanekit.lanes.spec import LaneSpec


@runtime_checkable
class Engine(Protocol):
    """What the lifecycle needs from an engine. All methods are pure except `binary`."""

    name: str                 # the `engine:` literal in a LaneSpec
    metrics_prefix: str       # Prometheus prefix, e.g. "llamacpp:" or "vllm:"

    def binary(self, spec: LaneSpec) -> str:
        """Absolute path of the executable; raises EngineNotFound with the install command."""

    def argv(self, spec: LaneSpec, port: int) -> list[str]:
        """The full command line that starts the server on `port`."""

    def env(self, spec: LaneSpec) -> dict[str, str]:
        """Environment variables added to the server's environment."""

    def base_url(self, spec: LaneSpec, port: int) -> str:
        """OpenAI-compatible base URL, ending in /v1."""

    def health_url(self, spec: LaneSpec, port: int) -> str:
        """URL that answers 200 once the model is loaded."""

    def metrics_url(self, spec: LaneSpec, port: int) -> str | None:
        """Prometheus text endpoint, or None when the engine has none."""

    def model_id(self, spec: LaneSpec) -> str:
        """The model name clients must send in requests."""

    def stop_argv(self, spec: LaneSpec) -> list[str] | None:
        """Extra command that stops what killing the process group does not (containers)."""

    def memory_estimate(self, spec: LaneSpec) -> MemoryEstimate:
        """Footprint the guard compares with free memory before launch."""

    def served_ctx(self, spec: LaneSpec) -> int:
        """Context tokens one request can use on this lane."""

    # Optional hooks, looked up with getattr by the lifecycle:
    #   preflight(spec)         refuse a build that cannot run here (llama.cpp: smoke decode)
    #   prepare(spec, port)     after /health: pull/create/load the model (Ollama)
    #   exit_fix(returncode)    the fix for a server that died on a signal


class HttpEngine:
    """Defaults shared by engines that serve OpenAI HTTP on the lane's host and port.

    Subclasses set `health_path` / `metrics_path` (None: no metrics endpoint) and override
    only what differs (containers pass their variables as `-e` flags and stop with `docker stop`).
    """

    health_path = "/health"
    metrics_path: str | None = "/metrics"

    def env(self, spec: LaneSpec) -> dict[str, str]:
        return dict(spec.env)

    def base_url(self, spec: LaneSpec, port: int) -> str:
        return f"http://{spec.host}:{port}/v1"

    def health_url(self, spec: LaneSpec, port: int) -> str:
        return f"http://{spec.host}:{port}{self.health_path}"

    def metrics_url(self, spec: LaneSpec, port: int) -> str | None:
        return f"http://{spec.host}:{port}{self.metrics_path}" if self.metrics_path else None

    def stop_argv(self, spec: LaneSpec) -> list[str] | None:
        return None

    def served_ctx(self, spec: LaneSpec) -> int:
        return spec.ctx


_ENGINES: dict[str, Engine] = {}


def register_engine(engine: Engine) -> Engine:
    """Add an engine instance to the registry under `engine.name`."""
    _ENGINES[engine.name] = engine
    return engine


def get_engine(name: str) -> Engine:
    """Look an engine up by its `engine:` literal."""
    from lanekit.lanes import engines  # noqa: F401  (importing registers every engine)

    try:
        return _ENGINES[name]
    except KeyError:
        raise ConfigError(f"engine: unknown engine {name!r}",
                          fix=f"use one of: {', '.join(sorted(_ENGINES))}") from None


def engine_for(spec: LaneSpec) -> Engine:
    """The engine that runs `spec`."""
    return get_engine(spec.engine)
