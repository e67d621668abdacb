"""The escape suite, through the tools a model calls: nothing outside the workspace is read,
written or listed, whatever argv it builds.

The first five are the escapes reproduced against the string-filtered tools (issue 14); each
still runs its payload — the shell really executes, the option really is accepted — and the
test proves the payload ran confined (a marker it writes inside the workspace exists) while
the host saw nothing.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time

import pytest

from lanekit.agents.jail import beneath


def _script(lines: list[str], size: int = 200_000) -> str:
    """`lines` repeated until the file is bigger than sort's 64k buffer, so that sort spills
    chunks through --compress-program. Each line is a whole command (sort reorders lines);
    the padded `#NNNNN` comment keeps them distinct and few."""
    pad = "x" * 300
    copies = size // (len(lines) * (len(pad) + 60)) + 1
    return "".join(f"{line} #{i:05d}{pad}\n" for i in range(copies) for line in lines)


def _payload(outside, ws) -> list[str]:
    return [f"cat {outside.secret} /etc/passwd > {ws}/leak.txt 2>/dev/null",
            f"echo pwned > {outside.root}/{'victim.txt'}", f"touch {outside.canary}",
            f"ls {outside.root} > {ws}/listing.txt 2>/dev/null", f"echo ran >> {ws}/payload-ran"]


def _leaked_into_workspace(box, outside) -> bool:
    return any(outside.leaked(box.call("read_file", {"path": p})) for p in ("leak.txt", "listing.txt"))


# -- 1. command execution through GNU options ---------------------------------------------------
@pytest.mark.parametrize("command", ["sort -S 64k --compress-program=sh s.txt",
                                     "sort -S 64k --compress-program sh -o sorted.txt s.txt",
                                     "find . -name s.txt -exec sh {} +"])
def test_options_that_execute_programs_run_them_inside_the_jail(box, outside, command):
    ws = box.ws.root
    box.call("write_file", {"path": "s.txt", "content": _script(_payload(outside, ws))})
    out = box.call("run_shell", {"command": command})
    assert box.call("read_file", {"path": "payload-ran"}).startswith("ran"), out  # the shell did run
    assert outside.untouched() and not _leaked_into_workspace(box, outside) and not outside.leaked(out)


# -- 2. reading file lists -------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["sort --files0-from=list0", "wc --files0-from=list0", "cat list0 | sort --files0-from=-",
                                     "cat list0 | wc -c --files0-from=-", "wc -l --files0-from=list0"])
def test_file_lists_name_nothing_the_jail_can_open(box, outside, command):
    box.call("write_file", {"path": "list0", "content": f"{outside.secret}\0/etc/passwd\0/etc/shadow\0"})
    out = box.call("run_shell", {"command": command})
    assert not outside.leaked(out) and "No such file" in out, out
    size = str(outside.secret.stat().st_size)
    assert not re.search(rf"^\s*\d*\s*\d*\s*{size}\s+{re.escape(str(outside.secret))}", out, re.MULTILINE)  # wc's sizes


# -- 3. listing outside ----------------------------------------------------------------------------
def test_find_with_a_file_list_lists_only_the_jail(box, outside):
    host_only = [n for n in os.listdir("/") if n not in {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32",
                                                        "proc", "sbin", "tmp", "usr"}]
    box.call("write_file", {"path": "dirs0", "content": f"{outside.root}\0/\0/tmp\0{os.path.dirname(outside.root)}\0"})
    out = box.call("run_shell", {"command": "find -files0-from dirs0 -maxdepth 1"})
    assert not outside.leaked(out), out
    assert not [n for n in host_only if re.search(rf"^/{re.escape(n)}$", out, re.MULTILINE)], out  # no host top-level entry
    assert str(box.ws.root) in out  # /tmp inside holds the workspace only


# -- 4. following symlinks out -----------------------------------------------------------------------
@pytest.mark.parametrize("flags", ["-R", "-iR", "-rR", "--der", "--dereference", "--dereference-recursive", "-r"])
def test_grep_dereferencing_finds_nothing_behind_links(box, outside, flags):
    os.symlink(outside.root, box.ws.root / "link_dir")
    os.symlink(outside.secret, box.ws.root / "link_file")
    out = box.call("run_shell", {"command": f"grep {flags} SECRET ."})
    assert not outside.leaked(out), out
    for cmd in ("cat link_file", "ls link_dir", "find -L . -type f", "cat link_dir/secret.txt"):
        assert not outside.leaked(box.call("run_shell", {"command": cmd})), cmd
    for tool, args in (("read_file", {"path": "link_file"}), ("list_dir", {"path": "link_dir"}),
                       ("search", {"query": "SECRET"}), ("read_file", {"path": "link_dir/secret.txt"})):
        assert not outside.leaked(box.call(tool, args)), tool


# -- 5. setting the clock -------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--se=@{now}", "--s=@{now}", "-s @{now}", "--set=@{now}", "-us @{now}"])
def test_date_cannot_set_the_host_clock(box, option):
    # the date set is "now", so even a jail that failed would leave the clock where it is
    wall0, mono0 = time.time(), time.monotonic()
    out = box.call("run_shell", {"command": "date " + option.format(now=int(wall0))})
    assert "not permitted" in out and out.startswith("exit code 1"), out
    assert abs((time.time() - wall0) - (time.monotonic() - mono0)) < 2


# -- relatives ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["sort -o {victim} notes/a.txt", "sort -T {root} -S 64k s.txt",
                                     "find . -fprint {victim}", "find . -fprint {canary}", "stat {secret}",
                                     "wc -c {secret}", "ls -la {root}", "tail -n 5 {secret}", "find {root} -printf %f",
                                     "cat /proc/self/root{secret}", "cat /proc/1/root{secret}", "ls /proc/1/root{root}",
                                     "cat /proc/{host_pid}/environ", "ls /proc/{host_pid}/root{root}"])
def test_other_options_that_read_or_write_paths_reach_nothing_outside(box, outside, command):
    box.call("write_file", {"path": "s.txt", "content": _script(["x"])})
    out = box.call("run_shell", {"command": command.format(
        victim=outside.root / "victim.txt", root=outside.root, canary=outside.canary, secret=outside.secret,
        host_pid=os.getpid())})
    assert not outside.leaked(out) and outside.untouched(), out
    with open(f"/proc/{os.getpid()}/environ", "rb") as fh:  # this process's environment, as the host sees it
        host_env = [e.decode(errors="replace") for e in fh.read().split(b"\0") if e and not e.startswith(b"PATH=")]
    assert not [e for e in host_env if e in out], out
    # metadata (sizes, inodes, names) counts too: a path from outside may only appear in "No such file"
    assert str(outside.root) not in out or "No such file" in out, out


def test_the_file_tools_refuse_proc_and_absolute_paths_out(box, outside):
    for path in ("/proc/self/root/etc/passwd", f"/proc/self/root{outside.secret}", str(outside.secret),
                 f"{box.ws.root}/../outside/secret.txt", "/proc/self/cwd/notes/a.txt"):
        assert box.call("read_file", {"path": path}).startswith("error:"), path
        assert box.call("write_file", {"path": path, "content": "pwned"}).startswith("error:"), path
    assert outside.untouched()


def test_hard_links_into_the_workspace_are_neither_read_nor_written(box, outside):
    os.link(outside.secret, box.ws.root / "hard.txt")  # as if some earlier process had left one
    assert "hard links" in box.call("read_file", {"path": "hard.txt"})
    assert "hard links" in box.call("write_file", {"path": "hard.txt", "content": "pwned"})
    assert box.call("search", {"query": "SECRET"}).startswith("no matches")
    assert outside.secret.read_text().startswith("TOP SECRET")
    # and inside the jail, a hard link to something outside cannot be made: nothing outside is visible
    payload = [f"ln {outside.secret} {box.ws.root}/made-link", f"echo ran >> {box.ws.root}/payload-ran"]
    box.call("write_file", {"path": "s.txt", "content": _script(payload)})
    box.call("run_shell", {"command": "sort -S 64k --compress-program=sh s.txt"})
    assert box.call("read_file", {"path": "payload-ran"}).startswith("ran")
    assert not (box.ws.root / "made-link").exists()


def test_links_the_jail_makes_are_not_followed_by_the_host(box, outside):
    payload = [f"ln -s {outside.secret} {box.ws.root}/evil", f"ln -s {outside.root} {box.ws.root}/evil_dir",
               f"echo ran >> {box.ws.root}/payload-ran"]
    box.call("write_file", {"path": "s.txt", "content": _script(payload)})
    box.call("run_shell", {"command": "sort -S 64k --compress-program=sh s.txt"})
    assert (box.ws.root / "evil").is_symlink()  # made inside, where it points at nothing
    for tool, args in (("read_file", {"path": "evil"}), ("write_file", {"path": "evil", "content": "pwned"}),
                       ("list_dir", {"path": "evil_dir"}), ("write_file", {"path": "evil_dir/x", "content": "pwned"}),
                       ("search", {"query": "SECRET"})):
        out = box.call(tool, args)
        assert not outside.leaked(out) and outside.untouched(), (tool, out)
    assert box.ws.snapshot(["evil"]) == {"evil": None}


@pytest.mark.parametrize("resolver", ["openat2", "walk"])
def test_a_file_swapped_for_a_link_mid_call_never_leaks(box, outside, resolver, monkeypatch):
    """The check-then-open race (99 leaks in 72k calls before): here 0 in every call."""
    monkeypatch.setitem(beneath._state, "openat2", resolver == "openat2")
    target = box.ws.root / "swap.txt"
    stop = threading.Event()

    def swapper():
        tmp = box.ws.root / "swap.tmp"
        while not stop.is_set():
            tmp.write_text("harmless\n")
            os.replace(tmp, target)
            tmp.unlink(missing_ok=True)
            os.symlink(outside.secret, tmp)
            os.replace(tmp, target)
    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    try:
        seen = {"ok": 0, "refused": 0}
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            for tool, args in (("read_file", {"path": "swap.txt"}), ("search", {"query": "SECRET"}),
                               ("write_file", {"path": "swap.txt", "content": "mine\n"})):
                out = box.call(tool, args)
                assert not outside.leaked(out), out
                seen["refused" if "symbolic link" in out else "ok"] += 1
    finally:
        stop.set()
        thread.join()
    assert outside.untouched() and outside.secret.read_text().startswith("TOP SECRET")
    assert seen["ok"] > 50 and seen["refused"] > 50, seen  # the race really was run both ways


def test_a_fork_bomb_is_capped_and_gone_when_the_call_returns(box):
    ws = box.ws.root
    bomb = [f": first; echo ran >> {ws}/payload-ran", "b() { b | b & }; b"]  # sort puts the marker first
    box.call("write_file", {"path": "s.txt", "content": _script(bomb)})
    box.shell_timeout_s = 3
    t0 = time.monotonic()
    box.call("run_shell", {"command": "sort -S 64k --compress-program=sh s.txt"})
    assert time.monotonic() - t0 < 3 + 5
    assert box.call("read_file", {"path": "payload-ran"}).startswith("ran")
    survivors = [pid for pid in os.listdir("/proc") if pid.isdigit() and _cwd(pid) == str(ws)]
    assert survivors == []


def _cwd(pid: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


@pytest.mark.parametrize("command", ["seq 1 100000000", "cat /dev/zero", "cat /dev/urandom | tr -dc a-z"])
def test_huge_outputs_stop_the_command_at_the_cap(box, command):
    t0 = time.monotonic()
    out = box.call("run_shell", {"command": command})
    assert time.monotonic() - t0 < 4, "the command kept running after its output was cut"
    assert "[truncated" in out and len(out) < 9000


def test_a_pipeline_streams_and_one_limit_covers_all_its_stages(box):
    assert box.call("run_shell", {"command": "seq 1 20000000 | wc -l"}).strip() == "20000000"
    box.shell_timeout_s = 1.0
    t0 = time.monotonic()
    out = box.call("run_shell", {"command": "tail -f notes/a.txt | cat | cat"})
    assert "timed out after 1 s" in out and time.monotonic() - t0 < 2.5


def test_tool_calls_stay_inside_the_task_deadline(box):
    box.deadline_ns = time.monotonic_ns() + 700_000_000
    t0 = time.monotonic()
    assert "timed out after 0.7" in box.call("run_shell", {"command": "tail -f notes/a.txt"})
    assert time.monotonic() - t0 < 1.5
    assert box.call("read_file", {"path": "notes/a.txt"}).startswith("error: the task's time limit is over")


def test_fifos_and_device_nodes_are_refused_without_being_opened(box, outside):
    os.mkfifo(box.ws.root / "fifo")
    t0 = time.monotonic()
    for tool, args in (("read_file", {"path": "fifo"}), ("write_file", {"path": "fifo", "content": "x"}),
                       ("search", {"query": "x"})):
        assert box.call(tool, args).startswith(("error:", "no matches")), tool
    assert time.monotonic() - t0 < 2  # nothing blocked on the FIFO
    if os.geteuid() == 0:
        os.mknod(box.ws.root / "zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))
        assert "not a regular file" in box.call("read_file", {"path": "zero"})
        # the workspace is mounted nodev in the jail: the node cannot be opened there either
        assert "Permission denied" in box.call("run_shell", {"command": "head -c 4 zero"})
    mode = os.stat("/dev/null").st_mode
    out = box.call("run_shell", {"command": "find /dev -maxdepth 1 -name null -newer notes/a.txt"})
    assert os.stat("/dev/null").st_mode == mode and not outside.leaked(out)
