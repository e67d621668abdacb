"""Writing synthetic GGUFs: the file reads back with the plan's sums, carries the donor's tokenizer
and the synthetic flag, is reproducible per seed, and never leaves a half-written file."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from gguf import GGUFReader, TokenType
from gguf.quants import dequantize

from lanekit.catalog.fit import fit_model
from lanekit.catalog.hardware import get_profile
from lanekit.catalog.models import shape_from_gguf
from lanekit.errors import ConfigError, ModelError
from lanekit.synth import is_synthetic, plan_model, synth_model
from lanekit.synth.donor import read_metadata, read_tokenizer

ARCHS = ["qwen3", "qwen3_moe", "gpt_oss", "llama"]


def _field(reader: GGUFReader, key: str):
    field = reader.fields.get(key)
    return None if field is None else field.contents()


@pytest.mark.parametrize("arch", ARCHS)
def test_written_file_reads_back_with_the_plan_sums(tmp_path, small_donor, arch, tiny_shape):
    shape = tiny_shape(arch)
    out = tmp_path / f"{arch}.gguf"
    res = synth_model(shape, out, donor=small_donor, quant="Q8_0")
    back = shape_from_gguf(out)
    plan = plan_model(shape, quant="Q8_0", vocab_size=512)
    assert back.weights_bytes == res.weights_bytes == plan.weights_bytes
    assert back.total_params == res.total_params == plan.total_params
    assert back.active_params == res.active_params == plan.active_params
    assert back.n_layers == 2 and back.hidden_size == 256 and back.head_dim == 64
    assert back.n_experts == shape.n_experts and back.n_experts_used == shape.n_experts_used
    assert back.vocab_size == 512 and back.quant == "Q8_0"
    reader = GGUFReader(str(out))
    assert [(t.name, t.tensor_type) for t in reader.tensors] == [(t.name, t.qtype) for t in plan.tensors]
    assert res.file_bytes == out.stat().st_size > res.weights_bytes


def test_fit_reads_the_same_bytes_and_active_params_as_written(tmp_path, small_donor, tiny_shape):
    res = synth_model(tiny_shape("qwen3_moe"), tmp_path / "moe.gguf", donor=small_donor, quant="Q4_0")
    report = fit_model(shape_from_gguf(res.path), get_profile("h100"), ctx=4096).to_json()
    assert report["weights_bytes"] == res.weights_bytes
    assert report["active_params"] == res.active_params
    reader = GGUFReader(res.path)
    expert = sum(int(t.n_bytes) for t in reader.tensors if "_exps." in t.name)
    embd = next(int(t.n_bytes) for t in reader.tensors if t.name == "token_embd.weight")
    assert report["bytes_read_per_token"] == res.weights_bytes - embd - expert + expert * 2 // 8


def test_tokenizer_and_chat_template_are_copied_from_the_donor(tmp_path, donor_path, tiny_shape):
    res = synth_model(tiny_shape("qwen3"), tmp_path / "d.gguf", donor=donor_path)
    mine = {kv.key: kv for kv in read_metadata(res.path, "tokenizer.")}
    donor = GGUFReader(str(donor_path))  # the reference reader, once
    for key, field in donor.fields.items():
        if key.startswith("tokenizer."):
            assert mine[key].value == field.contents(), key
            assert mine[key].vtype == field.types[0], key
    assert "tokenizer.chat_template" in mine
    assert res.vocab_size == len(mine["tokenizer.ggml.tokens"].value) == 49152


def test_vocab_model_pads_the_donor_tokenizer_with_unused_tokens(tmp_path, donor_path, tiny_shape):
    res = synth_model(tiny_shape("qwen3", vocab=49152 + 100), tmp_path / "p.gguf", donor=donor_path, vocab="model")
    meta = {kv.key: kv.value for kv in read_metadata(res.path, "tokenizer.")}
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    assert len(tokens) == len(types) == 49252 == res.vocab_size
    assert tokens[-1] == "[PAD49251]" and types[-1] == int(TokenType.UNUSED)
    assert tokens[:49152] == next(kv.value for kv in read_tokenizer(donor_path) if kv.key == "tokenizer.ggml.tokens")
    assert meta["tokenizer.ggml.eos_token_id"] == 2


def test_model_vocab_smaller_than_the_donor_is_refused(tmp_path, donor_path, tiny_shape):
    with pytest.raises(ModelError, match="smaller"):
        synth_model(tiny_shape("qwen3", vocab=1000), tmp_path / "s.gguf", donor=donor_path, vocab="model")
    assert not (tmp_path / "s.gguf").exists()


def test_file_is_marked_synthetic_and_names_its_source(tmp_path, small_donor, tiny_shape):
    res = synth_model(tiny_shape("llama"), tmp_path / "m.gguf", donor=small_donor, seed=5)
    reader = GGUFReader(res.path)
    assert is_synthetic(res.path) and not is_synthetic(small_donor)
    assert _field(reader, "lanekit.synth.model") == "test/tiny-llama"
    assert _field(reader, "lanekit.synth.seed") == 5
    assert res.to_json()["lane"]["synthetic"] is True
    assert res.to_json()["schema_version"] == 1


def test_same_seed_writes_the_same_bytes(tmp_path, small_donor, tiny_shape):
    def digest(seed: int, name: str) -> str:
        res = synth_model(tiny_shape("qwen3_moe"), tmp_path / name, donor=small_donor, seed=seed)
        return hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() if res else ""

    assert digest(1, "a.gguf") == digest(1, "b.gguf")
    assert digest(1, "a.gguf") != digest(2, "c.gguf")


def test_weight_data_in_the_file_dequantizes_to_finite_values(tmp_path, small_donor, tiny_shape):
    res = synth_model(tiny_shape("qwen3_moe"), tmp_path / "f.gguf", donor=small_donor, quant="Q4_K_M")
    for t in GGUFReader(res.path).tensors:
        values = dequantize(np.asarray(t.data), t.tensor_type)
        assert np.isfinite(values).all(), t.name
        if t.name.endswith("norm.weight"):
            assert (values == 1.0).all()


def test_interrupted_write_leaves_no_file_behind(tmp_path, small_donor, tiny_shape):
    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synth_model(tiny_shape("qwen3"), tmp_path / "x.gguf", donor=small_donor, progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_too_little_disk_space_is_refused_before_writing(tmp_path, small_donor, monkeypatch, tiny_shape):
    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(100, 99, 1))
    with pytest.raises(ConfigError, match="free"):
        synth_model(tiny_shape("qwen3"), tmp_path / "y.gguf", donor=small_donor)
    assert list(tmp_path.iterdir()) == []


def test_donor_without_tokenizer_is_a_model_error(tmp_path, small_donor, tiny_shape):
    first = synth_model(tiny_shape("qwen3"), tmp_path / "ok.gguf", donor=small_donor)
    bare = tmp_path / "bare.gguf"
    import gguf

    w = gguf.GGUFWriter(str(bare), "llama")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    with pytest.raises(ModelError, match="tokenizer"):
        synth_model(tiny_shape("qwen3"), tmp_path / "z.gguf", donor=bare)
    assert first.path
