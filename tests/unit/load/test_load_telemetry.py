"""Telemetry: /proc/meminfo parsing, sampler lifecycle, and the run summary."""

from __future__ import annotations

from lanekit.load.telemetry import TelemetrySampler, read_meminfo, summarize


def test_meminfo_lines_are_read_in_bytes(tmp_path):
    path = tmp_path / "meminfo"
    path.write_text("MemTotal:       16384 kB\nMemFree: 1 kB\nMemAvailable:    8192 kB\nSwapTotal: 0 kB\n")
    assert read_meminfo(path) == {"mem_total_bytes": 16384 * 1024, "mem_available_bytes": 8192 * 1024,
                                  "swap_total_bytes": 0}
    assert read_meminfo(tmp_path / "missing") == {}


def test_sampler_without_nvml_records_memory_at_both_edges():
    with TelemetrySampler(interval_s=0.01, use_nvml=False) as sampler:
        pass
    assert len(sampler.samples) >= 2 and all(s["gpus"] is None for s in sampler.samples)
    assert sampler.samples[0]["mem_available_bytes"] > 0


def test_summary_reports_gpu_temperature_clock_drop_and_power():
    def sample(avail, temp, clock, power):
        return {"mem_available_bytes": avail, "gpus": [{"temp_c": temp, "sm_clock_mhz": clock, "power_w": power,
                                                         "mem_used_bytes": 5, "util_pct": 99}]}

    out = summarize([sample(100, 60, 2000, 50.0), sample(80, 75, 1800, 70.0), sample(90, 80, 1500, 60.0)])
    assert out["mem_available_min_bytes"] == 80 and out["samples"] == 3
    gpu = out["gpu"]
    assert gpu["temp_max_c"] == 80 and gpu["sm_clock_min_mhz"] == 1500 and gpu["sm_clock_drop_pct"] == 25.0
    assert gpu["power_mean_w"] == 60.0 and gpu["mem_used_max_bytes"] == 5


def test_summary_without_gpu_has_no_gpu_block():
    assert summarize([{"mem_available_bytes": 1, "gpus": None}])["gpu"] is None
