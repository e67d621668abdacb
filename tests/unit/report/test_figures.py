"""Figures as data: one colour per lane, error bars from the data, integer count axes, sections
that have no data absent — and the PNGs drawn from them."""

from __future__ import annotations

from sample_run import lane_result, without_intervals

from lanekit.report import values
from lanekit.report.figures import build_figures, lane_colours, telemetry_by_lane
from lanekit.report.render.interactive import to_plotly
from lanekit.report.render.plots import axes_of, write_plots
from lanekit.results.models import BakeoffReport, Failure, LaneResult
from lanekit.results.ranking import RankingCfg, rank


def _report(lanes: list[LaneResult]) -> BakeoffReport:
    return BakeoffReport(run_id="r1", lanes=lanes, ranking=rank(lanes, RankingCfg()))


def _by_id(figs):
    return {f.id: f for f in figs}


def test_a_lane_keeps_one_colour_in_every_figure_and_the_sweep_pairs_its_two_lines():
    report = _report([lane_result("qwen-fixed", 30.0), lane_result("smollm2", 180.0, eligible=False)])
    figs = _by_id(build_figures(report))
    colours = lane_colours(["qwen-fixed", "smollm2"])
    assert colours["qwen-fixed"] != colours["smollm2"]
    for fig in figs.values():
        for t in fig.traces:
            if t.lane:
                assert t.colour == colours[t.lane], (fig.id, t.name)
    sweep = [t for t in figs["sweep"].traces if t.lane == "qwen-fixed"]
    assert [t.dash for t in sweep] == ["solid", "dash"]  # aggregate and per request, told apart by the line


def test_count_axes_have_whole_number_ticks_in_the_png_and_the_interactive_plot():
    report = _report([lane_result("qwen-fixed", 30.0)])
    sweep = _by_id(build_figures(report))["sweep"]
    assert sweep.integer_x and sweep.x_ticks == [1, 2, 4]
    fig, ax = axes_of(sweep)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4"]
    fig.clf()
    axis = to_plotly(sweep)["layout"]["xaxis"]
    assert axis["tickvals"] == [1, 2, 4] and axis["ticktext"] == ["1", "2", "4"]


def test_speed_bars_carry_error_bars_from_the_samples_spread_and_none_without_samples():
    lane = without_intervals(lane_result("qwen-fixed", 30.0))
    speed = _by_id(build_figures(_report([lane])))["speed"]
    bar = speed.traces[0]
    assert bar.y == [30.0] and bar.err_minus == [30.0 - 29.1] and abs(bar.err_plus[0] - (30.9 - 30.0)) < 1e-9
    assert any("p10–p90" in n for n in speed.notes)
    plotly_bar = to_plotly(speed)["data"][0]
    assert plotly_bar["error_y"]["arrayminus"] == bar.err_minus
    one = without_intervals(lane_result("smollm2", 180.0))
    one.bench.single = {"decode_tok_s": 180.0, "samples": 1}
    speed = _by_id(build_figures(_report([one])))["speed"]
    assert speed.traces[0].err_minus is None and any("No error bars" in n for n in speed.notes)


def test_intervals_from_the_result_win_over_the_spread():
    got = values.interval({"point": 10.0, "low": 9.0, "high": 11.5, "n": 9, "method": "bootstrap-median"})
    assert got == values.Value(10.0, 9.0, 11.5, 9, "interval")
    assert values.interval({"point": None, "n": 0}) is None
    assert values.interval({"point": 3.0, "n": 2}).bounded is False


def test_sections_without_data_are_not_drawn():
    dead = LaneResult(name="dead", engine="llamacpp", model="m", ctx=4096, parallel=1, spec={},
                      failure=Failure(step="up", reason="exited"))
    assert build_figures(_report([dead])) == []
    lane = lane_result("qwen-fixed", 30.0)
    lane.bench.sweep = None
    lane.quality = None
    ids = [f.id for f in build_figures(_report([lane]))]
    assert "sweep" not in ids and "quality" not in ids and "speed" in ids


def test_depth_per_turn_and_quality_figures_appear_when_measured():
    lane = lane_result("qwen-fixed", 30.0)
    lane.bench.extra["depth"] = {"depths": [{"depth": 4096, "decode_tok_s": 28.0, "ttft_ms": 900.0},
                                            {"depth": 16384, "decode_tok_s": 24.0, "ttft_ms": 4100.0,
                                             "ttft_ms_warm": 120.0}]}
    lane.bench.extra["replay"] = {"turn_s": {"point": 2.5, "low": 2.2, "high": 2.9, "n": 12},
                                  "per_turn": [{"session": 0, "turn": k, "e2e_s": 1.0 + k, "ttft_ms": 200.0 + k,
                                                "isl": 900 + 100 * k, "cached": 800} for k in range(4)]}
    base = lane_result("qwen-q8", 29.5)
    figs = _by_id(build_figures(_report([lane, base])))
    depth = figs["depth"]
    assert depth.integer_x and depth.x_ticks == [4096, 16384]
    assert any(t.y2 and "warm" in t.name for t in depth.traces)
    assert figs["per_turn"].x_ticks == [1, 2, 3, 4] and figs["per_turn"].traces[0].y == [1.0, 2.0, 3.0, 4.0]
    turn = figs["turn"].traces[0]
    assert turn.y == [2.5] and turn.err_minus == [2.5 - 2.2]
    assert [t.lane for t in figs["quality"].traces] == ["qwen-fixed", "qwen-q8"]
    assert [t.lane for t in figs["quant_ab"].traces] == ["qwen-fixed"]  # the base has no KLD against itself


def test_telemetry_is_timed_from_its_first_reading_and_drawn_on_the_second_axis():
    samples = [{"lane": "qwen-fixed", "scenario": "sustained",
                "data": {"kind": "telemetry", "t_ns": 5_000_000_000 + i * 1_000_000_000,
                         "mem_available_bytes": 10_000_000_000 - i}} for i in range(3)]
    samples.append({"lane": "qwen-fixed", "scenario": "sustained", "data": {"kind": "request", "t_ns": 1}})
    tel = telemetry_by_lane(samples)
    assert [r["t_s"] for r in tel["qwen-fixed"]] == [0.0, 1.0, 2.0]
    sustained = _by_id(build_figures(_report([lane_result("qwen-fixed", 30.0)]), tel))["sustained"]
    mem = [t for t in sustained.traces if t.y2]
    assert mem and mem[0].x == [0.0, 1.0, 2.0] and abs(mem[0].y[0] - 10.0) < 1e-6


def test_every_figure_becomes_a_png(tmp_path):
    report = _report([lane_result("qwen-fixed", 30.0), lane_result("qwen-q8", 29.5),
                      lane_result("smollm2", 180.0, eligible=False)])
    figs = build_figures(report)
    names = write_plots(figs, tmp_path)
    assert names == [f"{f.id}.png" for f in figs]
    assert all((tmp_path / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)


def test_gpu_telemetry_gets_its_own_figure_when_nvml_reported_it():
    rows = [{"lane": "qwen-fixed", "scenario": "sustained",
             "data": {"kind": "telemetry", "t_ns": i * 10**9, "mem_available_bytes": 10**10,
                      "gpus": [{"temp_c": 60 + i, "power_w": 200.0, "sm_clock_mhz": 1800 - 10 * i}]}}
            for i in range(4)]
    figs = _by_id(build_figures(_report([lane_result("qwen-fixed", 30.0)]), telemetry_by_lane(rows)))
    gpu = {t.name: t for t in figs["gpu"].traces}
    assert gpu["qwen-fixed · GPU °C"].y == [60, 61, 62, 63] and gpu["qwen-fixed · SM MHz"].y2
    assert "gpu" not in _by_id(build_figures(_report([lane_result("qwen-fixed", 30.0)])))


def test_a_ceiling_far_above_every_lane_starts_hidden_so_the_bars_stay_readable():
    near, far = lane_result("qwen-fixed", 30.0), lane_result("qwen-q8", 29.5)
    ceiling = next(t for t in _by_id(build_figures(_report([near])))["speed"].traces if t.name == "bandwidth ceiling")
    assert not ceiling.hidden
    far.sizing.decode_ceiling_tok_s = 3000.0
    speed = _by_id(build_figures(_report([far])))["speed"]
    ceiling = next(t for t in speed.traces if t.name == "bandwidth ceiling")
    assert ceiling.hidden and any("click it in the legend" in n for n in speed.notes)
    assert to_plotly(speed)["data"][-1]["visible"] == "legendonly"
