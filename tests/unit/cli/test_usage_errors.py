"""Usage errors on the installed typer: one line naming the fix, exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The CLI must not lean on a module typer stopped shipping: block `click` outright.
_RUN = ("import sys; sys.modules['click'] = None; from lanekit.cli.main import main; "
        "sys.exit(main(sys.argv[1:]))")


def _lanekit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, needle, fix", [
    (["bench", "--bogus"], "No such option: --bogus", "lanekit bench --help"),
    (["up", "--port", "abc"], "Invalid value for '--port'", "lanekit up --help"),
    (["nosuch"], "No such command 'nosuch'", "lanekit --help"),
    (["show"], "Missing argument", "lanekit show --help"),
    (["fit", "--parallel", "x"], "Invalid value for '--parallel'", "lanekit fit --help"),
])
def test_usage_error_is_one_line_naming_the_fix_with_exit_2(args, needle, fix):
    proc = _lanekit(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and needle in lines[0] and fix in lines[0]


def test_bare_lanekit_prints_the_help_and_exits_2():
    proc = _lanekit()
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Usage: lanekit" in proc.stdout and "bakeoff" in proc.stdout


def test_help_exits_0():
    proc = _lanekit("--help")
    assert proc.returncode == 0 and "Usage: lanekit" in proc.stdout


def test_installed_typer_is_the_one_constraints_txt_pins():
    """./install.sh installs constraints.txt's typer; the CLI's error types are typer's own."""
    from importlib.metadata import version
    from pathlib import Path

    import typer

    pins = dict(line.split("==") for line in (Path(__file__).parents[3] / "constraints.txt").read_text().split()
                if "==" in line)
    assert version("typer") == pins["typer"]
    assert issubclass(typer.BadParameter, typer.TyperException)
