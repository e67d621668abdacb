"""A fake engine for faults a real one will not produce on demand.

Accepts llama-server-style flags (only --host/--port matter). FAKE_ENGINE_MODE picks the fault:
ok, exit-early, slow-health (healthy after FAKE_ENGINE_DELAY s), never-healthy,
ignore-sigterm (healthy, ignores SIGTERM), spawn-child (healthy, forks a child in its group),
sigill (dies on SIGILL while loading, as a build using instructions the CPU lacks does).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ.get("FAKE_ENGINE_MODE", "ok")
START = time.monotonic()
DELAY = float(os.environ.get("FAKE_ENGINE_DELAY", "1.5"))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the log quiet
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            healthy = MODE not in ("never-healthy",) and not (MODE == "slow-health" and time.monotonic() - START < DELAY)
            self._send(200 if healthy else 503, {"status": "ok" if healthy else "loading"})
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._send(404, {"error": "not found"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args, _ = parser.parse_known_args()
    print(f"fake engine mode={MODE} pid={os.getpid()}", flush=True)
    if MODE == "exit-early":
        print("error: failed to load model (fake)", flush=True)
        time.sleep(0.3)
        sys.exit(3)
    if MODE == "sigill":
        print("load_tensors: loading model tensors (fake)", flush=True)
        time.sleep(0.2)
        signal.signal(signal.SIGILL, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGILL)
    if MODE == "ignore-sigterm":
        signal.signal(signal.SIGTERM, lambda *a: print("ignoring SIGTERM", flush=True))
    if MODE == "spawn-child":
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
