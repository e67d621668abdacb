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

_NOT_COMMANDS = {"main", "output", "tables"}


def _print_version(value: bool) -> None:
    if value:
        from lanekit import __version__

        print(f"lanekit {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """Create the typer app with every command module registered, in name order.

    Shell completion is typer's: `lanekit --install-completion` (bash, zsh, fish, PowerShell), or
    `lanekit --show-completion` to print the script.
    """
    app = typer.Typer(
        name="lanekit",
        help="Size, launch, benchmark and judge local LLM serving lanes for an agent harness.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )

    @app.callback()
    def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                           help="print lanekit's version and exit")) -> None:
        """Size, launch, benchmark and judge local LLM serving lanes for an agent harness."""

    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name in _NOT_COMMANDS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"lanekit.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user-fixable errors and usage errors print one line (plus the fix) and exit 2."""
    import signal

    def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: lanes are torn down on the way out
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    app = build_app()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, standalone_mode=False, prog_name="lanekit")
        if isinstance(result, int):  # typer returns the exit code (130 on Ctrl-C) instead of raising
            return result
    except LanekitError as exc:
        _print_error(exc.message, exc.fix, getattr(exc, "log_tail", ""))
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        return int(exc.code or 0)
    except (typer.Exit, typer.Abort) as exc:
        if isinstance(exc, typer.Abort):
            print("aborted", file=sys.stderr)
            return 130
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        return _usage_error(exc, args)
    return 0


def _usage_error(exc: typer.TyperException, args: list[str]) -> int:
    """One line for a usage error, naming the fix; bare `lanekit` prints the help instead.

    Only typer's own exception type is used here (typer vendors its parser), so this path never
    depends on a separately installed module.
    """
    if type(exc).__name__ == "NoArgsIsHelpError":
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            print(ctx.get_help())
        return 2
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or " ".join(["lanekit", *_command_words(args)])
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(str(message).split()).rstrip(".")  # one line: the parser's messages may wrap
    _print_error(f"{message} (see `{command} --help`)", None)
    code = getattr(exc, "exit_code", 2)
    return code if isinstance(code, int) and code > 0 else 2


def _command_words(args: list[str]) -> list[str]:
    """The subcommand named on the command line (the words before the first option)."""
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    return words[:1]


def _print_error(message: str, fix: str | None, log_tail: str = "") -> None:
    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    err.print("error: " + message, markup=False, style="bold red")
    if fix:
        err.print("  fix: " + fix, markup=False)
    if log_tail:
        err.print("--- last log lines ---", style="dim")
        err.print(log_tail, markup=False, style="dim")


if __name__ == "__main__":
    sys.exit(main())
