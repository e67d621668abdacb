"""What a benchmark points at: a live lane by name, or any OpenAI-compatible URL (model and
`/metrics` discovered when not given). User-fixable problems raise `EndpointError`/`LaneNotFound`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from lanekit.errors import ConfigError, EndpointError


@dataclass(frozen=True)
class Target:
    """An endpoint to benchmark."""

    base_url: str                  # ends in /v1
    model: str                     # the id requests must send
    lane: str | None = None        # lane name for the store (None for a bare URL)
    metrics_url: str | None = None
    metrics_prefix: str | None = None
    model_ref: str | None = None   # catalog id / GGUF path for the roofline column
    engine: str | None = None
    alive: Callable[[], str | None] | None = None  # None while the lane's engine runs, else why not


def normalize_base_url(url: str) -> str:
    """"http://h:8080", "http://h:8080/", ".../v1/" → "http://h:8080/v1"."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--url: {url!r} is not an http(s) URL", fix="e.g. --url http://127.0.0.1:8080/v1")
    return url if url.endswith("/v1") else f"{url}/v1"


def from_lane(name: str) -> Target:
    """A live lane lanekit started (its owner record has URLs, model id and engine)."""
    from lanekit.lanes import registry

    rec = registry.find_live(name)
    prefix = None
    try:
        from lanekit.lanes.engine import get_engine

        prefix = get_engine(rec.engine).metrics_prefix
    except Exception:  # noqa: BLE001 - an engine we cannot load still benchmarks, just without names
        prefix = None
    return Target(base_url=rec.base_url, model=rec.model_id, lane=rec.name, metrics_url=rec.metrics_url,
                  metrics_prefix=prefix, model_ref=str(rec.spec.get("model") or rec.model_id), engine=rec.engine,
                  alive=rec.death_reason)


def from_url(url: str, model: str | None = None, metrics_url: str | None = None, timeout_s: float = 10.0) -> Target:
    """Any OpenAI-compatible endpoint; the model defaults to the first of `/v1/models`, and `/metrics`
    beside `/v1` is used when it answers with Prometheus text."""
    base = normalize_base_url(url)
    with httpx.Client(timeout=timeout_s) as http:
        if model is None:
            try:
                resp = http.get(f"{base}/models")
                resp.raise_for_status()
                models = [m["id"] for m in resp.json().get("data", []) if "id" in m]
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise EndpointError(f"{base}/models did not answer ({type(exc).__name__}: {exc})",
                                    fix="check the URL, or pass --model explicitly") from None
            if not models:
                raise EndpointError(f"{base}/models lists no model", fix="pass --model explicitly")
            model = models[0]
        if metrics_url is None:
            candidate = base.removesuffix("/v1") + "/metrics"
            try:
                resp = http.get(candidate)
                if resp.status_code == 200 and ("# TYPE" in resp.text or ":" in resp.text.split("\n", 1)[0]):
                    metrics_url = candidate
            except httpx.HTTPError:
                metrics_url = None
    return Target(base_url=base, model=model, metrics_url=metrics_url, model_ref=model)
