"""The tools' contract: what they return for good calls, and the refusals a model sees.

The escape suite (what a hostile model cannot reach, whatever it sends) is test_agents_jail_escapes.py."""

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
    (outside / "only-a-listing-shows-this.txt").write_text("")
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
    # links are shown (ls -F style), never followed
    assert tb.call("list_dir", {"path": "."}).splitlines() == ["data/", "link_dir@", "link_file@", "notes/"]


@pytest.mark.parametrize("path", ["../outside/secret.txt", "notes/../../outside/secret.txt", "/etc/passwd",
                                  "~/.bashrc", "link_file", "link_dir/secret.txt", "link_dir"])
def test_reads_outside_the_jail_are_refused(box, path):
    tb, _ = box
    out = tb.call("read_file", {"path": path})
    assert out.startswith("error:") and ("outside the workspace" in out or "symbolic link" in out), out
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
    assert tb.call("list_dir", {"path": "link_dir"}).startswith("error: link_dir is a symbolic link")
    out = tb.call("search", {"query": "SECRET"})
    assert "TOP SECRET" not in out and out.startswith("no matches")
    assert tb.call("search", {"query": "beta"}) == "notes/a.txt:2:beta"


@pytest.mark.parametrize("command", [
    "curl http://example.com", "python -c 'print(1)'", "rm -rf notes", "cat notes/a.txt > out.txt",
    "cat notes/a.txt; cat /etc/passwd", "echo $(cat /etc/passwd)", "cat `ls`", "/bin/cat notes/a.txt",
    "wc -l notes/a.txt | bash", "cat notes/a.txt &", "",
])
def test_shell_refuses_syntax_and_commands_outside_its_surface(box, command):
    # the tool's advertised surface; confinement does not rest on it (see the escape suite)
    tb, _ = box
    out = tb.call("run_shell", {"command": command})
    assert out.startswith("error:"), out


@pytest.mark.parametrize("command", [
    "cat /etc/passwd", "cat ../outside/secret.txt", "cat link_file", "cat link_dir/secret.txt", "ls /",
    "find -L . -name secret.txt", "grep -R SECRET .", "sort -o/tmp/x notes/a.txt", "ls ~", "ls ..",
    "find / -maxdepth 2 -name secret.txt",
])
def test_shell_commands_that_aim_outside_find_nothing_there(box, command):
    tb, _ = box
    out = tb.call("run_shell", {"command": command})
    assert "TOP SECRET" not in out and "root:x:0:0" not in out and "only-a-listing-shows-this" not in out, out


def test_shell_runs_allowlisted_commands_and_pipes_in_the_workspace(box):
    tb, _ = box
    assert tb.call("run_shell", {"command": "wc -l notes/a.txt"}).strip() == "3 notes/a.txt"
    assert tb.call("run_shell", {"command": "cat data/n.txt | wc -l"}).strip() == "3"
    assert tb.call("run_shell", {"command": "date -u -d @1700000000 +%F"}).strip() == "2023-11-14"
    assert tb.call("run_shell", {"command": "grep -rl gamma notes"}).strip() == "notes/a.txt"
    assert tb.call("run_shell", {"command": "pwd"}).strip() == str(tb.ws.root)
    assert tb.call("run_shell", {"command": "sort -r notes/a.txt | head -n 1 | tr a-z A-Z"}).strip() == "GAMMA"
    # the workspace is writable from the shell, and what it writes the file tools read
    assert tb.call("run_shell", {"command": "sort -o sorted.txt data/n.txt"}) == "(no output)"
    assert tb.call("read_file", {"path": "sorted.txt"}) == "1\n2\n3\n"


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
    assert ws.resolve(str(tmp_path / "x" / ".." / "y")) == tmp_path / "y"
    with pytest.raises(ToolError, match="outside"):
        ws.resolve("x/../../y")


def test_search_and_read_are_capped_and_say_so(box):
    tb, _ = box
    big = "needle\n" + "x" * (2 * 1024 * 1024) + "\nneedle-after-the-cap\n"
    tb.call("write_file", {"path": "big.txt", "content": big})
    out = tb.call("search", {"query": "needle", "path": "big.txt"})
    assert out == "big.txt:1:needle"  # only the first MiB of a file is searched
    assert tb.read_file("big.txt").endswith("... [file truncated]")  # before the 8000-character clip
    assert tb.call("write_file", {"path": "huge.txt", "content": "x" * (5 * 1024 * 1024)}).startswith("error:")


def test_a_directory_is_not_a_file_and_a_file_is_not_a_directory(box):
    tb, _ = box
    assert tb.call("read_file", {"path": "notes"}) == "error: notes is not a regular file"
    assert tb.call("write_file", {"path": "notes", "content": "x"}) == "error: notes is a directory"
    assert tb.call("list_dir", {"path": "notes/a.txt"}) == "error: no such directory: notes/a.txt"
    assert tb.call("search", {"query": "x", "path": "nope"}) == "error: no such file or directory: nope"
