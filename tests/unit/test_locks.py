"""Owner locks: a second holder is refused naming the first; re-entrant in one process; gone with
the process that held it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from lanekit.errors import Busy
from lanekit.locks import endpoint_key, exclusive, lock_path


def test_a_second_holder_is_refused_with_who_holds_it():
    code = ("import time; from lanekit.locks import exclusive\n"
            "with exclusive('t-bakeoff', 'lanekit bakeoff demo', run_id='r1'):\n"
            "    print('held', flush=True); time.sleep(30)\n")
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        with pytest.raises(Busy) as err, exclusive("t-bakeoff", "me"):
            pass
        assert f"lanekit bakeoff demo (pid {other.pid}, run r1" in err.value.message
    finally:
        other.kill()
        other.wait()
    with exclusive("t-bakeoff", "me"):  # a SIGKILLed holder leaves no lock behind
        pass


def test_the_lock_is_reentrant_within_one_process():
    with exclusive("t-re", "outer"), exclusive("t-re", "inner"):
        assert lock_path("t-re").is_file()


def test_wait_blocks_until_the_holder_is_done():
    code = ("import time; from lanekit.locks import exclusive\n"
            "with exclusive('t-wait', 'short'):\n    print('held', flush=True); time.sleep(1)\n")
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert other.stdout.readline().strip() == "held"
    said = []
    t0 = time.monotonic()
    with exclusive("t-wait", "me", wait=True, on_wait=said.append):
        waited = time.monotonic() - t0
    other.wait()
    assert waited > 0.3 and said and "waiting for short" in said[0]


def test_endpoint_keys_ignore_scheme_suffix_and_trailing_slash():
    assert endpoint_key("http://127.0.0.1:8080/v1") == endpoint_key("http://127.0.0.1:8080/") == \
        "endpoint-127.0.0.1-8080"
