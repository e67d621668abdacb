"""Calibration probes: names, shapes and bytes, and that the plan-derived shape is what the file reads back."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanekit.catalog.models import shape_from_gguf
from lanekit.catalog.predict import decode_workload
from lanekit.synth import plan_model, synth_model
from lanekit.synth.probes import LLAMA_TINY, Probe, held_out_set, probe_set, probe_shape, write_probe


@pytest.mark.parametrize("scale", ["gpu", "cpu", "quick"])
def test_probe_names_are_unique_and_held_out_models_are_apart(scale: str) -> None:
    probes = probe_set(scale)  # type: ignore[arg-type]
    held = held_out_set(scale)  # type: ignore[arg-type]
    names = [p.name for p in probes + held]
    assert len(names) == len(set(names))
    assert all(p.role == "fit" and p.pure for p in probes) and all(p.role == "held_out" for p in held)


def test_pure_probes_read_one_weight_type() -> None:
    for probe in probe_set("gpu"):
        types = plan_model(probe.shape, quant=probe.quant, layers=probe.layers, vocab_size=probe.vocab or 49152,
                           pure=True).type_bytes()
        main = max(types, key=types.get)
        assert sum(v for k, v in types.items() if k not in (main, "F32", "Q8_0")) == 0, probe.name


def test_gpu_held_out_checks_1k_and_32k_with_real_vocabularies() -> None:
    held = held_out_set("gpu")
    assert {p.depths for p in held} == {(1024, 32768)} and all(p.vocab and p.vocab > 100_000 for p in held)
    assert not any(p.pure for p in held)  # llama-quantize's real mixes, never seen by the fit


def test_probe_shape_is_what_the_written_file_reads_back(donor_path: Path, tmp_path: Path) -> None:
    probe = Probe(name="t", shape=LLAMA_TINY, quant="Q4_K_S", layers=2, vocab=60000)
    path = write_probe(probe, tmp_path, donor_path)
    from lanekit.synth.donor import read_tokenizer, vocab_size

    planned = probe_shape(probe, vocab_size(read_tokenizer(donor_path)))
    actual = shape_from_gguf(path)
    assert planned.dense_type_bytes == actual.dense_type_bytes and actual.vocab_size == 60000
    assert decode_workload(planned, depth=100) == decode_workload(actual, depth=100)
    again = write_probe(probe, tmp_path, donor_path)  # reused, not rewritten
    assert again == path and again.stat().st_mtime == path.stat().st_mtime


def test_synth_pads_to_an_integer_vocabulary(tiny_shape, small_donor: Path, tmp_path: Path) -> None:
    res = synth_model(tiny_shape("llama"), tmp_path / "v.gguf", donor=small_donor, quant="Q8_0", vocab=3000)
    assert res.vocab_size == 3000 and shape_from_gguf(res.path).vocab_size == 3000


def test_gpt_oss_keeps_mxfp4_experts_in_every_non_pure_file_type() -> None:
    plan = plan_model("openai/gpt-oss-120b", quant="Q4_K_M", vocab_size=201088)
    experts = {t.qtype.name for t in plan.tensors if t.is_expert and t.name.endswith("weight")}
    assert experts == {"MXFP4"}
    assert 61e9 < plan.weights_bytes < 64e9  # published Q4_K_M files: ~62-63 GB, not 71
    pure = plan_model("openai/gpt-oss-20b", quant="Q8_0", pure=True, layers=1, vocab_size=1000)
    assert {t.qtype.name for t in pure.tensors if t.is_expert and t.name.endswith("weight")} == {"Q8_0"}


def test_embedded_models_are_held_out_on_a_cpu() -> None:
    held = held_out_set("cpu")
    files = [p for p in held if p.file]
    assert {p.name for p in files} <= {"smollm2-135m", "qwen2.5-coder-1.5b"}
    for probe in files:
        assert write_probe(probe, Path("/nonexistent"), Path("/nonexistent")) == Path(probe.file)
