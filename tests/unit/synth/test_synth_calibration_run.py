"""The calibration loop's bookkeeping: failures recorded, the log kept, resume, budget, files dropped.

Measurement itself runs against the real llama-server in tests/integration; here a stand-in
returns the speeds a known set of terms predicts, so the loop's own behaviour is what is tested.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lanekit.catalog.hardware import get_profile
from lanekit.catalog.models import shape_from_gguf
from lanekit.catalog.predict import SpeedTerms, decode_workload, predict
from lanekit.errors import LanekitError
from lanekit.synth import calibration as cal
from lanekit.synth.measure import SpeedSample
from lanekit.synth.probes import LLAMA_SMALL, LLAMA_TINY, Probe

TRUTH = SpeedTerms(hardware="cpu", bandwidth_gb_s={"Q4_0": 20.0, "Q8_0": 25.0}, default_bandwidth_gb_s=20.0,
                   token_us=50.0, layer_us=10.0, server_token_us=100.0, server_vocab_ns=2.0)


def _probes() -> list[Probe]:
    # two widths x two layer counts x two types: bytes, layers and the token cost come apart
    out = [Probe(name=f"{shape.name}-{q}-{n}", shape=shape, quant=q, layers=n, depths=(0, 256))
           for shape in (LLAMA_TINY, LLAMA_SMALL) for q in ("Q4_0", "Q8_0") for n in (1, 3)]
    out.insert(2, Probe(name="broken", shape=LLAMA_TINY, quant="Q4_0", layers=2))
    return out


def _fake_measure(probe, path, opts, errors=None):
    if probe.name == "broken":
        raise LanekitError("llama-server exited with code 1 while warming up")
    shape = shape_from_gguf(path)
    out = []
    for depth in probe.depths:
        for kind in ("bench", "server"):
            w = decode_workload(shape, depth=depth + opts.n_gen // 2)
            out.append(SpeedSample(path=kind, depth=depth, n_gen=opts.n_gen,
                                   tok_s=predict(w, TRUTH, served=kind == "server").tok_s))
    return out


@pytest.fixture
def opts(tmp_path: Path, small_donor: Path, monkeypatch: pytest.MonkeyPatch) -> cal.CalibrationOptions:
    monkeypatch.setattr(cal, "measure_probe", _fake_measure)
    return cal.CalibrationOptions(hardware=get_profile("cpu"), probes=_probes(), work_dir=tmp_path / "work",
                                  donor=small_donor, bench="llama-bench", keep_files=False)


def test_a_failed_probe_is_recorded_and_the_fit_uses_the_rest(opts) -> None:
    report = cal.run_calibration(opts)
    assert [e["probe"] for e in report.errors] == ["broken"]
    assert report.measurements == 32 and report.fit_summary["max_abs_pct"] < 1.0
    assert report.terms.bandwidth_gb_s["Q8_0"] == pytest.approx(25.0, rel=0.02)
    assert not list(opts.work_dir.glob("*.gguf"))  # --no-keep: every probe file deleted
    assert len((opts.work_dir / "measurements.jsonl").read_text().splitlines()) == 32


def test_resume_measures_only_what_the_log_lacks(opts, monkeypatch: pytest.MonkeyPatch) -> None:
    cal.run_calibration(opts)
    seen = []
    monkeypatch.setattr(cal, "measure_probe", lambda p, *a, **k: seen.append(p.name) or _fake_measure(p, *a, **k))
    report = cal.run_calibration(opts.model_copy(update={"resume": True}))
    assert seen == ["broken"] and report.measurements == 32


def test_budget_stops_measuring_before_the_next_probe(opts) -> None:
    with pytest.raises(LanekitError, match="at least 4"):  # nothing measured: nothing to fit, said so
        cal.run_calibration(opts.model_copy(update={"budget_s": 0.0}))
    lines = (opts.work_dir / "measurements.jsonl").read_text().splitlines()
    assert lines == []


def test_refit_reads_the_log_and_needs_no_donor(opts) -> None:
    cal.run_calibration(opts)
    again = cal.refit(opts.work_dir / "measurements.jsonl", opts.model_copy(update={"donor": None}))
    assert again.terms.layer_us == pytest.approx(10.0, rel=0.05)


def test_anchor_is_timed_around_every_probe_even_when_probes_are_dropped(opts, monkeypatch) -> None:
    timed = []
    monkeypatch.setattr(cal, "bench_decode", lambda binary, path, **kw: timed.append(path.name) or [
        SpeedSample(path="bench", depth=0, n_gen=32, tok_s=300.0)])
    report = cal.run_calibration(opts.model_copy(update={"anchor": True}))
    rows = (opts.work_dir / "measurements.jsonl").read_text().splitlines()
    # before and after each of the 8 good probes, and before the broken one
    assert len(timed) == 2 * 8 + 1 and set(timed) == {f"anchor-{_probes()[0].name}.gguf"}
    assert all('"anchor_tok_s":300.0' in line for line in rows) and report.measurements == 32
    assert not list(opts.work_dir.glob("*.gguf"))
