"""In-jail end of the lane bridge (stdlib only; bwrap copies this file into the jail).

    python -I -S forward.py 127.0.0.1 PORT SOCKET -- COMMAND...

Listens on 127.0.0.1:PORT inside the jail's network namespace, splices every connection to the
unix SOCKET (whose other end, on the host, reaches exactly one lane), then runs COMMAND and
exits with its status. The listener is bound before COMMAND starts, so its first request finds
the port open.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading


def pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy `src` to `dst` until EOF, then half-close both ways."""
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


def _serve(listener: socket.socket, path: str) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(path)
        except OSError:
            client.close()
            upstream.close()
            continue
        threading.Thread(target=splice, args=(client, upstream), daemon=True).start()


def splice(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until both ends are done, then close both (the host bridge uses it too)."""
    back = threading.Thread(target=pump, args=(b, a), daemon=True)
    back.start()
    pump(a, b)
    back.join()
    a.close()
    b.close()


def main(argv: list[str]) -> int:
    """Bind, serve in the background, run the command; its exit status is ours."""
    if len(argv) < 5 or argv[3] != "--":
        print("usage: forward.py HOST PORT SOCKET -- COMMAND...", file=sys.stderr)
        return 2
    host, port, path, command = argv[0], int(argv[1]), argv[2], argv[4:]
    listener = socket.create_server((host, port), backlog=64)
    threading.Thread(target=_serve, args=(listener, path), daemon=True).start()
    proc = subprocess.Popen(command)
    code = proc.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
