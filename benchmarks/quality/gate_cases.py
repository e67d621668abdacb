"""Collect real replies from healthy and deliberately broken llama-server lanes for the gate.

    python3 benchmarks/quality/gate_cases.py --out tests/unit/quality/data/gate_replies.jsonl [--only smollm2]

Healthy: the embedded SmolLM2-135M and Qwen2.5-Coder-1.5B (and requantized copies that stay
healthy). Broken: random-weight `synth` files, corrupted tensors (shuffled blocks, noise),
wrong chat templates, wrong RoPE/YaRN settings, a quant broken past use (SmolLM2 at Q2_K).
Every lane is a real llama-server started through lanekit's lifecycle; every reply is kept
verbatim with its case and label, so `gate_report.py` (and a unit test) replay them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

PROMPTS = [
    "What is the capital of France? Answer with one word.",
    "Continue the sequence with the next three numbers: 1, 2, 3, 4,",
    "Write one sentence about the ocean.",
    "Name three colors.",
    "What is 2 + 2? Answer briefly.",
    "Explain what a computer is in one sentence.",
    "Translate 'good morning' into French.",
    "Write a haiku about autumn.",
    "List the days of the week.",
    "Write a Python function that returns the sum of two numbers.",
]
SAMPLING = [{"temperature": 0.0}, {"temperature": 0.8, "seed": 1}, {"temperature": 0.8, "seed": 2}]
RAW_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"  # no roles, no generation prompt

_SMOL_CFG = {"model_type": "llama", "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
             "hidden_size": 576, "intermediate_size": 1536, "vocab_size": 49152, "max_position_embeddings": 8192,
             "tie_word_embeddings": True, "rope_theta": 100000}
_QWEN3_CFG = {"model_type": "qwen3", "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
              "head_dim": 128, "hidden_size": 2048, "intermediate_size": 6144, "vocab_size": 151936,
              "max_position_embeddings": 40960, "tie_word_embeddings": True, "rope_theta": 1000000}


def _bin(name: str) -> str:
    from lanekit.lanes.engines.llamacpp import find_llama_server

    return str(Path(find_llama_server()).with_name(name))


def prepare(work: Path) -> dict[str, dict]:
    """Make every model file and return the cases: name -> lane fields + label."""
    from lanekit.lanes.embedded import model_path
    from lanekit.quality.faults import corrupt_gguf
    from lanekit.synth import synth_model

    work.mkdir(parents=True, exist_ok=True)
    smol, qwen = model_path("smollm2-135m"), model_path("qwen2.5-coder-1.5b")

    def requant(src: Path, quant: str) -> Path:
        out = work / f"{src.stem}-{quant}.gguf"
        if not out.is_file():
            subprocess.run([_bin("llama-quantize"), "--allow-requantize", str(src), str(out), quant],
                           check=True, capture_output=True)
        return out

    def synth(cfg: dict, name: str, layers: int | None, seed: int) -> Path:
        out = work / f"synth-{name}-s{seed}.gguf"
        if not out.is_file():
            cfg_path = work / f"{name}-config.json"
            cfg_path.write_text(json.dumps(cfg))
            synth_model(str(cfg_path), out, donor=smol, quant="Q4_0", layers=layers, seed=seed)
        return out

    def corrupt(src: Path, name: str, pattern: str, kind: str) -> Path:
        out = work / f"corrupt-{name}.gguf"
        if not out.is_file():
            corrupt_gguf(src, out, pattern=pattern, kind=kind)  # type: ignore[arg-type]
        return out

    raw = work / "raw-template.jinja"
    raw.write_text(RAW_TEMPLATE)
    h, b = "healthy", "broken"
    return {
        "smollm2": {"model": str(smol), "label": h, "kind": "healthy"},
        "smollm2-q8_0": {"model": str(requant(smol, "Q8_0")), "label": h, "kind": "healthy"},
        "qwen": {"model": str(qwen), "label": h, "kind": "healthy"},
        "qwen-q4_0": {"model": str(requant(qwen, "Q4_0")), "label": h, "kind": "healthy"},
        "synth-smollm2-shape": {"model": str(synth(_SMOL_CFG, "smollm2", None, 0)), "label": b, "kind": "synth"},
        "synth-qwen3-1.7b-shape-8l": {"model": str(synth(_QWEN3_CFG, "qwen3", 8, 1)), "label": b, "kind": "synth"},
        "corrupt-smollm2-attn-shuffle": {"model": str(corrupt(smol, "smollm2-attn-shuffle",
                                                              r"attn_(q|k)\.weight", "shuffle")),
                                         "label": b, "kind": "corrupt"},
        "corrupt-smollm2-ffn-noise-4l": {"model": str(corrupt(smol, "smollm2-ffn-noise",
                                                              r"blk\.(3|9|15|21)\.ffn_down", "noise")),
                                         "label": b, "kind": "corrupt"},
        "corrupt-qwen-ffn-shuffle": {"model": str(corrupt(qwen, "qwen-ffn-shuffle", r"ffn_(up|gate)\.weight",
                                                          "shuffle")), "label": b, "kind": "corrupt"},
        "smollm2-q2_k": {"model": str(requant(smol, "Q2_K")), "label": b, "kind": "broken-quant"},
        "template-smollm2-llama2": {"model": str(smol), "label": b, "kind": "template",
                                    "extra_args": ["--chat-template", "llama2"]},
        "template-qwen-raw": {"model": str(qwen), "label": b, "kind": "template", "chat_template_file": str(raw)},
        "template-smollm2-raw": {"model": str(smol), "label": b, "kind": "template", "chat_template_file": str(raw)},
        "rope-smollm2-freq-base-100": {"model": str(smol), "label": b, "kind": "rope",
                                       "extra_args": ["--rope-freq-base", "100"]},
        "rope-qwen-yarn-x16": {"model": str(qwen), "label": b, "kind": "rope",
                               "extra_args": ["--rope-scaling", "yarn", "--rope-scale", "16", "--yarn-orig-ctx",
                                              "256"]},
        "rope-qwen-freq-scale-0.1": {"model": str(qwen), "label": b, "kind": "rope",
                                     "extra_args": ["--rope-freq-scale", "0.1"]},
    }


def collect(name: str, case: dict, max_tokens: int, samplings: list[dict]) -> list[dict]:
    """Start the lane, ask every prompt under every sampling setting, tear it down."""
    from lanekit.lanes.lifecycle import serve_lane
    from lanekit.lanes.spec import parse_lane

    fields = {k: v for k, v in case.items() if k not in ("label", "kind")}
    spec = parse_lane({"name": f"gate-{name}", "engine": "llamacpp", "ctx": 2048, "threads": 2,
                       "warm_timeout_s": 180, **fields})
    rows = []
    with serve_lane(spec) as lane, httpx.Client(timeout=300) as client:
        for prompt in PROMPTS:
            for sampling in samplings:
                body = {"model": lane.model_id, "messages": [{"role": "user", "content": prompt}],
                        "max_tokens": max_tokens, **sampling}
                resp = client.post(f"{lane.base_url}/chat/completions", json=body)
                text = resp.json()["choices"][0]["message"].get("content") or "" if resp.status_code == 200 else ""
                rows.append({"case": name, "label": case["label"], "kind": case["kind"], "prompt": prompt,
                             "sampling": sampling, "http_status": resp.status_code, "reply": text})
    return rows


def main() -> None:
    """Prepare the files, collect replies case by case, append them to --out as JSONL."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/lanekit-gate-cases"))
    ap.add_argument("--only", default="", help="comma-separated substrings of case names")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--samples", type=int, default=len(SAMPLING), help="sampling settings per prompt (1..3)")
    args = ap.parse_args()
    import signal

    def _stop(signum, frame):  # SIGTERM tears the current lane down like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    cases = prepare(args.work)
    done = set()
    if args.out.is_file():  # resume: cases already in the file are kept, not asked again
        done = {json.loads(line)["case"] for line in args.out.read_text().splitlines() if line.strip()}
    wanted = [c for c in cases if c not in done and (not args.only or any(s in c for s in args.only.split(",")))]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        t0 = time.monotonic()
        rows = collect(name, cases[name], args.max_tokens, SAMPLING[:args.samples])
        with args.out.open("a") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
        print(f"{name}: {len(rows)} replies in {time.monotonic() - t0:.0f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
