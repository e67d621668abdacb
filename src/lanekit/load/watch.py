"""Between timed requests: is the endpoint still there? A dead engine ends the measurement at
once with its exit status (never hundreds of error rows against a closed port), connection
errors back off instead of spinning, and a hung server ends it after two deadlines in a row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from lanekit.endpoint.records import RequestRecord
from lanekit.errors import EndpointError

# Connection failures in a row (with backoff 0.1 s doubling to 1.6 s, ~3 s in all) before giving up.
MAX_CONNECT_FAILURES = 5
# Requests in a row that hit their deadline before the server counts as hung.
MAX_TIMEOUTS = 2
BACKOFF_START_S, BACKOFF_MAX_S = 0.1, 2.0

Liveness = Callable[[], "str | None"]


class EndpointGone(EndpointError):
    """The server died, stopped accepting connections or hung during a measurement."""


class Watch:
    """Checked after every request of a scenario (`await watch.after(rec)`); raises EndpointGone.

    `alive` (from the lane, when lanekit runs the engine) returns None while the engine runs and
    a sentence — exit status, signal and the telling log line — once it has died.
    """

    def __init__(self, alive: Liveness | None = None, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 max_connect_failures: int = MAX_CONNECT_FAILURES, max_timeouts: int = MAX_TIMEOUTS) -> None:
        self.alive = alive
        self.sleep = sleep
        self.max_connect_failures, self.max_timeouts = max_connect_failures, max_timeouts
        self.connect_failures = self.timeouts = 0
        self.backoff_s = BACKOFF_START_S
        self.stopped: str | None = None

    def check(self) -> None:
        """Raise if the engine is known to be dead (cheap: a process poll)."""
        if self.stopped:
            raise EndpointGone(self.stopped)
        reason = self.alive() if self.alive is not None else None
        if reason:
            self.stopped = reason
            raise EndpointGone(reason, fix="read the lane's log (`lanekit logs NAME`); the measurement stopped here")

    def account(self, rec: RequestRecord) -> float:
        """Account one finished request; returns the seconds to back off (0: none). Raises EndpointGone
        on a dead engine, too many refused connections in a row, or a hung server."""
        if rec.error_kind in ("connect", "http", "timeout") or (rec.status_code is None and rec.error):
            self.check()  # a dead engine explains a failed request best
        if rec.error_kind == "connect":
            self.connect_failures += 1
            if self.connect_failures >= self.max_connect_failures:
                self.stopped = f"the server refused {self.connect_failures} connections in a row ({rec.error})"
                raise EndpointGone(self.stopped, fix="is the server still running? `lanekit ps`; then read its log")
            wait, self.backoff_s = self.backoff_s, min(self.backoff_s * 2, BACKOFF_MAX_S)
            return wait
        self.connect_failures, self.backoff_s = 0, BACKOFF_START_S
        if rec.error_kind == "timeout":
            self.timeouts += 1
            if self.timeouts >= self.max_timeouts:
                self.stopped = (f"the server is hung: {self.timeouts} requests in a row got no complete answer "
                                f"before their deadline ({rec.error})")
                raise EndpointGone(self.stopped, fix="raise --timeout for a slow lane, or restart the lane")
        else:
            self.timeouts = 0
        return 0.0

    async def after(self, rec: RequestRecord) -> None:
        """`account`, then the back-off (async callers: the load scenarios)."""
        wait = self.account(rec)
        if wait:
            await self.sleep(wait)

    def after_sync(self, rec: RequestRecord) -> None:
        """`account`, then the back-off (synchronous callers: the agent loop)."""
        wait = self.account(rec)
        if wait:
            time.sleep(wait)
