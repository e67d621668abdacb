"""Read the log-probability file `llama-perplexity --kl-divergence-base FILE` writes.

Layout (perplexity.cpp): b"_logits_", int32 n_ctx, int32 n_vocab, int32 n_chunk, then the
`n_ctx * n_chunk` evaluated token ids (int32), then per chunk `n_ctx - 1 - n_ctx // 2` rows of
`nv = 2 * ((n_vocab + 1) // 2) + 4` uint16: row[0:2] is float32 (scale, min_log_prob), row[4:]
holds `round((logit - min_logit) / scale)` for each vocab entry, where min_logit is clamped to
max_logit - 16 and the log-prob is `scale * q + min_log_prob`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lanekit.errors import ConfigError

MAGIC = b"_logits_"
_HEADER_BYTES = 8 + 3 * 4


@dataclass
class LogitsDump:
    """A memory-mapped log-prob file: header, the token ids, and lazily decoded chunks."""

    path: Path
    n_ctx: int
    n_vocab: int
    n_chunk: int
    tokens: np.ndarray  # int32, n_ctx * n_chunk
    _rows: np.memmap  # uint16, (n_chunk * n_scored, nv)

    @property
    def n_scored(self) -> int:
        """Rows per chunk (llama.cpp's tokens scored per chunk)."""
        return self.n_ctx - 1 - self.n_ctx // 2

    def chunk_logprobs(self, i: int) -> np.ndarray:
        """(n_scored, n_vocab) float32 log-probs of chunk `i`, decoded as llama.cpp decodes them."""
        rows = self._rows[i * self.n_scored:(i + 1) * self.n_scored]
        params = np.ascontiguousarray(rows[:, :4]).view(np.float32)  # (n, 2): scale, min_log_prob
        q = rows[:, 4:4 + self.n_vocab].astype(np.float32)
        return q * params[:, :1] + params[:, 1:2]

    def chunk_targets(self, i: int) -> np.ndarray:
        """The token ids chunk `i` scores (positions first+1 .. n_ctx-1 of the chunk)."""
        start = i * self.n_ctx + self.n_ctx // 2 + 1
        return self.tokens[start:(i + 1) * self.n_ctx]

    def iter_chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(log-probs, targets) per chunk, one chunk in memory at a time."""
        for i in range(self.n_chunk):
            yield self.chunk_logprobs(i), self.chunk_targets(i)


def read_dump(path: str | Path) -> LogitsDump:
    """Open a `--kl-divergence-base` file; ConfigError when it is not one or is truncated."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEADER_BYTES)
    except OSError as exc:
        raise ConfigError(f"base: cannot read {path} ({exc.strerror})", fix="pass an existing log-prob file") from None
    if len(head) < _HEADER_BYTES or head[:8] != MAGIC:
        raise ConfigError(f"base: {path} is not a llama-perplexity log-prob file",
                          fix="write one with `llama-perplexity --kl-divergence-base FILE -f TEXT`")
    n_ctx, n_vocab, n_chunk = np.frombuffer(head[8:], dtype="<i4").tolist()
    nv = 2 * ((n_vocab + 1) // 2) + 4
    n_scored = n_ctx - 1 - n_ctx // 2
    tok_bytes = 4 * n_ctx * n_chunk
    need = _HEADER_BYTES + tok_bytes + 2 * nv * n_scored * n_chunk
    size = path.stat().st_size
    if size < need:
        raise ConfigError(f"base: {path} is truncated ({size:,} of {need:,} bytes)",
                          fix="delete it; lanekit writes it again on the next run")
    tokens = np.memmap(path, dtype="<i4", mode="r", offset=_HEADER_BYTES, shape=(n_ctx * n_chunk,))
    rows = np.memmap(path, dtype="<u2", mode="r", offset=_HEADER_BYTES + tok_bytes, shape=(n_chunk * n_scored, nv))
    return LogitsDump(path=path, n_ctx=n_ctx, n_vocab=n_vocab, n_chunk=n_chunk, tokens=tokens, _rows=rows)


def write_dump(path: str | Path, tokens: np.ndarray, n_ctx: int, chunk_logits: list[np.ndarray]) -> Path:
    """Write a file in the same layout from float logits (n_scored, n_vocab) per chunk.

    Used by tests to build known streams, and for engines whose full logits lanekit holds.
    """
    path = Path(path)
    n_chunk = len(chunk_logits)
    n_vocab = int(chunk_logits[0].shape[1]) if n_chunk else 0
    nv = 2 * ((n_vocab + 1) // 2) + 4
    with path.open("wb") as fh:
        fh.write(MAGIC)
        fh.write(np.array([n_ctx, n_vocab, n_chunk], dtype="<i4").tobytes())
        fh.write(np.asarray(tokens[:n_ctx * n_chunk], dtype="<i4").tobytes())
        for logits in chunk_logits:
            fh.write(_encode_rows(np.asarray(logits, dtype=np.float32), nv).tobytes())
    return path


def _encode_rows(logits: np.ndarray, nv: int) -> np.ndarray:
    """llama.cpp's uint16 encoding of each row of logits (perplexity.cpp `log_softmax` with log_prob)."""
    max_logit = logits.max(axis=1, keepdims=True)
    min_logit = np.maximum(logits.min(axis=1, keepdims=True), max_logit - 16)
    log_sum_exp = np.log(np.exp(logits - max_logit).astype(np.float64).sum(axis=1, keepdims=True)).astype(np.float32)
    min_log_prob = (min_logit - max_logit - log_sum_exp).astype(np.float32)
    scale = ((max_logit - min_logit) / 65535.0).astype(np.float32)
    out = np.zeros((logits.shape[0], nv), dtype="<u2")
    out[:, :4] = np.concatenate([scale, min_log_prob], axis=1).astype("<f4").view("<u2")
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_scale = (1 / np.where(scale > 0, scale, 1)).astype(np.float32)  # llama.cpp multiplies by 1/scale
        q = np.where(logits > min_logit, np.rint(inv_scale * (logits - min_logit)), 0)
    out[:, 4:4 + logits.shape[1]] = np.where(scale > 0, q, 0).astype("<u2")
    return out
