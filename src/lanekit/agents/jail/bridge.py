"""Host end of the lane bridge: the one network path out of a jail, to one lane and nowhere else.

A jail's network namespace has only its own loopback, which cannot reach the host's
127.0.0.1. The bridge listens on a unix socket in a private directory that the jail gets
mounted; every connection on it is spliced to the lane's TCP address, fixed here on the host.
Inside, forward.py serves 127.0.0.1:PORT in front of the command, so Hermes keeps a plain
`http://127.0.0.1:PORT/v1` base URL. What the jail sends can only ever reach that lane.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit, urlunsplit

from lanekit.agents.jail.forward import splice
from lanekit.agents.jail.sandbox import Net

INNER_PORT_FALLBACK = 18080  # inside the jail when the lane's own port is privileged (< 1024)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LaneBridge:
    """Context manager: a unix socket spliced to the lane behind `base_url`.

    `jail_url` is the base URL to give the jailed client; `net(python)` is the `Net` to pass
    to `Jail.run`. `owner` (uid, gid) is the jail's, so it may connect to the socket."""

    def __init__(self, base_url: str, owner: tuple[int, int] | None = None, connect_timeout_s: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"cannot bridge {base_url!r}: expected http(s)://host[:port]/...")
        self.base_url = base_url
        self.target = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        loopback = parts.hostname in _LOOPBACK
        self.inner_port = self.target[1] if loopback and self.target[1] >= 1024 else INNER_PORT_FALLBACK
        # inside, only 127.0.0.1 is served ("localhost" may resolve to ::1 first)
        same = parts.hostname == "127.0.0.1" and self.inner_port == self.target[1]
        self.jail_url = base_url if same else urlunsplit(
            (parts.scheme, f"127.0.0.1:{self.inner_port}", parts.path, parts.query, parts.fragment))
        self.owner = owner
        self.connect_timeout_s = connect_timeout_s
        self.connections = 0
        self._dir: Path | None = None
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def net(self, python: str) -> Net:
        """The jail side of this bridge, run by `python` (an interpreter visible in the jail)."""
        if self._dir is None:
            raise RuntimeError("the bridge is not open")
        return Net(sock_dir=self._dir, port=self.inner_port, python=python)

    def __enter__(self) -> Self:
        self._dir = Path(tempfile.mkdtemp(prefix="lanekit-net-"))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = self._dir / "lane.sock"
        listener.bind(str(path))
        if self.owner is not None:
            os.chown(self._dir, *self.owner)
            os.chown(path, *self.owner)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, name="lanekit-lane-bridge", daemon=True).start()
        return self

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._pair, args=(client,), daemon=True).start()

    def _pair(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=self.connect_timeout_s)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        with self._lock:
            self.connections += 1
            self._open.update((client, upstream))
        splice(client, upstream)
        with self._lock:
            self._open.difference_update((client, upstream))

    def __exit__(self, *exc: object) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()
            self._open.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
