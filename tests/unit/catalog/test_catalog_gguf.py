"""GGUF header reader: the embedded model and tiny files written with gguf.GGUFWriter."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanekit.catalog import estimate_memory, resolve_model, shape_from_gguf
from lanekit.catalog.memory import swa_kv_bytes_per_token
from lanekit.catalog.roofline import active_bytes
from lanekit.errors import ModelError


def test_embedded_smollm2_shape_matches_its_published_config(smollm2_gguf: Path) -> None:
    shape = shape_from_gguf(smollm2_gguf)
    # HuggingFaceTB/SmolLM2-135M-Instruct config.json: 30 layers, 9 heads, 3 KV heads, 576 hidden.
    assert (shape.arch, shape.n_layers, shape.n_heads, shape.n_kv_heads) == ("llama", 30, 9, 3)
    assert (shape.head_dim, shape.hidden_size, shape.vocab_size, shape.context_length) == (64, 576, 49152, 8192)
    assert shape.quant == "Q4_1" and not shape.estimated and shape.source == "gguf"
    assert shape.tied_embeddings  # no output.weight: lm_head is the embedding
    assert shape.chat_template and "<|im_start|>" in shape.chat_template


def test_embedded_weights_bytes_are_the_exact_tensor_bytes(smollm2_gguf: Path) -> None:
    shape = shape_from_gguf(smollm2_gguf)
    assert shape.weights_bytes == 96_576_768
    assert shape.total_params == 134_515_008
    # the file is header + tensors; tensors are nearly all of it
    assert 0.95 < shape.weights_bytes / smollm2_gguf.stat().st_size <= 1.0


def test_embedded_kv_per_token_is_2_layers_kvheads_headdim_bytes(smollm2_gguf: Path) -> None:
    est = estimate_memory(shape_from_gguf(smollm2_gguf), ctx=8192, parallel=2)
    assert est.kv_bytes_per_token == 2 * 30 * 3 * 64 * 2
    assert est.kv_bytes == est.kv_bytes_per_token * 8192 * 2  # ctx is per request: -c 16384 for 2 slots
    assert est.weights_bytes == 96_576_768 and not est.weights_estimated


def test_dense_gguf_reads_shape_and_counts_bytes_exactly(make_gguf) -> None:
    path = make_gguf("dense.gguf", "llama", layers=3, hidden=64, heads=4, kv_heads=2, head_dim=16, vocab=128,
                     ffn=96, q8_tensor=True, template="{{ messages }}")
    shape = shape_from_gguf(path)
    assert (shape.n_layers, shape.n_heads, shape.n_kv_heads, shape.head_dim) == (3, 4, 2, 16)
    assert shape.chat_template == "{{ messages }}" and shape.quant == "F16"
    per_layer = 64 * 4 + (64 * 64 * 2) * 2 + 96 * 64 * 2 + 64 * (96 // 32) * 34
    expected = 128 * 64 * 2 * 2 + 64 * 4 + 3 * per_layer
    assert shape.weights_bytes == expected
    assert not shape.tied_embeddings
    assert shape.active_params == shape.total_params - 128 * 64  # one embedding row is read, not the table


def test_moe_gguf_reads_experts_and_active_share(make_gguf) -> None:
    path = make_gguf("moe.gguf", "qwen3moe", layers=2, hidden=64, experts=8, experts_used=2, expert_ffn=32)
    shape = shape_from_gguf(path)
    assert (shape.n_experts, shape.n_experts_used, shape.expert_ffn) == (8, 2, 32)
    expert_bytes = 2 * 3 * 8 * 32 * 64 * 2
    assert shape.expert_weights_bytes == expert_bytes
    ab = active_bytes(shape)
    assert ab.per_token_bytes == shape.weights_bytes - shape.embedding_bytes - expert_bytes + expert_bytes * 2 // 8


def test_sliding_window_gguf_caps_windowed_layers(make_gguf) -> None:
    # gemma3 stores only the window; llama.cpp's default pattern is 5 local : 1 global.
    path = make_gguf("swa.gguf", "gemma3", layers=12, kv_heads=2, head_dim=16, window=512)
    shape = shape_from_gguf(path)
    assert shape.sliding_window == 512 and shape.n_swa_layers == 10 and shape.n_global_layers == 2
    est = estimate_memory(shape, ctx=32768, parallel=1)
    assert est.kv_bytes_per_token == 2 * 2 * 2 * 16 * 2
    assert est.swa_kv_bytes == swa_kv_bytes_per_token(shape) * (512 + 512)  # window + one ubatch
    assert est.kv_bytes == est.kv_bytes_per_token * 32768 + est.swa_kv_bytes


def test_sliding_window_pattern_array_is_read_per_layer(make_gguf) -> None:
    path = make_gguf("pattern.gguf", "gemma4", layers=4, window=128, swa_pattern=[True, False, True, True])
    assert shape_from_gguf(path).n_swa_layers == 3


def test_hybrid_gguf_counts_only_full_attention_layers_and_fixed_state(make_gguf) -> None:
    ssm = {"conv": 4, "inner": 256, "state": 32, "groups": 4, "heads": 8}
    path = make_gguf("next.gguf", "qwen3next", layers=8, full_attn_interval=4, ssm=ssm, kv_heads=2, head_dim=16)
    shape = shape_from_gguf(path)
    assert shape.n_full_attn_layers == 2 and shape.is_hybrid
    conv = 3 * (256 + 2 * 4 * 32)
    assert shape.linear_state_bytes == (conv + 32 * 256) * 4 * 6
    est = estimate_memory(shape, ctx=4096, parallel=3)
    assert est.kv_bytes_per_token == 2 * 2 * 2 * 16 * 2 and est.state_bytes == shape.linear_state_bytes * 3


def test_per_layer_kv_head_array_marks_recurrent_layers(make_gguf) -> None:
    path = make_gguf("nemo.gguf", "nemotron_h", layers=4, kv_heads=[0, 2, 0, 0])
    shape = shape_from_gguf(path)
    assert shape.n_full_attn_layers == 1 and shape.n_kv_heads == 2


def test_resolve_model_accepts_a_gguf_path(make_gguf) -> None:
    path = make_gguf("x.gguf")
    assert resolve_model(str(path)).source == "gguf"


def test_missing_file_raises_model_error_with_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as exc:
        shape_from_gguf(tmp_path / "nope.gguf")
    assert exc.value.fix


def test_non_gguf_file_raises_model_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(ModelError) as exc:
        shape_from_gguf(bogus)
    assert "GGUF" in exc.value.message and exc.value.fix


def test_split_gguf_with_missing_parts_names_them(tmp_path: Path, make_gguf) -> None:
    first = make_gguf("m-00001-of-00002.gguf")
    with pytest.raises(ModelError) as exc:
        shape_from_gguf(first)
    assert "m-00002-of-00002.gguf" in exc.value.message


def test_fast_header_reader_agrees_with_gguf_reader(make_gguf) -> None:
    import gguf

    from lanekit.catalog.gguf_header import read_gguf_header

    path = make_gguf("agree.gguf", "qwen3moe", layers=2, experts=4, experts_used=2, q8_tensor=False)
    ours = {t.name: (t.n_bytes, t.n_elements, t.type_name) for t in read_gguf_header(path).tensors}
    theirs = {t.name: (int(t.n_bytes), int(t.n_elements), t.tensor_type.name) for t in gguf.GGUFReader(path).tensors}
    assert ours == theirs


def test_embedded_header_reads_fast_without_parsing_the_vocab(smollm2_gguf: Path) -> None:
    import time

    from lanekit.catalog.gguf_header import SkippedArray, read_gguf_header

    t0 = time.perf_counter()
    header = read_gguf_header(smollm2_gguf)
    assert time.perf_counter() - t0 < 2.0  # gguf.GGUFReader takes ~8 s on this file
    assert isinstance(header.fields["tokenizer.ggml.tokens"], SkippedArray)
    assert len(header.fields["tokenizer.ggml.tokens"]) == 49152


def test_per_layer_kv_heads_split_global_and_windowed_geometry(make_gguf) -> None:
    # Gemma-4-like: 5 windowed layers with 2 KV heads, 1 global layer with 1 KV head.
    path = make_gguf("g4.gguf", "gemma4", layers=6, kv_heads=[2, 2, 2, 2, 2, 1], head_dim=32, window=64,
                     swa_pattern=[True] * 5 + [False])
    shape = shape_from_gguf(path)
    assert (shape.n_kv_heads, shape.swa_n_kv_heads, shape.n_swa_layers) == (1, 2, 5)
    assert estimate_memory(shape, ctx=1024).kv_bytes_per_token == 2 * 1 * 1 * 32 * 2


def test_window_without_a_known_pattern_counts_every_layer_as_full(make_gguf) -> None:
    path = make_gguf("phi.gguf", "phi3", layers=4, window=2048)
    shape = shape_from_gguf(path)
    assert shape.n_swa_layers == 0 and shape.n_global_layers == 4


def test_fit_defaults_to_llamacpp_for_any_gguf_quant(make_gguf) -> None:
    from lanekit.catalog import fit_model, get_profile

    path = make_gguf("odd.gguf", "llama", file_type=19)  # MOSTLY_IQ2_XXS: no scheme entry needed
    report = fit_model(shape_from_gguf(path), get_profile("h100"), ctx=2048)
    assert report.engine == "llamacpp" and report.quant == "IQ2_XXS"
