"""A tokenizer-only donor carries everything synthetic files need, in a few MB."""

from __future__ import annotations

from pathlib import Path

from lanekit.synth.donor import read_metadata, read_tokenizer, vocab_size, write_donor


def test_tokenizer_only_donor_keeps_every_tokenizer_entry_and_no_tensors(tmp_path, donor_path):
    out = write_donor(donor_path, tmp_path / "donor.gguf")
    assert out.stat().st_size < 5_000_000 < donor_path.stat().st_size
    original, copied = read_tokenizer(donor_path), read_tokenizer(out)
    assert [(kv.key, kv.vtype) for kv in copied] == [(kv.key, kv.vtype) for kv in original]
    assert vocab_size(copied) == vocab_size(original) == 49152
    assert next(kv.value for kv in read_metadata(out, "general.architecture")) == "llama"


def test_a_synthetic_file_written_from_the_small_donor_equals_one_from_the_model(tmp_path, donor_path, tiny_shape):
    from lanekit.synth import synth_model

    small = write_donor(donor_path, tmp_path / "donor.gguf")
    a = synth_model(tiny_shape("llama", vocab=49152), tmp_path / "a.gguf", donor=donor_path, quant="Q4_0")
    b = synth_model(tiny_shape("llama", vocab=49152), tmp_path / "b.gguf", donor=small, quant="Q4_0")
    assert Path(a.path).stat().st_size == Path(b.path).stat().st_size
    assert read_tokenizer(a.path) == read_tokenizer(b.path)
