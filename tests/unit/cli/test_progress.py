"""Long steps are never silent: piped, a line every few seconds after the first two; on a terminal,
a spinner; a step that ends within two seconds prints nothing."""

from __future__ import annotations

import io
import time

from lanekit.cli._progress import Ticker


def test_piped_ticker_prints_lines_with_the_current_part():
    out = io.StringIO()
    with Ticker("doctor", every_s=0.5, stream=out, tty=False) as tick:
        tick.update("tool_calls (3/12)")
        time.sleep(3.2)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("doctor: tool_calls (3/12), 0m0") for line in lines)


def test_short_step_stays_quiet():
    out = io.StringIO()
    with Ticker("x", stream=out, tty=False):
        time.sleep(0.3)
    assert out.getvalue() == ""
