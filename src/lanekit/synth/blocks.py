"""Random quantized blocks with sane scales, generated fast enough to write tens of GB.

Quant payload bits (nibbles, int8s, sub-block scales) may be any random bits; only the fp16
block scales (and the MXFP4 exponent byte) are set, so every dequantized weight is a finite
value of about 1/sqrt(row length): activations stay bounded and no NaN/inf reaches a kernel.
Data comes from a per-(type, scale) pool of ready blocks read at random block-aligned offsets,
so writing costs a slice, not a random-number draw per byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

T = GGMLQuantizationType

POOL_BYTES = 48 << 20  # one pool per (type, scale); chunks are slices of it
CHUNK_BYTES = 16 << 20  # at most this much is handed to the file per write


@dataclass(frozen=True)
class BlockLayout:
    """Where the scales sit in one block of a ggml type, and how large a value d = 1 gives.

    `unit_std` is the standard deviation of a dequantized weight when every fp16 scale is 1
    (payload uniform at random); `min_ratio` sets the fp16 minimum (`dmin` / `m`) as a
    multiple of `d`, so that values centre near zero.
    """

    qtype: GGMLQuantizationType
    d_offsets: tuple[int, ...] = ()
    min_offsets: tuple[int, ...] = ()
    min_ratio: float = 0.0
    unit_std: float = 1.0
    e8m0_offset: int | None = None

    @property
    def block_elems(self) -> int:
        return GGML_QUANT_SIZES[self.qtype][0]

    @property
    def block_bytes(self) -> int:
        return GGML_QUANT_SIZES[self.qtype][1]


_U4 = math.sqrt((16**2 - 1) / 12)  # std of a uniform 4-bit code around its middle
_U5 = math.sqrt((32**2 - 1) / 12)
_U6 = math.sqrt((64**2 - 1) / 12)
_U8 = math.sqrt((256**2 - 1) / 12)
_SC6_RMS = math.sqrt(sum(v * v for v in range(64)) / 64)  # K-quant 6-bit sub-block scales
_IQ4NL = (-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)
_MXFP4 = (0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12)


def _rms(values: tuple[int, ...]) -> float:
    return math.sqrt(sum(v * v for v in values) / len(values))


# Byte layouts from ggml-common.h (block_q4_0 ... block_q6_K, block_mxfp4).
LAYOUTS: dict[GGMLQuantizationType, BlockLayout] = {
    T.Q4_0: BlockLayout(T.Q4_0, d_offsets=(0,), unit_std=_U4),
    T.Q4_1: BlockLayout(T.Q4_1, d_offsets=(0,), min_offsets=(2,), min_ratio=-7.5, unit_std=_U4),
    T.Q5_0: BlockLayout(T.Q5_0, d_offsets=(0,), unit_std=_U5),
    T.Q5_1: BlockLayout(T.Q5_1, d_offsets=(0,), min_offsets=(2,), min_ratio=-15.5, unit_std=_U5),
    T.Q8_0: BlockLayout(T.Q8_0, d_offsets=(0,), unit_std=_U8),
    T.IQ4_NL: BlockLayout(T.IQ4_NL, d_offsets=(0,), unit_std=_rms(_IQ4NL)),
    # K-quants: value = d * sc * q - dmin * m with 6-bit sc, m from the random scale bytes.
    T.Q4_K: BlockLayout(T.Q4_K, d_offsets=(0,), min_offsets=(2,), min_ratio=7.5,
                        unit_std=math.hypot(_SC6_RMS * _U4, 7.5 * _U6)),
    T.Q5_K: BlockLayout(T.Q5_K, d_offsets=(0,), min_offsets=(2,), min_ratio=15.5,
                        unit_std=math.hypot(_SC6_RMS * _U5, 15.5 * _U6)),
    T.Q6_K: BlockLayout(T.Q6_K, d_offsets=(208,), unit_std=_U8 * _U6),
    # MXFP4: e8m0 exponent byte; value = kvalue * 2^(e - 128) (ggml's "half" e8m0 convention).
    T.MXFP4: BlockLayout(T.MXFP4, e8m0_offset=0, unit_std=_rms(_MXFP4)),
}
FLOAT_TYPES = (T.F32, T.F16, T.BF16)
SUPPORTED_TYPES = tuple(LAYOUTS) + FLOAT_TYPES


def tensor_nbytes(qtype: GGMLQuantizationType, n_elements: int) -> int:
    """Bytes a tensor of `n_elements` takes in `qtype` (whole blocks)."""
    elems, nbytes = GGML_QUANT_SIZES[qtype]
    if n_elements % elems:
        raise ValueError(f"{n_elements} elements are not whole {qtype.name} blocks of {elems}")
    return n_elements // elems * nbytes


def weight_std(row_len: int) -> float:
    """Target weight std: 1/sqrt(fan-in), so y = W x keeps unit-scale activations."""
    return 1.0 / math.sqrt(max(row_len, 1))


class BlockSource:
    """Hands out random bytes for tensors of any supported type, from cached pools.

    One instance per file; `seed` makes the file reproducible.
    """

    def __init__(self, seed: int = 0, pool_bytes: int = POOL_BYTES) -> None:
        self.rng = np.random.default_rng(seed)
        self.pool_bytes = pool_bytes
        self._raw: np.ndarray | None = None
        self._pools: dict[tuple[int, float], np.ndarray] = {}

    def _random_bytes(self) -> np.ndarray:
        if self._raw is None:
            words = np.random.SFC64(int(self.rng.integers(0, 2**63))).random_raw(self.pool_bytes // 8)
            self._raw = words.view(np.uint8)
        return self._raw

    def _pool(self, qtype: GGMLQuantizationType, std: float) -> np.ndarray:
        key = (int(qtype), round(std, 6))
        pool = self._pools.get(key)
        if pool is None:
            pool = self._make_pool(qtype, std)
            self._pools[key] = pool
        return pool

    def _make_pool(self, qtype: GGMLQuantizationType, std: float) -> np.ndarray:
        raw = self._random_bytes()
        if qtype in FLOAT_TYPES:
            return _float_pool(qtype, raw, std)
        lay = LAYOUTS[qtype]
        n_blocks = self.pool_bytes // lay.block_bytes
        blocks = raw[: n_blocks * lay.block_bytes].copy().reshape(n_blocks, lay.block_bytes)
        # Per-block jitter of ±25% around the target, like real scales differ block to block.
        jitter = self.rng.uniform(0.75, 1.25, n_blocks)
        if lay.e8m0_offset is not None:
            e = 128 + round(math.log2(std / lay.unit_std))
            blocks[:, lay.e8m0_offset] = np.clip(e + np.round(np.log2(jitter)), 1, 254).astype(np.uint8)
            return blocks.reshape(-1)
        d = (std / lay.unit_std) * jitter
        # Small tensors' scales are fp16 subnormals, as in real Q6_K files; never zero.
        d = np.maximum(d, 1e-6)
        d16 = d.astype(np.float16)
        for off in lay.d_offsets:
            blocks[:, off:off + 2] = d16.view(np.uint8).reshape(-1, 2)
        for off in lay.min_offsets:
            m16 = (d * lay.min_ratio).astype(np.float16)
            blocks[:, off:off + 2] = m16.view(np.uint8).reshape(-1, 2)
        return blocks.reshape(-1)

    def chunks(self, qtype: GGMLQuantizationType, nbytes: int, row_len: int):
        """Yield byte arrays (views into a pool) that together make one tensor of `nbytes`."""
        if qtype == T.F32:  # small tensors only (norms are written by `constant_f32`)
            yield _float_pool(T.F32, self.rng.bytes(nbytes), weight_std(row_len))
            return
        pool = self._pool(qtype, weight_std(row_len))
        unit = GGML_QUANT_SIZES[qtype][1]
        n_units = len(pool) // unit
        left = nbytes
        while left > 0:
            take = min(left, CHUNK_BYTES, (n_units - 1) * unit)
            take -= take % unit
            start = int(self.rng.integers(0, n_units - take // unit)) * unit
            yield pool[start:start + take]
            left -= take


def constant_f32(value: float, n_elements: int) -> np.ndarray:
    """A float32 tensor's bytes with every element = `value` (norm weights: 1.0, biases: 0.0)."""
    return np.full(n_elements, value, dtype=np.float32).view(np.uint8)


def _float_pool(qtype: GGMLQuantizationType, raw: bytes | np.ndarray, std: float) -> np.ndarray:
    """Float weights with random sign and mantissa and a fixed exponent near `std` (never inf/NaN)."""
    raw = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes) else raw
    if qtype == T.F32:
        n = len(raw) // 4
        vals = (np.frombuffer(raw[: n * 4].tobytes(), dtype=np.int32).astype(np.float64) / 2**31) * std * math.sqrt(3)
        return vals.astype(np.float32).view(np.uint8)
    words = raw[: len(raw) // 2 * 2].view(np.uint16)
    if qtype == T.F16:  # 1 sign, 5 exponent (bias 15), 10 mantissa bits
        exp = int(np.clip(15 + round(math.log2(std / 1.53)), 1, 30))
        bits = (words & np.uint16(0x83FF)) | np.uint16(exp << 10)
    else:  # BF16: 1 sign, 8 exponent (bias 127), 7 mantissa bits
        exp = int(np.clip(127 + round(math.log2(std / 1.53)), 1, 254))
        bits = (words & np.uint16(0x807F)) | np.uint16(exp << 7)
    return bits.astype(np.uint16).view(np.uint8)
