"""The doctor's view of a live lane: one HTTP client, cached responses, engine detection.

Checks share a `Probe`, so the expensive requests (a tool call, a coherence prompt, a stream)
are made once and read by every check that needs them. The transport is a parameter so unit
tests pass `httpx.MockTransport`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "city name"}},
                   "required": ["city"]}}}
TOOL_PROMPT = "What is the weather in Paris right now? Use the get_weather tool."
SYSTEM_PROMPT = "You are a helpful assistant that uses tools when they help."


@dataclass
class Reply:
    """One HTTP exchange: status (0 = no answer), parsed JSON or text, seconds, error."""

    status: int
    body: Any = None
    text: str = ""
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.body, dict)

    def message(self) -> dict:
        """choices[0].message of a chat completion ({} when absent)."""
        try:
            return self.body["choices"][0].get("message") or {}
        except (TypeError, KeyError, IndexError):
            return {}

    def finish_reason(self) -> str | None:
        try:
            return self.body["choices"][0].get("finish_reason")
        except (TypeError, KeyError, IndexError):
            return None


@dataclass
class Probe:
    """Lazily fetched facts about the lane under test."""

    base_url: str
    model: str | None = None
    engine: str | None = None
    harness: str | None = None
    metrics_url: str | None = None
    timeout_s: float = 180.0
    max_tokens: int = 200
    transport: httpx.BaseTransport | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.client = httpx.Client(timeout=self.timeout_s, transport=self.transport)

    def close(self) -> None:
        self.client.close()

    @property
    def root(self) -> str:
        """Server root (base URL without /v1)."""
        return self.base_url[: -len("/v1")]

    # -- raw requests --------------------------------------------------------------------
    def get(self, url: str) -> Reply:
        t0 = time.monotonic()
        try:
            resp = self.client.get(url)
        except httpx.HTTPError as exc:
            return Reply(0, error=f"{type(exc).__name__}: {exc}", seconds=time.monotonic() - t0)
        return _reply(resp, t0)

    def post(self, path: str, body: dict) -> Reply:
        t0 = time.monotonic()
        try:
            resp = self.client.post(self.base_url + path, json=body)
        except httpx.HTTPError as exc:
            return Reply(0, error=f"{type(exc).__name__}: {exc}", seconds=time.monotonic() - t0)
        return _reply(resp, t0)

    def cached(self, key: str, make) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # -- shared facts --------------------------------------------------------------------
    def models(self) -> Reply:
        return self.cached("models", lambda: self.get(self.base_url + "/models"))

    def model_ids(self) -> list[str]:
        body = self.models().body
        if not isinstance(body, dict):
            return []
        return [m.get("id") for m in body.get("data", []) if isinstance(m, dict) and m.get("id")]

    def model_entry(self) -> dict:
        body = self.models().body if isinstance(self.models().body, dict) else {}
        for entry in body.get("data", []):
            if isinstance(entry, dict) and entry.get("id") == self.model_name():
                return entry
        return {}

    def model_name(self) -> str:
        """The model to request: the given one, else the first the server lists."""
        if self.model:
            return self.model
        ids = self.model_ids()
        return ids[0] if ids else "default"

    def props(self) -> dict:
        """llama-server's /props ({} on other engines)."""
        def fetch():
            reply = self.get(self.root + "/props")
            return reply.body if reply.ok and "default_generation_settings" in reply.body else {}
        return self.cached("props", fetch)

    def detect_engine(self) -> str | None:
        """The engine behind the URL: given, else guessed from /props, owned_by, /api/version."""
        if self.engine:
            return self.engine
        if self.props():
            self.engine = "llamacpp"
            return self.engine
        owned = str(self.model_entry().get("owned_by", "")).lower()
        for name in ("vllm", "sglang", "llamacpp", "ollama", "nvidia", "tensorrt"):
            if name in owned:
                self.engine = {"nvidia": "nim", "tensorrt": "trtllm"}.get(name, name)
                return self.engine
        reply = self.get(self.root + "/api/version")
        if reply.ok and "version" in reply.body:
            self.engine = "ollama"
        return self.engine

    def chat(self, key: str, messages: list[dict], **extra: Any) -> Reply:
        """A cached non-streaming chat completion at temperature 0."""
        body = {"model": self.model_name(), "messages": messages, "temperature": 0,
                "max_tokens": extra.pop("max_tokens", self.max_tokens), **extra}
        return self.cached(key, lambda: self.post("/chat/completions", body))

    def tool_reply(self) -> Reply:
        return self.chat("tools", [{"role": "system", "content": SYSTEM_PROMPT},
                                   {"role": "user", "content": TOOL_PROMPT}], tools=[WEATHER_TOOL])

    def no_tool_reply(self) -> Reply:
        """Same messages without `tools`: if prompt_tokens match, the tools never reached the prompt."""
        return self.chat("no-tools", [{"role": "system", "content": SYSTEM_PROMPT},
                                      {"role": "user", "content": TOOL_PROMPT}], max_tokens=1)

    def stream(self) -> dict:
        """A streamed completion: chunks, content, usage chunk, [DONE], time to first chunk."""
        return self.cached("stream", self._stream)

    def _stream(self) -> dict:
        from lanekit.quality.coherence import KNOWN_PROMPTS

        body = {"model": self.model_name(), "messages": [{"role": "user", "content": KNOWN_PROMPTS[1][0]}],
                "temperature": 0, "max_tokens": 24, "stream": True, "stream_options": {"include_usage": True}}
        out = {"status": 0, "chunks": 0, "content": "", "usage": None, "done": False, "ttfc_s": None,
               "error": None, "bad_lines": 0}
        t0 = time.monotonic()
        try:
            with self.client.stream("POST", self.base_url + "/chat/completions", json=body) as resp:
                out["status"] = resp.status_code
                if resp.status_code != 200:
                    out["error"] = resp.read().decode(errors="replace")[:300]
                    return out
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        out["done"] = True
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        out["bad_lines"] += 1
                        continue
                    if out["ttfc_s"] is None:
                        out["ttfc_s"] = time.monotonic() - t0
                    out["chunks"] += 1
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        out["content"] += delta.get("content") or ""
                    if chunk.get("usage"):
                        out["usage"] = chunk["usage"]
        except httpx.HTTPError as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"
        return out

    def metrics_text(self) -> Reply:
        def fetch():
            return self.get(self.metrics_url or default_metrics_url(self.root, self.detect_engine()))
        return self.cached("metrics", fetch)


def default_metrics_url(root: str, engine: str | None) -> str:
    """Where each engine serves Prometheus text (NIM: /v1/metrics; trtllm: /prometheus/metrics)."""
    return root + {"nim": "/v1/metrics", "trtllm": "/prometheus/metrics"}.get(engine or "", "/metrics")


def _reply(resp: httpx.Response, t0: float) -> Reply:
    text = resp.text
    try:
        body = resp.json()
    except ValueError:
        body = None
    return Reply(resp.status_code, body, text, time.monotonic() - t0)
