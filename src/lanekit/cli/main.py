"""Entry point: builds the typer app from every `lanekit.cli.<command>` module and maps errors.

Each command module exposes `register(app)`. Modules import heavy libraries inside their
command functions so `lanekit --help` stays instant.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

import lanekit.cli as cli_pkg
from lanekit.errors import LanekitError

_NOT_COMMANDS = {"main", "output"}


def build_app() -> typer.Typer:
    """Create the typer app with every command module registered, in name order."""
    app = typer.Typer(
        name="lanekit",
        help="Size, launch, benchmark and judge local LLM serving lanes for an agent harness.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name in _NOT_COMMANDS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"lanekit.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user-fixable errors print one line (plus the fix) and exit 2."""
    import signal

    def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: lanes are torn down on the way out
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    app = build_app()
    try:
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int):  # typer returns the exit code (130 on Ctrl-C) instead of raising
            return result
    except LanekitError as exc:
        from rich.console import Console

        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[bold red]error:[/] {exc.message}")
        if exc.fix:
            err.print(f"  [bold]fix:[/] {exc.fix}")
        tail = getattr(exc, "log_tail", "")
        if tail:
            err.print("--- last log lines ---", style="dim")
            err.print(tail, markup=False, style="dim")
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # typer/click exits for --help and usage errors
        return int(exc.code or 0)
    except Exception as exc:  # click usage errors arrive as click exceptions in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            print("aborted", file=sys.stderr)
            return 130
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
