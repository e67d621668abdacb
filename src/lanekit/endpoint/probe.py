"""What a live endpoint says it serves: the per-request context window and its slots.

llama-server caps a slot at the model's training context whatever `-c` asked for, so the only
trustworthy answer is the server's own: llama-server `/props` (`default_generation_settings.n_ctx`
is per slot), vLLM/SGLang `/v1/models` (`max_model_len`), Ollama `/api/ps` (`context_length`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
from pydantic import BaseModel


class ServedContext(BaseModel):
    """The context one request can use, as the server reports it (None: it does not say)."""

    per_request: int | None = None
    slots: int | None = None
    source: str | None = None


def split_base(base_url: str) -> tuple[str, str]:
    """(server root, OpenAI base ending in /v1) for a base URL given either way."""
    base = base_url.rstrip("/")
    root = base.removesuffix("/v1")
    return root, root + "/v1"


def _from_props(props: Any) -> ServedContext | None:
    if isinstance(props, dict):
        settings = props.get("default_generation_settings")
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        if isinstance(n_ctx, int) and n_ctx > 0:
            slots = props.get("total_slots")
            return ServedContext(per_request=n_ctx, slots=slots if isinstance(slots, int) else None, source="/props")
    return None


def _from_models(models: Any, model: str | None) -> ServedContext | None:
    if isinstance(models, dict) and isinstance(models.get("data"), list):
        entries = [e for e in models["data"] if isinstance(e, dict)]
        chosen = next((e for e in entries if e.get("id") == model), entries[0] if entries else None)
        if chosen is not None and isinstance(chosen.get("max_model_len"), int):
            return ServedContext(per_request=chosen["max_model_len"], source="/v1/models")
    return None


def _from_ps(running: Any) -> ServedContext | None:
    if isinstance(running, dict) and isinstance(running.get("models"), list):
        for entry in running["models"]:
            if isinstance(entry, dict) and isinstance(entry.get("context_length"), int):
                return ServedContext(per_request=entry["context_length"], source="/api/ps")
    return None


def _json(resp: httpx.Response) -> Any:
    if resp.status_code != 200:
        return None
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        return resp.json()
    return None


def served_context(base_url: str, *, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None,
                   model: str | None = None) -> ServedContext:
    """Ask the endpoint what context it serves per request; never raises."""
    root, v1 = split_base(base_url)
    with httpx.Client(transport=transport, timeout=timeout_s) as http:
        def get(url: str) -> Any:
            with contextlib.suppress(httpx.HTTPError):
                return _json(http.get(url))
            return None

        return (_from_props(get(f"{root}/props")) or _from_models(get(f"{v1}/models"), model)
                or _from_ps(get(f"{root}/api/ps")) or ServedContext())


async def served_context_async(http: httpx.AsyncClient, base_url: str, *, model: str | None = None,
                               timeout_s: float = 10.0) -> ServedContext:
    """`served_context` on an existing async client (the load scenarios' own pool)."""
    root, v1 = split_base(base_url)

    async def get(url: str) -> Any:
        with contextlib.suppress(httpx.HTTPError):
            return _json(await http.get(url, timeout=timeout_s))
        return None

    return (_from_props(await get(f"{root}/props")) or _from_models(await get(f"{v1}/models"), model)
            or _from_ps(await get(f"{root}/api/ps")) or ServedContext())
