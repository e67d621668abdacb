"""Which decode terms apply: calibrated here, shipped with lanekit, or a generic estimate.

Terms files are `SpeedTerms` JSON named `<hardware>-<engine>.json`. `lanekit calibrate` writes
this machine's into `$LANEKIT_HOME/speed_terms/`; lanekit ships the ones its own calibrate
measured on lent GPUs in `catalog/data/speed_terms/` (the same format: a file calibrate wrote
is dropped in as it is). `resolve_terms` takes the first that exists: calibrated here, a
legacy `hw --calibrate` fit, shipped, else the generic estimate from the spec-sheet bandwidth.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from lanekit.catalog.hardware import DecodeTerms, HardwareProfile
from lanekit.catalog.predict import SpeedTerms
from lanekit.errors import ConfigError

SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "speed_terms"
LOCAL_SUBDIR = "speed_terms"
# Generic estimate: what the spec sheet allows at the efficiency GPUs typically reach, plus
# llama-server's per-token cost measured on an H200 (0.17 ms + 3.3 ns per vocabulary entry).
GENERIC_EFFICIENCY = 0.75
GENERIC_LAYER_US = 50.0
GENERIC_SERVER_TOKEN_US = 170.0
GENERIC_SERVER_VOCAB_NS = 3.3


def terms_filename(hardware: str, engine: str) -> str:
    """`h200-llamacpp.json`: the one name a terms file has, shipped or local."""
    return f"{hardware}-{engine}.json"


def local_dir() -> Path:
    """Where `lanekit calibrate` saves this machine's terms."""
    from lanekit import dirs

    return dirs.home() / LOCAL_SUBDIR


def load_terms_file(path: Path, origin: str | None = None) -> SpeedTerms:
    """Read one terms file; ConfigError naming the file when it is not valid SpeedTerms JSON."""
    try:
        data = json.loads(Path(path).read_text())
        if origin is not None:
            data["origin"] = origin
        return SpeedTerms.model_validate(data)
    except (OSError, ValueError, ValidationError) as exc:
        raise ConfigError(f"{path}: not a readable speed-terms file ({str(exc).splitlines()[0]})",
                          fix="run `lanekit calibrate` again, or delete the file") from None


def save_terms(terms: SpeedTerms, folder: Path | None = None) -> Path:
    """Write `terms` as `<hardware>-<engine>.json` (atomically) and return the path."""
    folder = Path(folder) if folder is not None else local_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / terms_filename(terms.hardware, terms.engine)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(terms.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def shipped_terms(hardware: str, engine: str) -> SpeedTerms | None:
    """The terms lanekit ships for this hardware key and engine, if any."""
    path = SHIPPED_DIR / terms_filename(hardware, engine)
    if not path.is_file():
        return None
    terms = load_terms_file(path)
    # a shipped file keeps "estimate" when it was never measured (the Spark's); otherwise shipped
    return terms if terms.origin == "estimate" else terms.model_copy(update={"origin": "shipped"})


def calibrated_terms(hardware: str, engine: str) -> SpeedTerms | None:
    """Terms `lanekit calibrate` saved on this machine for this hardware key and engine."""
    path = local_dir() / terms_filename(hardware, engine)
    if not path.is_file():
        return None
    return load_terms_file(path, origin="calibrated")


def generic_terms(hw: HardwareProfile, engine: str) -> SpeedTerms:
    """The estimate when nothing was measured: 75% of peak bandwidth for every type, 50 µs/layer."""
    bw = hw.measured_bandwidth_gb_s or hw.bandwidth_gb_s
    return SpeedTerms(hardware=hw.key, engine=engine, origin="estimate",
                      source=f"generic, from the spec sheet: {GENERIC_EFFICIENCY:.0%} of {bw:.0f} GB/s for every "
                             f"type, {GENERIC_LAYER_US:.0f} µs/layer",
                      default_bandwidth_gb_s=GENERIC_EFFICIENCY * bw, layer_us=GENERIC_LAYER_US,
                      server_token_us=GENERIC_SERVER_TOKEN_US, server_vocab_ns=GENERIC_SERVER_VOCAB_NS)


def from_legacy(hw: HardwareProfile, engine: str, legacy: DecodeTerms) -> SpeedTerms:
    """A two-term `hw --calibrate` fit (one bandwidth, one per-layer latency) as SpeedTerms.

    Those fits came from llama-bench, so the server's per-token cost is the generic one.
    """
    return SpeedTerms(hardware=hw.key, engine=engine, origin="estimate" if legacy.estimated else "calibrated",
                      source=f"{legacy.source} (one bandwidth for every type)",
                      default_bandwidth_gb_s=legacy.effective_bandwidth_gb_s, layer_us=legacy.per_layer_latency_us,
                      server_token_us=GENERIC_SERVER_TOKEN_US, server_vocab_ns=GENERIC_SERVER_VOCAB_NS)


def terms_engine(engine: str) -> str:
    """The engine key terms are filed under (`vllm-docker` and `trtllm` lanes use vLLM's)."""
    from lanekit.catalog.memory import normalize_engine

    try:
        return normalize_engine(engine.removesuffix("-docker"))
    except ConfigError:
        return engine


def resolve_terms(hw: HardwareProfile, engine: str = "llamacpp") -> SpeedTerms:
    """The best terms for `hw` and `engine`: calibrated here > legacy fit > shipped > generic."""
    engine = terms_engine(engine)
    found = calibrated_terms(hw.key, engine)
    if found is not None:
        return found
    legacy = hw.decode_terms.get(engine)
    if legacy is not None and not legacy.estimated:
        return from_legacy(hw, engine, legacy)
    found = shipped_terms(hw.key, engine)
    if found is not None:
        return found
    if legacy is not None:
        return from_legacy(hw, engine, legacy)
    return generic_terms(hw, engine)
