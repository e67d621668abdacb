"""Known-bad engine x quant x architecture x hardware combinations, each with source and fix.

Data, not logic: `issues_for` filters the table for one lane. A field left empty matches
everything; matching is case-insensitive on prefixes for archs and exact for the rest.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from lanekit.catalog.harnesses import HERMES
from lanekit.catalog.shapes import ModelShape


class KnownIssue(BaseModel):
    """One field-reported problem: when it bites, where it was reported, what to do."""

    id: str
    title: str
    severity: str = Field(default="warn", description="fail = lane breaks, warn = slower or wasteful")
    engines: list[str] = Field(default_factory=list)
    quants: list[str] = Field(default_factory=list)
    archs: list[str] = Field(default_factory=list, description="model arch prefixes (qwen3_next, qwen35)")
    hardware: list[str] = Field(default_factory=list)
    needs_hybrid: bool = False
    needs_unified: bool = False
    harness: str | None = None
    feature: str | None = Field(default=None, description="lane feature it needs, e.g. draft-spec")
    source: str
    fix: str


_HYBRID_ARCHS = ["qwen3_next", "qwen3_5", "qwen35", "nemotron_h"]

ISSUES: list[KnownIssue] = [
    KnownIssue(
        id="cutlass-fp4-sm121", severity="fail", engines=["vllm", "sglang"], quants=["NVFP4"], hardware=["gb10"],
        title="CUTLASS FP4 GEMM kernels return garbage on sm_121 (GB10)",
        source="DGX Spark field reports; eugr/spark-vllm-docker recipes (section 9 of FIELD-NOTES)",
        fix="set VLLM_NVFP4_GEMM_BACKEND=marlin (or use a build with sm_121a FP4 kernels)"),
    KnownIssue(
        id="modelopt-nvfp4-marlin", severity="fail", engines=["vllm"], quants=["NVFP4"], hardware=["gb10"],
        title="modelopt-format NVFP4 checkpoints produce gibberish through the Marlin path; "
              "compressed-tensors NVFP4 works",
        source="DGX Spark field reports (vLLM on GB10, Marlin NVFP4 fallback)",
        fix="use the compressed-tensors (llm-compressor) NVFP4 checkpoint of the model, not the modelopt one"),
    KnownIssue(
        id="nvfp4-marlin-backend", severity="warn", engines=["vllm"], quants=["NVFP4"], hardware=["gb10"],
        title="NVFP4 on GB10 needs VLLM_NVFP4_GEMM_BACKEND=marlin until native sm_121 kernels ship",
        source="eugr/spark-vllm-docker recipes; vLLM NVFP4 backend selection",
        fix="export VLLM_NVFP4_GEMM_BACKEND=marlin in the lane's env"),
    KnownIssue(
        id="flashinfer-sm121", severity="fail", engines=["vllm", "sglang"], hardware=["gb10"],
        title="FlashInfer ships no sm_121 cubins: attention backend fails or JIT-compiles for minutes",
        source="DGX Spark field reports; vLLM blog PR #214 (--enforce-eager baseline on sm_121)",
        fix="set VLLM_ATTENTION_BACKEND=TRITON_ATTN (and start from --enforce-eager)"),
    KnownIssue(
        id="gdn-hybrid-stock-images", severity="warn", engines=["vllm", "sglang"], archs=_HYBRID_ARCHS,
        needs_hybrid=True, hardware=["gb10"],
        title="Gated DeltaNet / Mamba hybrids run far below their roofline on stock images "
              "(no tuned sm_121 kernels; prefix caching limited)",
        source="eugr/spark-vllm-docker (--mamba-cache-mode align, custom builds); FIELD-NOTES section 8",
        fix="use the community spark-vllm image with --mamba-cache-mode align, or llama.cpp for single-stream"),
    KnownIssue(
        id="draft-spec-decode-uma", severity="warn", needs_unified=True, feature="draft-spec",
        title="Draft-model speculative decoding loses on unified memory: the draft competes for the "
              "same bandwidth it is meant to save",
        source="DGX Spark field reports (llama.cpp -md, vLLM draft_model); FIELD-NOTES section 9",
        fix="use MTP / EAGLE heads built into the model (speculative-config method mtp) or no speculation"),
    KnownIssue(
        id="hermes-64k-floor", severity="fail", harness="hermes",
        title=f"Hermes Agent refuses models whose context window is below {HERMES.min_context:,} tokens",
        source=HERMES.source,
        fix=f"serve >= {HERMES.serve_context} tokens per request: vLLM --max-model-len >= {HERMES.serve_context}, "
            f"llama.cpp -c >= {HERMES.serve_context} x -np"),
    KnownIssue(
        id="vllm-sleep-uma", severity="warn", engines=["vllm"], needs_unified=True,
        title="vLLM sleep mode frees nothing on unified memory: the reservation stays mapped",
        source="DGX Spark field reports; vLLM sleep-mode on UMA",
        fix="stop the lane to free memory; size gpu_memory_utilization for everything that must co-reside"),
    KnownIssue(
        id="vllm-uma-reservation", severity="warn", engines=["vllm", "sglang"], needs_unified=True,
        title="vLLM reserves gpu_memory_utilization x the whole unified pool and checks MemAvailable, "
              "so page cache from loading weights can fail the start",
        source="NVIDIA/xr-ai #440/#462, vllm #48140, #56824, eugr PR #286",
        fix="drop caches before launch (sync; echo 3 > /proc/sys/vm/drop_caches), lower "
            "--gpu-memory-utilization, or set --kv-cache-memory-bytes"),
    KnownIssue(
        id="llamacpp-checkpoint-quant", severity="fail", engines=["llamacpp", "ollama"],
        quants=["FP8", "FP8_DYNAMIC", "AWQ", "GPTQ"],
        title="llama.cpp / Ollama load GGUF files only; FP8 / AWQ / GPTQ checkpoints need conversion",
        source="llama.cpp convert_hf_to_gguf.py",
        fix="use a GGUF quant (Q4_K_M, Q8_0) of the model, or serve the checkpoint with vLLM"),
]


def _match(wanted: list[str], value: str | None) -> bool:
    if not wanted:
        return True
    if value is None:
        return False
    value = value.upper()
    return any(value == w.upper() or value.startswith(w.upper() + "-") for w in wanted)


def issues_for(shape: ModelShape | None, *, engine: str, quant: str | None, hardware: str | None = None,
               unified: bool = False, harness: str | None = None,
               features: set[str] | frozenset[str] = frozenset()) -> list[KnownIssue]:
    """Issues that apply to a lane: engine x quant x arch x hardware, plus harness and lane
    features (`{"draft-spec"}`) when given."""
    arch = (shape.arch if shape else "") or ""
    found = []
    for issue in ISSUES:
        if issue.engines and engine not in issue.engines:
            continue
        if not _match(issue.quants, quant):
            continue
        if issue.archs and not any(arch.lower().startswith(a) for a in issue.archs):
            continue
        if issue.needs_hybrid and not (shape and shape.is_hybrid):
            continue
        if issue.hardware and (hardware or "") not in issue.hardware:
            continue
        if issue.needs_unified and not unified:
            continue
        if issue.harness and issue.harness != harness:
            continue
        if issue.feature and issue.feature not in features:
            continue
        found.append(issue)
    return found
