"""`lanekit quality --lane NAME` on a live llama.cpp lane: the lane's own GGUF and RoPE flags go to
llama-perplexity, and long-context PPL is skipped where the lane does not serve the depth."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from lanekit.lanes.lifecycle import serve_lane
from lanekit.lanes.spec import parse_lane


def _quality_lane(name: str, home, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "quality", "--lane", name, "--ctx", "128",
                           "--chunks", "2", "--threads", "2", "--json", *extra], capture_output=True, text=True,
                          env={**os.environ, "LANEKIT_HOME": str(home)}, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_quality_of_a_live_lane_uses_its_gguf_and_rope_flags(smollm2_path, tmp_path, monkeypatch):
    monkeypatch.setenv("LANEKIT_HOME", str(tmp_path))
    healthy = parse_lane({"name": "q-ok", "engine": "llamacpp", "model": str(smollm2_path), "ctx": 512})
    bad_rope = parse_lane({"name": "q-rope", "engine": "llamacpp", "model": str(smollm2_path), "ctx": 512,
                           "extra_args": ["--rope-freq-base", "100"]})
    with serve_lane(healthy):
        ok = _quality_lane("q-ok", tmp_path, "--depth", "1024")
    with serve_lane(bad_rope):
        rope = _quality_lane("q-rope", tmp_path)
    assert ok["label"] == "q-ok" and ok["model_file"] == str(smollm2_path) and ok["method"] == "llama-perplexity"
    assert ok["long_ctx"] is None and "serves 512 < depth 1,024" in ok["long_ctx_skipped"]
    assert rope["argv"][-2:] == ["--rope-freq-base", "100"]
    assert rope["tokens_sha256"] == ok["tokens_sha256"]  # same ids, so the two PPLs compare
    assert rope["ppl"]["ppl"] > 3 * ok["ppl"]["ppl"]  # the wrong RoPE shows as a blown-up perplexity
