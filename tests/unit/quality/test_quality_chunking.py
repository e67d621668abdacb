"""llama.cpp's perplexity chunking, pinned on a fixed token stream (perplexity.cpp `perplexity()`)."""

from __future__ import annotations

import pytest

from lanekit.errors import ConfigError
from lanekit.quality.chunking import plan_chunks, scored_per_chunk, sliding_window_ctx, window_tokens

STREAM = list(range(1000, 1000 + 2600))  # 2,600 distinct ids: any misplaced index shows


def test_scored_per_chunk_is_n_ctx_minus_one_minus_half():
    assert scored_per_chunk(512) == 255
    assert scored_per_chunk(128) == 63
    assert scored_per_chunk(4096) == 2047
    assert scored_per_chunk(513) == 256  # odd n_ctx: first = 256, so 513 - 1 - 256


def test_llamacpp_plan_drops_the_tail_and_scores_the_second_half():
    plan = plan_chunks(len(STREAM), 512)
    assert plan.convention == "llama.cpp"
    assert [w.start for w in plan.windows] == [0, 512, 1024, 1536, 2048]  # 2600 // 512 = 5; 40-token tail dropped
    assert all(w.first == 256 and w.n_scored == 255 for w in plan.windows)
    assert plan.n_scored == 5 * 255
    w = plan.windows[1]
    assert list(w.scored_targets())[:2] == [512 + 257, 512 + 258]
    assert list(w.scored_targets())[-1] == 1023  # the last token of the window is scored, none beyond


def test_max_chunks_caps_like_llamacpp_chunks_flag():
    assert len(plan_chunks(len(STREAM), 512, max_chunks=3).windows) == 3
    assert len(plan_chunks(len(STREAM), 512, max_chunks=99).windows) == 5


def test_a_stream_shorter_than_two_windows_is_refused():
    with pytest.raises(ConfigError, match="needs at least 1,024"):
        plan_chunks(1023, 512)
    assert len(plan_chunks(1024, 512).windows) == 2


def test_bos_replaces_the_first_token_of_every_window_when_add_bos():
    plan = plan_chunks(len(STREAM), 512)
    ids = window_tokens(STREAM, plan.windows[2], add_bos=True, bos_id=1)
    assert len(ids) == 512
    assert ids[0] == 1 and ids[1] == STREAM[1025]  # replaced, not prepended: the window stays n_ctx long
    assert window_tokens(STREAM, plan.windows[2], add_bos=False, bos_id=1)[0] == STREAM[1024]


def test_add_bos_without_a_bos_id_is_a_config_error():
    with pytest.raises(ConfigError, match="add_bos"):
        window_tokens(STREAM, plan_chunks(len(STREAM), 512).windows[0], add_bos=True, bos_id=None)


def test_overlapping_windows_score_every_token_once_after_the_first_half_window():
    plan = plan_chunks(len(STREAM), 512, stride=256)
    assert plan.convention == "overlap(stride=256)"
    scored = [t for w in plan.windows for t in w.scored_targets()]
    assert scored == list(range(257, scored[-1] + 1))  # contiguous, no token twice
    assert plan.windows[0].n_scored == 255 and all(w.n_scored == 256 for w in plan.windows[1:])
    assert all(w.first >= 255 for w in plan.windows)  # every scored token sees >= 255 tokens of context
    assert plan.windows[-1].start + 512 <= len(STREAM)


def test_sliding_window_models_get_half_overlapping_windows_of_the_window():
    assert sliding_window_ctx(4096, 1024) == (1024, 512)
    assert sliding_window_ctx(512, 1024) == (512, 512)
    assert sliding_window_ctx(512, None) == (512, 512)
