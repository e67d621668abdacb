"""Perplexity chunking: llama.cpp's convention, reproduced exactly, plus overlapping windows.

llama.cpp (`tools/perplexity/perplexity.cpp`, `perplexity()`): tokenize the whole text once
(with the vocab's special prefix), cut it into `n_chunk = len // n_ctx` windows of `n_ctx`
tokens (the tail is dropped; at least `2 * n_ctx` tokens are needed), put BOS over the first
token of each window when the vocab's `add_bos` is set (replacing it, not prepending), and
score only the second half: positions `first = n_ctx // 2` .. `n_ctx - 2` predict tokens
`first + 1` .. `n_ctx - 1`, i.e. `n_ctx - 1 - n_ctx // 2` tokens per window (255 at 512).

Overlapping windows (`stride < n_ctx`) are lanekit's for sliding-window models: windows of
the attention window start every `stride` tokens and score their last `stride` predictions,
so every token after the first window is scored once with at least `n_ctx - stride - 1`
tokens of context, and BOS is put in by hand exactly as above (llama.cpp's `--ppl-stride`
mode sets BOS after decoding, so its windows never see it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lanekit.errors import ConfigError


@dataclass(frozen=True)
class Window:
    """One evaluation window: `n_ctx` tokens from `start`; predictions `first..n_ctx-2` are scored."""

    index: int
    start: int
    n_ctx: int
    first: int

    @property
    def n_scored(self) -> int:
        """Tokens scored in this window (each prediction at position j scores token j + 1)."""
        return self.n_ctx - 1 - self.first

    def scored_targets(self) -> range:
        """Absolute indices (into the token stream) of the tokens this window scores."""
        return range(self.start + self.first + 1, self.start + self.n_ctx)


@dataclass(frozen=True)
class ChunkPlan:
    """Every window over one token stream: same stream + same plan = same tokens scored."""

    n_tokens: int
    n_ctx: int
    stride: int
    windows: tuple[Window, ...]

    @property
    def n_scored(self) -> int:
        return sum(w.n_scored for w in self.windows)

    @property
    def convention(self) -> str:
        return "llama.cpp" if self.stride == self.n_ctx else f"overlap(stride={self.stride})"


def scored_per_chunk(n_ctx: int) -> int:
    """llama.cpp's count of tokens scored per `n_ctx` chunk: `n_ctx - 1 - n_ctx // 2`."""
    return n_ctx - 1 - n_ctx // 2


def plan_chunks(n_tokens: int, n_ctx: int, *, stride: int | None = None, max_chunks: int | None = None) -> ChunkPlan:
    """The windows llama-perplexity evaluates (stride None or n_ctx), or overlapping ones.

    ConfigError when the stream is too short: llama.cpp needs `2 * n_ctx` tokens.
    """
    if n_ctx < 4:
        raise ConfigError(f"ctx: {n_ctx} is too small for perplexity", fix="use --ctx 128 or more")
    stride = n_ctx if stride is None else stride
    if not 0 < stride <= n_ctx:
        raise ConfigError(f"stride: {stride} must be in 1..ctx ({n_ctx})", fix="use a stride of ctx/2 or ctx")
    if n_tokens < 2 * n_ctx:
        raise ConfigError(f"corpus: {n_tokens:,} tokens, perplexity at ctx {n_ctx:,} needs at least {2 * n_ctx:,}",
                          fix="use a smaller --ctx or a longer --corpus file")
    if stride == n_ctx:
        count = n_tokens // n_ctx
        first = n_ctx // 2
    else:
        count = (n_tokens - n_ctx) // stride + 1
        first = n_ctx - 1 - stride
    if max_chunks is not None:
        count = min(count, max_chunks)
    windows = []
    for i in range(count):
        # the first overlapping window scores its whole second half, as llama.cpp's does
        w_first = n_ctx // 2 if (stride != n_ctx and i == 0) else first
        windows.append(Window(index=i, start=i * stride, n_ctx=n_ctx, first=w_first))
    return ChunkPlan(n_tokens=n_tokens, n_ctx=n_ctx, stride=stride, windows=tuple(windows))


def window_tokens(tokens: Sequence[int], window: Window, *, add_bos: bool, bos_id: int | None) -> list[int]:
    """The ids fed for one window: BOS replaces the first token when the vocab sets add_bos."""
    ids = list(tokens[window.start:window.start + window.n_ctx])
    if len(ids) != window.n_ctx:
        raise ValueError(f"window {window.index} runs past the stream ({len(ids)} of {window.n_ctx} tokens)")
    if add_bos:
        if bos_id is None:
            raise ConfigError("tokenizer: add_bos is set but the vocab has no BOS id",
                              fix="check the model's tokenizer config (tokenizer.ggml.bos_token_id)")
        ids[0] = bos_id
    return ids


def sliding_window_ctx(n_ctx: int, sliding_window: int | None) -> tuple[int, int]:
    """(window, stride) for a model: full `n_ctx` chunks, or half-overlapping windows no longer
    than its attention window when it has sliding-window layers."""
    if not sliding_window or sliding_window >= n_ctx:
        return n_ctx, n_ctx
    return sliding_window, max(1, sliding_window // 2)
