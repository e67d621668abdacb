"""The bakeoff's `quality:` step: each lane's PPL on the shipped corpus, and KLD / top-1 against
the highest-precision lane of the same model, named in the profile."""

from __future__ import annotations

import subprocess

import yaml

from lanekit.bakeoff import load_plan, run_bakeoff
from lanekit.report.store import Store


def test_quality_step_measures_each_lane_against_the_models_best_file(tmp_path, llama_server, smollm2_path):
    from lanekit.lanes.engines.llamacpp_host import find_tool

    q8 = tmp_path / "smollm2-135m-q8_0.gguf"
    subprocess.run([find_tool("llama-quantize"), "--allow-requantize", str(smollm2_path), str(q8), "Q8_0"],
                   check=True, capture_output=True, timeout=300)
    bench = {"single": {"samples": 1, "max_tokens": 8, "warmup": 0}, "sustained": None, "sweep": None}
    plan = {"name": "quality", "bench": bench, "eval": {"agent": "none"}, "quality": {"ctx": 128, "chunks": 4},
            "lanes": [{"name": "q4", "engine": "llamacpp", "model": "smollm2-135m", "ctx": 512, "threads": 1},
                      {"name": "q8", "engine": "llamacpp", "model": str(q8), "ctx": 512, "threads": 1}]}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    report = run_bakeoff(load_plan(tmp_path / "plan.yaml"), out_dir=tmp_path / "profile",
                         store=Store(tmp_path / "r.sqlite"), resume=False)
    q4, q8r = report.lane("q4").quality, report.lane("q8").quality
    assert q8r.is_base or q8r.kld is None  # the base itself
    assert q4.kld is not None and q4.kld.base == q8.name and 0 < q4.kld.kld_mean < 5
    assert 0.3 < q4.kld.same_top < 1.0 and q4.ppl.ppl > 1
    assert q4.tokens_sha256 == q8r.tokens_sha256 and q4.corpus_sha256 == q8r.corpus_sha256  # same ids, same text
    steps = [s.step for s in report.lane("q4").steps]
    assert steps[-2:] == ["down", "quality"]  # llama.cpp: after teardown, one copy of the weights in memory
    readme = (tmp_path / "profile" / "README.md").read_text()
    assert "## Quality" in readme and q8.name in readme and f"{q4.kld.kld_mean:.6f}" in readme
