"""Prometheus scraping: engine names, parsing, counter resets, and in-flight vs wall over idle gaps."""

from __future__ import annotations

import pytest

from lanekit.load.scrape import (
    ENGINE_NAMES,
    Scrape,
    Scraper,
    counter_increase,
    detect_engine,
    engine_from_prefix,
    parse_exposition,
    totals,
)

S = 1_000_000_000
LLAMA = ENGINE_NAMES["llamacpp"]
VLLM = ENGINE_NAMES["vllm"]

VLLM_TEXT = """# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{model_name="a"} 100.0
vllm:generation_tokens_total{model_name="b"} 20.0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="a"} 2.0
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="a"} 3.0
vllm:e2e_request_latency_seconds_count{model_name="a"} 3.0
vllm:e2e_request_latency_seconds_sum{model_name="a"} 1.5
"""


def test_parse_sums_label_sets_and_skips_histogram_buckets():
    values = parse_exposition(VLLM_TEXT)
    assert values["vllm:generation_tokens_total"] == 120.0
    assert values["vllm:num_requests_running"] == 2.0
    assert "vllm:e2e_request_latency_seconds_bucket" not in values
    assert values["vllm:e2e_request_latency_seconds_count"] == 3.0


def test_parse_with_wanted_names_keeps_only_those():
    values = parse_exposition(VLLM_TEXT, {"vllm:generation_tokens_total"})
    assert values == {"vllm:generation_tokens_total": 120.0}


def test_engine_names_come_from_the_prefix_or_the_exposition():
    assert engine_from_prefix("llamacpp:") == "llamacpp" and engine_from_prefix("vllm:") == "vllm"
    assert engine_from_prefix(None) is None and engine_from_prefix("nope:") is None
    assert detect_engine({"sglang:generation_tokens_total": 1.0}) == "sglang"
    assert detect_engine({"foo": 1.0}) is None


def test_counter_reset_counts_the_new_value_like_prometheus_increase():
    assert counter_increase(100, 130) == 30
    assert counter_increase(100, 7) == 7


def scrapes(points: list[tuple[float, float, float]], names=LLAMA) -> list[Scrape]:
    """(t_s, generated counter, running gauge) → scrapes."""
    return [Scrape(int(t * S), {names.generated[0]: g, names.running[0]: r}) for t, g, r in points]


def test_seed_001_idle_gaps_lower_wall_rate_while_in_flight_rate_holds():
    # llama.cpp style: the counter jumps when a request finishes. 100 tok/s requests of 2 s,
    # running 0–2 s and 4–6 s, idle 2–4 s; scraped every 0.5 s.
    pts = []
    for i in range(13):
        t = i * 0.5
        gen = (200 if t >= 2 else 0) + (200 if t >= 6 else 0)
        running = 1 if (t < 2 or 4 <= t < 6) else 0
        pts.append((t, gen, running))
    tot = totals(scrapes(pts), LLAMA)
    assert tot.generated_tokens == 400 and tot.wall_ns == 6 * S
    from lanekit.load.metrics import server_metrics

    m = server_metrics(tot)
    assert m["server_wall_tok_s"] == pytest.approx(400 / 6)
    assert m["server_in_flight_tok_s"] == pytest.approx(100.0, rel=0.15)
    assert tot.max_running == 1 and tot.busy_source == "running"


def test_flat_out_run_has_equal_wall_and_in_flight_rates():
    pts = [(i * 0.5, i * 50.0, 1) for i in range(9)]
    tot = totals(scrapes(pts), LLAMA)
    assert tot.busy_ns == tot.wall_ns == 4 * S


def test_tokens_between_two_idle_scrapes_count_half_a_window_busy():
    pts = [(0.0, 0, 0), (1.0, 50, 0)]
    assert totals(scrapes(pts), LLAMA).busy_ns == S // 2


def test_counter_reset_inside_the_window_is_handled():
    pts = [(0, 100, 1), (1, 150, 1), (2, 30, 1), (3, 80, 1)]  # restart between 1 s and 2 s
    assert totals(scrapes(pts), LLAMA).generated_tokens == 50 + 30 + 50


def test_without_a_running_gauge_busy_time_comes_from_counter_movement():
    sc = [Scrape(int(t * S), {LLAMA.generated[0]: g}) for t, g in [(0, 0), (1, 10), (2, 10), (3, 20)]]
    tot = totals(sc, LLAMA)
    assert tot.busy_source == "counter" and tot.busy_ns == 2 * S


def test_vllm_prefix_hit_rate_and_spec_acceptance_use_deltas_and_old_names():
    a = {"vllm:generation_tokens_total": 0, "vllm:num_requests_running": 1,
         "vllm:gpu_prefix_cache_queries_total": 1000, "vllm:gpu_prefix_cache_hits_total": 100,
         "vllm:spec_decode_num_draft_tokens_total": 10, "vllm:spec_decode_num_accepted_tokens_total": 5}
    b = {"vllm:generation_tokens_total": 50, "vllm:num_requests_running": 1,
         "vllm:gpu_prefix_cache_queries_total": 3000, "vllm:gpu_prefix_cache_hits_total": 1600,
         "vllm:spec_decode_num_draft_tokens_total": 110, "vllm:spec_decode_num_accepted_tokens_total": 85}
    tot = totals([Scrape(0, a), Scrape(S, b)], VLLM)
    assert tot.prefix_hits / tot.prefix_queries == pytest.approx(0.75)
    assert tot.spec_accepted / tot.spec_draft_tokens == pytest.approx(0.8)


def test_llamacpp_cache_counter_is_added_to_prompt_tokens_for_queries():
    a = {"llamacpp:tokens_predicted_total": 0, "llamacpp:prompt_tokens_total": 0,
         "llamacpp:prompt_tokens_cache_total": 0, "llamacpp:requests_processing": 0}
    b = {"llamacpp:tokens_predicted_total": 10, "llamacpp:prompt_tokens_total": 100,
         "llamacpp:prompt_tokens_cache_total": 300, "llamacpp:requests_processing": 0}
    tot = totals([Scrape(0, a), Scrape(S, b)], LLAMA)
    assert tot.prefix_queries == 400 and tot.prefix_hits == 300


class FakeEndpoint:
    """Canned llama.cpp exposition whose counter grows 10 tokens per scrape; fails when told."""

    def __init__(self) -> None:
        self.n = 0
        self.fail = False

    def __call__(self) -> str:
        if self.fail:
            raise ConnectionError("down")
        self.n += 1
        return (f"# TYPE llamacpp:tokens_predicted_total counter\nllamacpp:tokens_predicted_total {10 * self.n}\n"
                f"llamacpp:requests_processing 1\nllamacpp:tokens_predicted_seconds_total {0.1 * self.n}\n")


def test_scraper_with_fake_endpoint_and_clock_summarises_a_window():
    clock_state = {"t": 0}

    def clock() -> int:
        clock_state["t"] += S // 4  # each reading moves a quarter second
        return clock_state["t"]

    endpoint = FakeEndpoint()
    scraper = Scraper("http://unused/metrics", fetch=endpoint, clock=clock)  # engine detected from the names
    for _ in range(5):
        scraper.scrape_once()
    assert scraper.engine == "llamacpp" and len(scraper.scrapes) == 5
    endpoint.fail = True
    assert scraper.scrape_once() is None and scraper.errors == 1 and "down" in scraper.last_error
    summary = scraper.summary()
    assert summary["generated_tokens"] == 40 and summary["scrape_errors"] == 1
    assert summary["server_in_flight_tok_s"] == pytest.approx(40 / 2.0)
    assert summary["server_slot_decode_tok_s"] == pytest.approx(100.0)


def test_scraper_thread_starts_and_stops_with_edge_scrapes():
    scraper = Scraper("http://unused/metrics", metrics_prefix="llamacpp:", fetch=FakeEndpoint(), interval_s=0.01)
    with scraper:
        import time

        time.sleep(0.1)
    assert len(scraper.scrapes) >= 3
    assert scraper.scrapes[-1].values["llamacpp:tokens_predicted_total"] == 10 * len(scraper.scrapes)


def test_scraper_without_url_is_a_no_op():
    scraper = Scraper(None).start()
    assert scraper.stop() == [] and scraper.summary() is None
