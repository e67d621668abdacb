"""`lanekit quality` vs a hand-run `llama-perplexity --kl-divergence`, side by side.

    python3 benchmarks/quality/acceptance.py [--model qwen2.5-coder-1.5b] [--quants Q4_0,Q3_K_S]
                                             [--ctx 512] [--chunks 8] [--work /tmp/lanekit-acceptance]

Requantizes the embedded model with the shipped llama-quantize (--allow-requantize), runs
`lanekit quality BASE QUANT... --json`, then the reference by hand (base log-probs with -f,
`--kl-divergence` per quant), and prints PPL, mean KLD and top-1 agreement from both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from lanekit.lanes.embedded import resolve_model_file
from lanekit.quality.corpus import load_corpus
from lanekit.quality.llamacpp import PerplexityRun, _parse, find_llama_perplexity


def main() -> None:
    """Run both sides and print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--quants", default="Q4_0,Q3_K_S")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/lanekit-acceptance"))
    args = ap.parse_args()
    bindir = Path(find_llama_perplexity()).parent
    args.work.mkdir(parents=True, exist_ok=True)
    base = resolve_model_file(args.model)
    quants = []
    for q in args.quants.split(","):
        out = args.work / f"{base.stem}-{q}.gguf"
        if not out.is_file():
            subprocess.run([str(bindir / "llama-quantize"), "--allow-requantize", str(base), str(out), q],
                           check=True, capture_output=True)
        quants.append(out)
    env = {**os.environ, "LANEKIT_HOME": str(args.work / "home")}
    lk = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "quality", str(base), *map(str, quants),
                         "--ctx", str(args.ctx), "--chunks", str(args.chunks), "--threads", str(args.threads),
                         "--json"], capture_output=True, text=True, env=env, check=True)
    table = json.loads(lk.stdout)
    rows = {r["label"]: r for r in table["rows"]}
    common = ["-c", str(args.ctx), "-t", str(args.threads)]
    ref_file = args.work / "reference-base.kld"
    out = subprocess.run([str(bindir / "llama-perplexity"), "-m", str(base), "-f", str(load_corpus().path),
                          "--chunks", str(args.chunks), "--kl-divergence-base", str(ref_file), *common],
                         capture_output=True, text=True, check=True)
    ref_base = PerplexityRun(argv=[])
    _parse(ref_base, out.stdout + out.stderr)
    print(f"corpus {table['corpus']} sha256 {table['corpus_sha256']}")
    print(f"ctx {args.ctx} x {args.chunks} chunks; base {table['base']}; tokens sha256 "
          f"{rows[base.name]['tokens_sha256'][:16]}")
    print(f"{'file':44} {'':10} {'PPL':>10} {'KLD':>10} {'top-1 %':>9}")
    print(f"{base.name[:44]:44} {'lanekit':10} {rows[base.name]['ppl']['ppl']:10.4f} {'base':>10} {'base':>9}")
    print(f"{'':44} {'llama.cpp':10} {ref_base.ppl:10.4f}")
    for q in quants:
        out = subprocess.run([str(bindir / "llama-perplexity"), "-m", str(q), "--kl-divergence-base", str(ref_file),
                              "--kl-divergence", *common], capture_output=True, text=True, check=True)
        ref = PerplexityRun(argv=[])
        _parse(ref, out.stdout + out.stderr)
        r = rows[q.name]
        print(f"{q.name[:44]:44} {'lanekit':10} {r['ppl']['ppl']:10.4f} {r['kld']['kld_mean']:10.6f} "
              f"{100 * r['kld']['same_top']:9.3f}")
        print(f"{'':44} {'llama.cpp':10} {ref.stats['ppl']:10.4f} {ref.stats['kld_mean']:10.6f} "
              f"{100 * ref.stats['same_top']:9.3f}")


if __name__ == "__main__":
    main()
