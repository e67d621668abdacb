"""`lanekit logs`: show a lane's engine log (live lane, or the newest log of a stopped one)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def logs(
        name: str = typer.Argument(..., help="lane name"),
        lines: int = typer.Option(50, "-n", "--lines", help="how many trailing lines"),
        follow: bool = typer.Option(False, "-f", "--follow", help="keep printing new lines"),
    ) -> None:
        """Print the tail of a lane's log file."""
        import time

        from lanekit.dirs import log_dir
        from lanekit.errors import LaneNotFound
        from lanekit.lanes import registry
        from lanekit.lanes.lifecycle import tail

        rec = registry.read(name)
        if rec is not None:
            path = rec.log_path
        else:
            candidates = sorted(log_dir().glob(f"{name}-*.log"), key=lambda p: p.stat().st_mtime)
            if not candidates:
                raise LaneNotFound(f"no log for a lane named {name!r}", fix="`lanekit ps` lists live lanes")
            path = str(candidates[-1])
        print(tail(path, lines))
        if follow:
            with open(path, errors="replace") as fh:
                fh.seek(0, 2)
                try:
                    while True:
                        line = fh.readline()
                        if line:
                            print(line, end="", flush=True)
                        else:
                            time.sleep(0.25)
                except KeyboardInterrupt:
                    return
