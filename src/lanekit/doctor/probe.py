"""The doctor's view of a live lane: the endpoint client, cached exchanges, engine detection.

Checks share a `Probe`, so the expensive requests (a tool call streamed and not, a coherence
prompt, a stream) are made once and read by every check that needs them. Every request goes
through `lanekit.endpoint.client`, so `--timeout` is a deadline per request (a server that only
sends keep-alive pings fails it). The transport is a parameter so unit tests pass
`httpx.MockTransport`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from lanekit.endpoint.client import SyncEndpointClient
from lanekit.endpoint.records import RequestRecord

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
    record: RequestRecord | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.body, dict)

    def message(self) -> dict:
        """choices[0].message of a chat completion ({} when absent); streamed replies assembled."""
        if self.record is not None and self.record.reply is not None and self.record.streamed:
            return self.record.reply.message()
        try:
            return self.body["choices"][0].get("message") or {}
        except (TypeError, KeyError, IndexError, AttributeError):
            return {}

    def finish_reason(self) -> str | None:
        if self.record is not None and self.record.streamed:
            return self.record.finish_reason
        try:
            return self.body["choices"][0].get("finish_reason")
        except (TypeError, KeyError, IndexError, AttributeError):
            return None

    @classmethod
    def of(cls, rec: RequestRecord) -> Reply:
        """The exchange as the checks read it, from the endpoint client's record."""
        seconds = (rec.e2e_ns or 0) / 1e9
        if rec.status_code is None or rec.error_kind == "timeout":  # no complete answer: none at all
            return cls(0, error=rec.error, seconds=seconds, record=rec)
        if rec.error_kind == "malformed":
            return cls(rec.status_code, None, rec.body_text, seconds, rec.error, rec)
        if rec.streamed and rec.status_code == 200:
            body = {"choices": [{"message": rec.reply.message() if rec.reply else {},
                                 "finish_reason": rec.finish_reason}],
                    "usage": (rec.reply.usage if rec.reply else None) or {}}
            return cls(200, body, "", seconds, rec.error, rec)
        return cls(rec.status_code, rec.body, rec.body_text, seconds, rec.error, rec)


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
        self.client = SyncEndpointClient(self.base_url, self.model or "default", transport=self.transport,
                                         timeout_s=self.timeout_s)

    def close(self) -> None:
        self.client.close()

    @property
    def root(self) -> str:
        """Server root (base URL without /v1)."""
        return self.base_url[: -len("/v1")]

    # -- raw requests --------------------------------------------------------------------
    def get(self, url: str) -> Reply:
        """A GET within the probe's deadline (status 0: no answer)."""
        t0 = time.monotonic()
        status, body, text, error = self.client.get(url, timeout_s=self.timeout_s)
        return Reply(status, body, text, time.monotonic() - t0, error)

    def complete(self, key: str, messages: list[dict], *, stream: bool = False, **extra: Any) -> Reply:
        """A cached chat completion at temperature 0 through the endpoint client."""
        def make() -> Reply:
            rec = self.client.request(model=self.model_name(), messages=messages, stream=stream, temperature=0,
                                      max_tokens=extra.pop("max_tokens", self.max_tokens), tools=extra.pop("tools", None),
                                      extra_body=extra or None)
            return Reply.of(rec)
        return self.cached(key, make)

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
        return self.complete(key, messages, **extra)

    def tool_reply(self, stream: bool = False) -> Reply:
        """The tool-call request, non-streamed (what most checks read) or streamed (what agents send)."""
        return self.complete("tools-stream" if stream else "tools",
                             [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": TOOL_PROMPT}],
                             stream=stream, tools=[WEATHER_TOOL])

    def no_tool_reply(self) -> Reply:
        """Same messages without `tools`: if prompt_tokens match, the tools never reached the prompt."""
        return self.chat("no-tools", [{"role": "system", "content": SYSTEM_PROMPT},
                                      {"role": "user", "content": TOOL_PROMPT}], max_tokens=1)

    def stream(self) -> dict:
        """A streamed completion: chunks, content, usage chunk, [DONE], time to first chunk."""
        return self.cached("stream", self._stream)

    def _stream(self) -> dict:
        from lanekit.quality.coherence import KNOWN_PROMPTS

        rec = self.client.request(model=self.model_name(), messages=[{"role": "user", "content": KNOWN_PROMPTS[1][0]}],
                                  stream=True, temperature=0, max_tokens=24)
        malformed = rec.error_kind == "malformed"
        return {"status": rec.status_code or 0, "chunks": rec.n_chunks,
                "content": rec.reply.content or "" if rec.reply else "", "usage": rec.reply.usage if rec.reply else None,
                "done": rec.saw_done, "ttfc_s": rec.ttfr_ns / 1e9 if rec.ttfr_ns is not None else None,
                "error": None if malformed or rec.error_kind == "empty" else rec.error,
                "bad_lines": 1 if malformed else 0, "malformed": rec.error if malformed else None}

    def metrics_text(self) -> Reply:
        def fetch():
            return self.get(self.metrics_url or default_metrics_url(self.root, self.detect_engine()))
        return self.cached("metrics", fetch)


def default_metrics_url(root: str, engine: str | None) -> str:
    """Where each engine serves Prometheus text (NIM: /v1/metrics; trtllm: /prometheus/metrics)."""
    return root + {"nim": "/v1/metrics", "trtllm": "/prometheus/metrics"}.get(engine or "", "/metrics")
