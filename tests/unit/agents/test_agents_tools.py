"""The tools stay in their jail: traversal, absolute paths, symlink escapes and shell tricks are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lanekit.agents.tools import TOOL_SCHEMAS, TOOL_SPECS, ToolBox, ToolError, Workspace


@pytest.fixture
def box(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n")
    ws = Workspace.create({"notes/a.txt": "alpha\nbeta\ngamma\n", "data/n.txt": "1\n2\n3\n"})
    os.symlink(outside / "secret.txt", ws.root / "link_file")
    os.symlink(outside, ws.root / "link_dir")
    yield ToolBox(ws, shell_timeout_s=5), outside
    ws.cleanup()


def test_every_tool_has_a_closed_object_schema():
    assert set(TOOL_SCHEMAS) == {"read_file", "write_file", "list_dir", "search", "run_shell", "calculator"}
    for spec in TOOL_SPECS:
        params = spec["function"]["parameters"]
        assert params["type"] == "object" and params["additionalProperties"] is False


def test_fixtures_are_written_and_read_back(box):
    tb, _ = box
    assert tb.call("read_file", {"path": "notes/a.txt"}) == "alpha\nbeta\ngamma\n"
    assert tb.call("list_dir", {"path": "."}).splitlines() == ["data/", "link_dir/", "link_file", "notes/"]


@pytest.mark.parametrize("path", ["../outside/secret.txt", "notes/../../outside/secret.txt", "/etc/passwd",
                                  "~/.bashrc", "link_file", "link_dir/secret.txt", "link_dir"])
def test_reads_outside_the_jail_are_refused(box, path):
    tb, _ = box
    out = tb.call("read_file", {"path": path})
    assert out.startswith("error:") and "outside the workspace" in out
    assert "TOP SECRET" not in out


def test_absolute_path_inside_the_jail_is_allowed(box):
    tb, _ = box
    assert tb.call("read_file", {"path": str(tb.ws.root / "notes" / "a.txt")}).startswith("alpha")


@pytest.mark.parametrize("path", ["../escape.txt", "/tmp/lanekit-escape.txt", "link_dir/new.txt", "link_file"])
def test_writes_outside_the_jail_are_refused_and_nothing_is_written(box, path):
    tb, outside = box
    out = tb.call("write_file", {"path": path, "content": "pwned"})
    assert out.startswith("error:")
    assert (outside / "secret.txt").read_text() == "TOP SECRET\n"
    assert not (outside / "new.txt").exists()
    assert not Path("/tmp/lanekit-escape.txt").exists()


def test_write_creates_parents_inside_the_jail(box):
    tb, _ = box
    assert tb.call("write_file", {"path": "out/deep/x.txt", "content": "hi"}).startswith("wrote 2 bytes")
    assert (tb.ws.root / "out/deep/x.txt").read_text() == "hi"


def test_list_dir_and_search_do_not_follow_symlinks_out(box):
    tb, _ = box
    assert tb.call("list_dir", {"path": "link_dir"}).startswith("error:")
    out = tb.call("search", {"query": "SECRET"})
    assert "TOP SECRET" not in out and out.startswith("no matches")
    assert tb.call("search", {"query": "beta"}) == "notes/a.txt:2:beta"


@pytest.mark.parametrize("command", [
    "cat /etc/passwd", "cat ../outside/secret.txt", "cat link_file", "cat link_dir/secret.txt", "ls /",
    "curl http://example.com", "python -c 'print(1)'", "rm -rf notes", "cat notes/a.txt > out.txt",
    "cat notes/a.txt; cat /etc/passwd", "echo $(cat /etc/passwd)", "cat `ls`", "find . -exec cat {} +",
    "find -L . -name secret.txt", "grep -R SECRET .", "sort -o/tmp/x notes/a.txt", "/bin/cat notes/a.txt",
    "sort --output=../x notes/a.txt", "date -s 2000-01-01", "date --set=2000-01-01", "ls ~",
    "wc -l notes/a.txt | bash",
])
def test_shell_refuses_escapes_network_and_non_allowlisted_commands(box, command):
    tb, _ = box
    out = tb.call("run_shell", {"command": command})
    assert out.startswith("error:"), out
    assert "TOP SECRET" not in out and "root:" not in out


def test_shell_runs_allowlisted_commands_and_pipes_in_the_workspace(box):
    tb, _ = box
    assert tb.call("run_shell", {"command": "wc -l notes/a.txt"}).strip() == "3 notes/a.txt"
    assert tb.call("run_shell", {"command": "cat data/n.txt | wc -l"}).strip() == "3"
    assert tb.call("run_shell", {"command": "date -u -d @1700000000 +%F"}).strip() == "2023-11-14"
    assert tb.call("run_shell", {"command": "grep -rl gamma notes"}).strip() == "notes/a.txt"
    assert tb.call("run_shell", {"command": "pwd"}).strip() == str(tb.ws.root)


def test_shell_reports_nonzero_exit_and_time_limit(box):
    tb, _ = box
    assert tb.call("run_shell", {"command": "grep nothing-here notes/a.txt"}).startswith("exit code 1")
    tb.shell_timeout_s = 0.5
    assert "timed out" in tb.call("run_shell", {"command": "tail -f notes/a.txt"})


def test_calculator_is_arithmetic_only(box):
    tb, _ = box
    assert tb.call("calculator", {"expression": "17 + 25 + 38 + 9 + 14"}) == "103"
    assert tb.call("calculator", {"expression": "(2 ** 10) / 4"}) == "256"
    assert tb.call("calculator", {"expression": "7 / 2"}) == "3.5"
    for bad in ("__import__('os').system('id')", "2 ** 99999", "1/0", "x + 1", "True + 1"):
        assert tb.call("calculator", {"expression": bad}).startswith("error:"), bad


def test_bad_arguments_and_unknown_tools_come_back_as_errors_not_exceptions(box):
    tb, _ = box
    assert tb.call("read_file", {"file": "x"}).startswith("error: bad arguments")
    assert tb.call("nope", {}).startswith("error: unknown tool")
    assert tb.call("read_file", {"path": "missing.txt"}) == "error: no such file: missing.txt"
    assert tb.call("read_file", {"path": ""}).startswith("error:")


def test_workspace_resolve_raises_tool_error_for_nul_bytes(tmp_path):
    ws = Workspace(tmp_path)
    with pytest.raises(ToolError):
        ws.resolve("a\x00b")
