"""Broken models made on purpose, to show the gibberish gate real garbage.

`corrupt_gguf` copies a GGUF and damages the data of chosen tensors (their table and
metadata stay valid, so llama.cpp loads and serves the file as a corrupted download or a
broken conversion would be served). Two kinds: `shuffle` permutes a tensor's quant blocks
(finite values, wrong places: a wrong repack), `noise` overwrites its bytes with random ones
(scales turn to junk, NaN/Inf included: a torn file).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Kind = Literal["shuffle", "noise"]


@dataclass(frozen=True)
class Corruption:
    """What was damaged: the file, the kind, the tensors and their bytes."""

    path: Path
    kind: str
    tensors: list[str]
    n_bytes: int


def corrupt_gguf(src: Path, dst: Path, *, pattern: str, kind: Kind = "shuffle", seed: int = 0) -> Corruption:
    """Copy `src` to `dst` and damage every tensor whose name matches the regex `pattern`."""
    from gguf import GGUFReader
    from gguf.constants import GGML_QUANT_SIZES

    reader = GGUFReader(str(src))
    rx = re.compile(pattern)
    targets = [t for t in reader.tensors if rx.search(t.name)]
    if not targets:
        raise ValueError(f"no tensor of {src.name} matches {pattern!r}")
    shutil.copyfile(src, dst)
    rng = np.random.default_rng(seed)
    total = 0
    data = np.memmap(dst, dtype=np.uint8, mode="r+")
    try:
        for t in targets:
            start, n = int(t.data_offset), int(t.n_bytes)
            view = data[start:start + n]
            if kind == "noise":
                view[:] = rng.integers(0, 256, size=n, dtype=np.uint8)
            else:
                _, block_bytes = GGML_QUANT_SIZES[t.tensor_type]
                blocks = view.reshape(-1, block_bytes)
                blocks[:] = blocks[rng.permutation(blocks.shape[0])]
            total += n
        data.flush()
    finally:
        del data
    return Corruption(path=dst, kind=kind, tensors=[t.name for t in targets], n_bytes=total)
