"""A fast fake OpenAI-compatible streaming server (asyncio, raw HTTP/1.1, chunked SSE) on loopback.

Streams exactly `max_tokens` token chunks at `--rate` tokens/s per stream (0 = as fast as the
socket takes them), then a final chunk with usage and llama.cpp-style `timings`, then [DONE].
`/metrics` publishes llama.cpp counters (`tokens_predicted_total` grows when a request finishes,
as llama-server does) and the `requests_processing` gauge. Prints `PORT <n>` once listening.

    python benchmarks/fake_openai_server.py --port 0 --rate 20000 [--cpu 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

TOKEN = " tok"
STATE = {"predicted_total": 0, "prompt_total": 0, "processing": 0, "requests_total": 0,
         "predicted_seconds_total": 0.0}


def _chunk(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _frame(payload: bytes) -> bytes:
    """One HTTP/1.1 chunked-encoding frame."""
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _token_event(chat: bool) -> bytes:
    if chat:
        return _chunk({"id": "fake", "object": "chat.completion.chunk", "model": "fake",
                       "choices": [{"index": 0, "delta": {"content": TOKEN}, "finish_reason": None}]})
    return _chunk({"id": "fake", "object": "text_completion", "model": "fake",
                   "choices": [{"index": 0, "text": TOKEN, "finish_reason": None}]})


EVENTS = {True: _token_event(True), False: _token_event(False)}


async def _respond(writer: asyncio.StreamWriter, status: str, body: bytes, ctype: str) -> None:
    writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                 f"Connection: keep-alive\r\n\r\n".encode() + body)
    await writer.drain()


def _metrics_text() -> bytes:
    s = STATE
    lines = [
        "# TYPE llamacpp:prompt_tokens_total counter", f"llamacpp:prompt_tokens_total {s['prompt_total']}",
        "# TYPE llamacpp:tokens_predicted_total counter", f"llamacpp:tokens_predicted_total {s['predicted_total']}",
        "# TYPE llamacpp:tokens_predicted_seconds_total counter",
        f"llamacpp:tokens_predicted_seconds_total {s['predicted_seconds_total']:.6f}",
        "# TYPE llamacpp:requests_processing gauge", f"llamacpp:requests_processing {s['processing']}",
    ]
    return ("\n".join(lines) + "\n").encode()


async def _stream(writer: asyncio.StreamWriter, body: dict, chat: bool, rate: float) -> None:
    n = int(body.get("max_tokens") or 16)
    rate = float(body.get("fake_rate", rate))  # per-request override (the throughput benchmark's ladder)
    prompt_text = json.dumps(body.get("messages") or body.get("prompt") or "")
    prompt_tokens = max(1, len(prompt_text) // 4)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                 b"Connection: keep-alive\r\n\r\n")
    STATE["processing"] += 1
    event = EVENTS[chat]
    sent = 0
    t_first = None
    try:
        if chat:
            writer.write(_frame(_chunk({"id": "fake", "object": "chat.completion.chunk", "model": "fake",
                                        "choices": [{"index": 0, "delta": {"role": "assistant"}}]})))
        t0 = time.perf_counter()
        while sent < n:
            now = time.perf_counter()
            due = n if rate <= 0 else min(n, int((now - t0) * rate) + 1)
            if due > sent:
                writer.write(_frame(event * (due - sent)))
                if t_first is None:
                    t_first = now
                sent = due
                await writer.drain()
            if sent < n and rate > 0:
                await asyncio.sleep(max(0.0, t0 + sent / rate - time.perf_counter()))
        t_last = time.perf_counter()
        gen_ms = max((t_last - (t_first or t_last)) * 1e3, 1e-6)
        final = {"id": "fake", "object": "chat.completion.chunk" if chat else "text_completion", "model": "fake",
                 "choices": [{"index": 0, "delta": {}, "finish_reason": "length"} if chat
                             else {"index": 0, "text": "", "finish_reason": "length"}],
                 "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n},
                 "timings": {"prompt_n": prompt_tokens, "predicted_n": n, "predicted_ms": gen_ms,
                             "predicted_per_second": (n - 1) * 1e3 / gen_ms if n > 1 else None}}
        writer.write(_frame(_chunk(final) + b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
        STATE["predicted_total"] += n
        STATE["prompt_total"] += prompt_tokens
        STATE["predicted_seconds_total"] += gen_ms / 1e3
        STATE["requests_total"] += 1
    finally:
        STATE["processing"] -= 1


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            length = int(headers.get("content-length", "0"))
            raw = await reader.readexactly(length) if length else b""
            if method == "GET" and path.startswith("/v1/models"):
                await _respond(writer, "200 OK", json.dumps({"data": [{"id": "fake", "object": "model"}]}).encode(),
                               "application/json")
            elif method == "GET" and path == "/metrics":
                await _respond(writer, "200 OK", _metrics_text(), "text/plain; version=0.0.4")
            elif method == "GET" and path == "/health":
                await _respond(writer, "200 OK", b'{"status":"ok"}', "application/json")
            elif method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
                await _stream(writer, json.loads(raw or b"{}"), path.endswith("chat/completions"), rate)
            else:
                await _respond(writer, "404 Not Found", b'{"error":"not found"}', "application/json")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.0, help="tokens/s per stream; 0 = unpaced")
    ap.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    args = ap.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    server = await asyncio.start_server(lambda r, w: handle(r, w, args.rate), "127.0.0.1", args.port)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
