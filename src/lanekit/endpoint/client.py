"""The one client every part of lanekit talks to an endpoint through: bench, doctor, the built-in
agent loop. One request in, one `RequestRecord` (with its assembled `Reply`) out — streamed or
not, chat or completions, tool-call deltas assembled, reasoning fields kept, usage read.

Deadlines: every request has a wall-clock deadline (`timeout_s`) from send to last byte, so a
server that never answers, or one that only sends `: ping` keep-alives, ends as a timed-out
request instead of hanging. A malformed stream (non-object events, wrong types, invalid UTF-8,
usage that is not a number) ends as a failed request, never an exception. The transport and the
clock are parameters so tests pass `httpx.MockTransport` and a fake clock.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Self, TypeVar

import httpx

from lanekit.endpoint.records import Api, RequestRecord
from lanekit.endpoint.sse import Malformed, StreamState, consume_sse

DEFAULT_TIMEOUT_S = 300.0
CONNECT_TIMEOUT_S = 10.0
# A request whose pooled connection turned out closed before any response byte is sent again this often.
STALE_CONNECTION_RETRIES = 2
_STALE_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)
T = TypeVar("T")


def chat_path(api: Api) -> str:
    return "chat/completions" if api == "chat" else "completions"


def v1_base(base_url: str) -> str:
    """The OpenAI base URL ending in /v1, for one given with or without it."""
    base = base_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def build_payload(model: str, *, api: Api = "chat", messages: list[dict] | None = None, prompt: str | None = None,
                  max_tokens: int | None = 256, enforce_length: bool = True, stream: bool = True,
                  temperature: float | None = 0.0, tools: list[dict] | None = None,
                  tool_choice: str | dict | None = None, extra_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body. Streaming asks for usage; `ignore_eos` + `min_tokens` pin the output length;
    `temperature` None sends no sampling at all, so the lane's own defaults apply (as for agents)."""
    body: dict[str, Any] = {"model": model, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    if api == "chat":
        body["messages"] = messages if messages is not None else [{"role": "user", "content": prompt or ""}]
        if tools:
            body["tools"] = tools
            body["tool_choice"] = tool_choice or "auto"
    else:
        body["prompt"] = prompt if prompt is not None else "\n".join(str(m.get("content", "")) for m in messages or [])
    if enforce_length and max_tokens:
        body["ignore_eos"] = True          # llama.cpp, vLLM, SGLang
        body["min_tokens"] = max_tokens    # vLLM, SGLang (llama.cpp ignores it)
    if extra_body:
        body.update(extra_body)
    return body


class EndpointClient:
    """An async client for one endpoint + model. `async with EndpointClient(...) as c:`."""

    def __init__(self, base_url: str, model: str, *, api: Api = "chat",
                 transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 clock: Callable[[], int] = time.perf_counter_ns, api_key: str | None = None,
                 headers: dict[str, str] | None = None, max_connections: int = 256) -> None:
        self.base_url = v1_base(base_url)
        self.model = model
        self.api = api
        self.clock = clock
        self.timeout_s = timeout_s
        self._enforce_ok = True
        hdrs = dict(headers or {})
        if api_key:
            hdrs["Authorization"] = f"Bearer {api_key}"
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.AsyncClient(transport=transport, headers=hdrs, limits=limits,
                                       timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)))

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying httpx client (same transport), for side requests like `/props`."""
        return self._http

    @property
    def url(self) -> str:
        """The completions endpoint this client sends to."""
        return f"{self.base_url}/{chat_path(self.api)}"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream(self, *, messages: list[dict] | None = None, prompt: str | None = None, max_tokens: int = 256,
                     enforce_length: bool = True, extra_body: dict[str, Any] | None = None,
                     temperature: float | None = None, timeout_s: float | None = None) -> RequestRecord:
        """A streamed benchmark request: pinned length, and no sampling field unless told, so the
        lane's own sampling applies — what an agent (which sends none) gets, sampling cost included."""
        return await self.request(messages=messages, prompt=prompt, max_tokens=max_tokens, stream=True,
                                  enforce_length=enforce_length, extra_body=extra_body, temperature=temperature,
                                  timeout_s=timeout_s)

    async def request(self, *, messages: list[dict] | None = None, prompt: str | None = None,
                      max_tokens: int | None = 256, stream: bool = True, enforce_length: bool = False,
                      temperature: float | None = None, tools: list[dict] | None = None,
                      tool_choice: str | dict | None = None, extra_body: dict[str, Any] | None = None,
                      timeout_s: float | None = None, model: str | None = None) -> RequestRecord:
        """Send one request (to `model`, default the client's); errors come back inside the record.

        An engine that rejects the length-pinning fields (HTTP 400/422 naming them) is asked once
        more without them; that record then says `enforced_length=False`.
        """
        args = {"model": model or self.model, "messages": messages, "prompt": prompt, "max_tokens": max_tokens,
                "stream": stream,
                "temperature": temperature, "tools": tools, "tool_choice": tool_choice, "extra_body": extra_body,
                "timeout_s": timeout_s or self.timeout_s}
        enforce = enforce_length and self._enforce_ok
        rec = await self._once(enforce=enforce, **args)
        for attempt in range(2, 2 + STALE_CONNECTION_RETRIES):
            if not rec.stale_connection:
                break
            # the server closed a pooled keep-alive connection as we reused it (llama-server's
            # cpp-httplib does this): no byte came back, so the request never ran; send it again
            rec = await self._once(enforce=rec.enforced_length, **args)
            rec.attempts = attempt
        if rec.enforced_length and rec.status_code in (400, 422) and _rejects_length_fields(rec.error):
            self._enforce_ok = False  # remembered: no point sending them again to this endpoint
            rec = await self._once(enforce=False, **args)
        return rec

    async def _once(self, *, enforce: bool, model, messages, prompt, max_tokens, stream, temperature, tools,
                    tool_choice, extra_body, timeout_s: float) -> RequestRecord:
        body = build_payload(model, api=self.api, messages=messages, prompt=prompt, max_tokens=max_tokens,
                             enforce_length=enforce, stream=stream, temperature=temperature, tools=tools,
                             tool_choice=tool_choice, extra_body=extra_body)
        clock = self.clock
        rec = RequestRecord(api=self.api, streamed=stream, started_at=time.time(), start_ns=clock(),
                            requested_max_tokens=max_tokens, enforced_length=enforce)
        state = StreamState(rec, self.api == "chat")
        try:
            async with asyncio.timeout(timeout_s):
                async with self._http.stream("POST", self.url, json=body) as resp:
                    rec.status_code = resp.status_code
                    if resp.status_code != 200:
                        raw = await resp.aread()
                        rec.body_text = raw[:2000].decode(errors="replace")
                        try:
                            rec.body = json.loads(raw)
                        except (ValueError, UnicodeDecodeError):
                            rec.body = None
                        state.fail("http", f"HTTP {resp.status_code}: {rec.body_text[:300]}", clock())
                        return state.finish()
                    if stream:
                        await consume_sse(resp.aiter_bytes(), state, clock)
                    else:
                        raw = await resp.aread()
                        state.whole(raw, clock())
        except TimeoutError:
            state.fail("timeout", f"no complete answer within the {timeout_s:g} s request deadline", clock())
        except httpx.TimeoutException as exc:
            state.fail("timeout", f"{type(exc).__name__}: {exc or 'timed out'}", clock())
        except httpx.HTTPError as exc:
            kind = "connect" if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) else "http"
            state.fail(kind, f"{type(exc).__name__}: {exc}", clock())
            rec.stale_connection = rec.status_code is None and isinstance(exc, _STALE_ERRORS)
        except Malformed as exc:
            state.fail("malformed", f"malformed {'stream' if stream else 'response'}: {exc}", clock())
        return state.finish()


def _rejects_length_fields(error: str | None) -> bool:
    text = (error or "").lower()
    return any(key in text for key in ("ignore_eos", "min_tokens", "extra_forbidden", "extra inputs", "unrecognized"))


class SyncEndpointClient:
    """The same client for synchronous callers (doctor, agent loop): one private event loop thread,
    one connection pool, the same parsing and deadlines."""

    def __init__(self, base_url: str, model: str, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lanekit-endpoint", daemon=True)
        self._thread.start()
        self._client = self._run(_make(base_url, model, kwargs))

    @property
    def base_url(self) -> str:
        return self._client.base_url

    @property
    def model(self) -> str:
        return self._client.model

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def request(self, **kwargs: Any) -> RequestRecord:
        """`EndpointClient.request`, blocking."""
        return self._run(self._client.request(**kwargs))

    def get(self, url: str, timeout_s: float = 10.0) -> tuple[int, Any, str, str | None]:
        """(status, parsed JSON or None, text, error) of a GET within a deadline (status 0: no answer)."""
        async def go() -> tuple[int, Any, str, str | None]:
            for attempt in range(1 + STALE_CONNECTION_RETRIES):
                try:
                    async with asyncio.timeout(timeout_s):
                        resp = await self._client.http.get(url, timeout=timeout_s)
                        await resp.aread()
                    break
                except TimeoutError:
                    return 0, None, "", f"no answer within {timeout_s:g} s"
                except _STALE_ERRORS as exc:  # a pooled keep-alive connection the server closed: ask again
                    if attempt == STALE_CONNECTION_RETRIES:
                        return 0, None, "", f"{type(exc).__name__}: {exc}"
                except httpx.HTTPError as exc:
                    return 0, None, "", f"{type(exc).__name__}: {exc}"
            try:
                text = resp.text
                body = resp.json()
            except (ValueError, UnicodeDecodeError):
                body = None
                text = resp.content[:2000].decode(errors="replace")
            return resp.status_code, body, text, None
        return self._run(go())

    def close(self) -> None:
        try:
            self._run(self._client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _make(base_url: str, model: str, kwargs: dict[str, Any]) -> EndpointClient:
    return EndpointClient(base_url, model, **kwargs)


def parse_json_body(raw: bytes) -> Any:
    """JSON of a response body; raises Malformed for anything that is not valid UTF-8 JSON."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"body is not JSON ({exc})") from None
