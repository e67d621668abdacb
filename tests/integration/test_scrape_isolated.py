"""The scraper of a real lane runs in its own process: marks come back on the parent's clock,
the engine is detected from the names, and nothing is left running after stop."""

from __future__ import annotations

import time

import psutil

from lanekit.lanes import LaneSpec, serve_lane
from lanekit.load.scrape import Scraper


def test_isolated_scraper_of_a_real_lane(llama_server, smollm2_path):
    spec = LaneSpec(name="it-scrape", engine="llamacpp", model="smollm2-135m", ctx=512, threads=1)
    with serve_lane(spec) as lane:
        scraper = Scraper(lane.metrics_url, interval_s=0.1)
        assert scraper.isolate
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        scraper.start()
        child = scraper._child
        assert child is not None and child.pid not in before and child.is_alive()
        t0 = time.perf_counter_ns()
        mark = scraper.mark()
        assert t0 <= mark <= time.perf_counter_ns()  # one monotonic clock across the two processes
        time.sleep(0.5)
        scrapes = scraper.stop()
        assert not child.is_alive()
    assert len(scrapes) >= 4 and scraper.engine == "llamacpp" and scraper.errors == 0
    assert all("llamacpp:tokens_predicted_total" in s.values for s in scrapes)
    summary = scraper.summary()
    assert summary["scrapes"] == len(scrapes) and summary["engine"] == "llamacpp"
