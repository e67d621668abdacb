"""`lanekit synth`: write a shape-true synthetic GGUF (random quantized weights) for speed tests.

Parse flags → `lanekit.synth.synth_model` (or `plan_model` with --dry-run) → a summary line,
or the `--json` object (schema_version 1) that includes a ready `synthetic: true` lane spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the `synth` command to the app."""
    app.command(name="synth")(synth)


def synth(
    model: Annotated[str, typer.Argument(help="catalog id or alias (Qwen/Qwen3-30B-A3B), or a config.json")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="GGUF to write (required unless --dry-run)")] = None,
    quant: Annotated[str, typer.Option("--quant", help="Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K_M, Q4_K_S, Q5_K_M, "
                                                        "Q6_K, IQ4_NL, MXFP4_MOE, F16, BF16")] = "Q4_0",
    layers: Annotated[int | None, typer.Option("--layers", min=1, help="layer count (default: the model's own)")] = None,
    donor: Annotated[Path | None, typer.Option("--donor", help="GGUF whose tokenizer is copied "
                                               "(default: the embedded SmolLM2-135M, 49,152 tokens)")] = None,
    vocab: Annotated[str, typer.Option("--vocab", help="donor: the donor's vocabulary size; model: the model's "
                                                       "own, padded with unused tokens")] = "donor",
    pure: Annotated[bool, typer.Option("--pure", help="every weight at --quant (llama-quantize --pure); default "
                                                      "follows llama-quantize's per-tensor mix (output Q6_K, ...)")] = False,
    seed: Annotated[int, typer.Option("--seed", min=0, help="random seed (same seed, same bytes)")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the sizes the file would have; write nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON object instead of a summary")] = False,
) -> None:
    """Write a GGUF with random quantized blocks in the exact tensor shapes of a catalog model.

    The text it generates is garbage; the bytes read per token are the real ones, so decode
    speed on it is that shape's speed on this hardware. Lanes on it are synthetic: speed only.
    """
    from lanekit.cli.output import console, print_json
    from lanekit.errors import ConfigError
    from lanekit.synth import plan_model, synth_model
    from lanekit.synth.donor import read_tokenizer, vocab_size

    if vocab not in ("donor", "model"):
        raise ConfigError(f"--vocab must be 'donor' or 'model' (got {vocab!r})", fix="pass --vocab donor or --vocab model")
    donor_path = donor or _embedded_donor()
    if dry_run:
        n_vocab = None if vocab == "model" else vocab_size(read_tokenizer(donor_path))
        plan = plan_model(model, quant=quant, layers=layers, vocab_size=n_vocab, pure=pure)
        row = {"schema_version": 1, "model": plan.source.name, "hf_id": plan.source.hf_id, "arch": plan.arch,
               "quant": plan.quant, "n_layers": plan.n_layers, "vocab_size": plan.vocab_size,
               "n_tensors": len(plan.tensors), "weights_bytes": plan.weights_bytes,
               "total_params": plan.total_params, "active_params": plan.active_params,
               "type_bytes": plan.type_bytes(), "dry_run": True}
        if as_json:
            print_json(row)
        else:
            console.print(f"{plan.source.hf_id or plan.source.name} as {plan.arch} {plan.quant}: {plan.n_layers} layers, "
                          f"{len(plan.tensors)} tensors, {plan.weights_bytes / 2**30:.2f} GiB, "
                          f"{plan.active_params / 1e9:.2f}B active (dry run: nothing written)", markup=False)
        return
    if out is None:
        raise ConfigError("synth needs --out FILE.gguf", fix="lanekit synth Qwen/Qwen3-30B-A3B --out /tmp/a3b.gguf")

    import sys
    import time

    shown = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if sys.stderr.isatty() and (now - shown[0] > 0.5 or done == total):
            shown[0] = now
            sys.stderr.write(f"\r  writing {done / 2**30:6.2f} / {total / 2**30:.2f} GiB")
            sys.stderr.flush()

    result = synth_model(model, out, donor=donor_path, quant=quant, layers=layers, seed=seed,
                         vocab=vocab, pure=pure, progress=progress)  # type: ignore[arg-type]
    if as_json:
        print_json(result.to_json())
        return
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    console.print(f"wrote {result.path}: synthetic {result.hf_id or result.model} as {result.arch} {result.quant}, "
                  f"{result.n_layers}/{result.source_layers} layers, vocab {result.vocab_size:,}, "
                  f"{result.weights_bytes / 2**30:.2f} GiB in {result.seconds:.1f}s", markup=False)
    console.print(f"  {result.active_params / 1e9:.2f}B active of {result.total_params / 1e9:.2f}B; "
                  f"check: lanekit fit {result.path} --json", markup=False, style="dim")
    console.print(f"  serve it as a synthetic lane: lanekit up --model {result.path}   (speed only: random weights)",
                  markup=False, style="dim")


def _embedded_donor() -> Path:
    from lanekit.lanes.embedded import model_path

    return model_path("smollm2-135m")
