"""Process identity survives a wall-clock step; teardown defers a second Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil

from lanekit.lanes.procs import ProcIdentity, start_ticks
from lanekit.lanes.teardown import signals_deferred


def test_identity_rests_on_boot_relative_ticks_not_the_wall_clock(monkeypatch):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ident = ProcIdentity.of(proc.pid)
        assert ident.start_ticks == start_ticks(proc.pid) and ident.matches()
        # an NTP step moves psutil's wall-clock create_time by an hour: the lane is still the lane
        real = psutil.Process.create_time
        monkeypatch.setattr(psutil.Process, "create_time", lambda self: real(self) + 3600.0)
        assert ident.matches()
        # a different process at the same pid (simulated: other start ticks) is not ours
        assert not ident.model_copy(update={"start_ticks": ident.start_ticks + 1}).matches()
        # nor is the same pid after a reboot
        assert not ident.model_copy(update={"boot_id": "another-boot"}).matches()
    finally:
        proc.kill()
        proc.wait()
    assert not ident.matches()  # gone (a zombie is gone too)


def test_start_ticks_parses_a_command_name_with_spaces_and_parentheses(tmp_path):
    script = tmp_path / "odd (name) x"
    script.write_text("import time; time.sleep(30)")
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        assert start_ticks(proc.pid) == ProcIdentity.of(proc.pid).start_ticks is not None
    finally:
        proc.kill()
        proc.wait()


def test_a_second_sigterm_during_teardown_does_not_abort_it():
    hit = []
    previous = signal.signal(signal.SIGTERM, lambda *a: hit.append(1))
    try:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
        assert hit == []
        os.kill(os.getpid(), signal.SIGTERM)
        assert hit == [1]  # handlers are back once teardown is done
    finally:
        signal.signal(signal.SIGTERM, previous)
