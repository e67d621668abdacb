"""Random blocks dequantize to finite weights of about 1/sqrt(fan-in), for every type synth writes."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

from lanekit.synth.blocks import BlockSource, constant_f32, tensor_nbytes, weight_std

TYPES = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.IQ4_NL, T.Q4_K, T.Q5_K, T.Q6_K, T.MXFP4, T.F16, T.BF16]


def _tensor(source: BlockSource, qtype: T, row: int, rows: int) -> np.ndarray:
    data = np.concatenate(list(source.chunks(qtype, tensor_nbytes(qtype, row * rows), row)))
    return dequantize(data.reshape(rows, -1), qtype)


@pytest.mark.parametrize("qtype", TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("row", [2048, 25600])
def test_random_blocks_dequantize_finite_near_the_target_std(qtype, row):
    values = _tensor(BlockSource(seed=3, pool_bytes=1 << 20), qtype, row, rows=8)
    assert np.isfinite(values).all()
    ratio = float(values.std()) / weight_std(row)
    assert 0.6 < ratio < 1.6, f"{qtype.name}: std {ratio:.2f} x target"
    assert abs(float(values.mean())) < 0.5 * weight_std(row)


def test_chunks_cover_exactly_the_tensor_bytes_in_whole_blocks():
    source = BlockSource(seed=0, pool_bytes=1 << 20)
    nbytes = tensor_nbytes(T.Q4_0, 2048 * 3000)  # bigger than the pool: served in several slices
    chunks = list(source.chunks(T.Q4_0, nbytes, 2048))
    assert len(chunks) > 1
    assert sum(len(c) for c in chunks) == nbytes
    assert all(len(c) % 18 == 0 for c in chunks)


def test_same_seed_same_bytes_other_seed_other_bytes():
    def take(seed: int) -> bytes:
        return b"".join(c.tobytes() for c in BlockSource(seed, pool_bytes=1 << 20).chunks(T.Q8_0, 34 * 4096, 4096))

    assert take(7) == take(7)
    assert take(7) != take(8)


def test_tensor_nbytes_refuses_partial_blocks():
    assert tensor_nbytes(T.Q4_K, 256 * 10) == 144 * 10
    with pytest.raises(ValueError):
        tensor_nbytes(T.Q4_K, 2880)


def test_constant_f32_is_the_value_in_every_element():
    raw = constant_f32(1.0, 16)
    assert raw.dtype == np.uint8 and len(raw) == 64
    assert (raw.view(np.float32) == 1.0).all()
