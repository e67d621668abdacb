"""Between requests: a dead engine stops the scenario at once, refused connections back off,
a hung server stops it after two deadlines; a healthy request resets the counters."""

from __future__ import annotations

import asyncio

import pytest

from lanekit.endpoint.records import RequestRecord
from lanekit.load.watch import BACKOFF_START_S, EndpointGone, Watch


def _rec(kind=None, error=None, status=None) -> RequestRecord:
    return RequestRecord(started_at=0, start_ns=0, error=error or (kind and f"{kind} error"), error_kind=kind,
                         status_code=status)


def test_a_dead_engine_stops_at_the_next_failed_request_with_its_reason():
    watch = Watch(alive=lambda: "llama-server died with SIGKILL (killed)")
    with pytest.raises(EndpointGone, match="SIGKILL"):
        watch.account(_rec("http"))
    with pytest.raises(EndpointGone):
        watch.check()


def test_refused_connections_back_off_doubling_then_stop():
    watch = Watch()
    waits = [watch.account(_rec("connect")) for _ in range(4)]
    assert waits == [BACKOFF_START_S, 0.2, 0.4, 0.8]
    with pytest.raises(EndpointGone, match="refused 5 connections in a row"):
        watch.account(_rec("connect"))


def test_a_good_request_resets_the_backoff_and_the_timeout_count():
    watch = Watch()
    watch.account(_rec("connect"))
    watch.account(_rec("timeout"))
    assert watch.account(_rec(status=200)) == 0.0
    assert watch.connect_failures == 0 and watch.timeouts == 0
    watch.account(_rec("timeout"))
    with pytest.raises(EndpointGone, match="hung: 2 requests in a row"):
        watch.account(_rec("timeout"))


def test_async_after_sleeps_through_the_injected_sleep():
    slept = []

    async def fake_sleep(s):
        slept.append(s)

    watch = Watch(sleep=fake_sleep)
    asyncio.run(watch.after(_rec("connect")))
    assert slept == [BACKOFF_START_S]
