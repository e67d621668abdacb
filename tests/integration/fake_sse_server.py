"""A fake OpenAI-compatible server for the faults a real engine will not produce on demand.

FAKE_SSE_MODE picks how `/v1/chat/completions` answers:
  ok          a well-formed stream of FAKE_SSE_TOKENS tokens (non-stream: one message)
  hang        accepts the request and never sends a byte
  trickle     sends headers, then `: ping` every 0.2 s forever (never a token)
  list        `data: [1,2,3]`                    (an event that is not an object)
  choices     `data: {"choices": "abc"}`        (choices of the wrong type)
  utf8        an event holding invalid UTF-8
  usage       tokens, then usage.completion_tokens = "lots"
  close       two tokens, then the connection is dropped mid-stream
Usage: python fake_sse_server.py --port N
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ.get("FAKE_SSE_MODE", "ok")
TOKENS = int(os.environ.get("FAKE_SSE_TOKENS", "8"))


def _event(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _delta(text: str) -> bytes:
    return _event({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self._json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model", "max_model_len": 4096}]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": "not found"})
            return
        if MODE == "hang":
            time.sleep(3600)
            return
        if not body.get("stream"):
            if MODE == "trickle":  # headers, then a byte of JSON whitespace now and then, forever
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                while True:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            if MODE == "ok":
                self._json(200, {"choices": [{"message": {"role": "assistant", "content": "ok " * TOKENS},
                                              "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 5, "completion_tokens": TOKENS}})
            else:
                self._json(200, {"choices": "abc"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")  # as real engines stream: a cut is visible
        self.end_headers()
        w = _Chunked(self.wfile)
        if MODE == "trickle":
            while True:
                w.write(b": ping\n\n")
                w.flush()
                time.sleep(0.2)
        if MODE == "list":
            w.write(b"data: [1,2,3]\n\n")
        elif MODE == "choices":
            w.write(b'data: {"choices": "abc"}\n\n')
        elif MODE == "utf8":
            w.write(b'data: {"choices": [{"delta": {"content": "\xff\xfe"}}]}\n\n')
        elif MODE == "close":
            w.write(_delta("a") + _delta("b"))
            w.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
            return
        else:
            for i in range(TOKENS):
                w.write(_delta(f"t{i} "))
            usage = {"prompt_tokens": 5, "completion_tokens": "lots" if MODE == "usage" else TOKENS}
            w.write(_event({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}], "usage": usage}))
        w.write(b"data: [DONE]\n\n")
        w.end()


class _Chunked:
    """HTTP/1.1 chunked transfer encoding over the handler's socket file."""

    def __init__(self, raw) -> None:
        self.raw = raw

    def write(self, data: bytes) -> None:
        self.raw.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def flush(self) -> None:
        self.raw.flush()

    def end(self) -> None:
        self.raw.write(b"0\r\n\r\n")
        self.raw.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"fake sse server mode={MODE} port={args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
