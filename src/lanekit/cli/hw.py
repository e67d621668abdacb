"""`lanekit hw`: what this box is, how fast it reads memory, and its calibrated decode terms.

Measurements and calibrations are saved in `$LANEKIT_HOME/calibration.json` and applied to
the matching profile by `lanekit fit`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from lanekit.catalog.hardware import HardwareProfile

CALIBRATION_FILE = "calibration.json"


def register(app: typer.Typer) -> None:
    """Add the `hw` command to the app."""
    app.command(name="hw")(hw)


def _calibration_path():  # -> Path (imported lazily)
    from lanekit import dirs

    return dirs.home() / CALIBRATION_FILE


def load_calibration() -> dict[str, Any]:
    """Saved measurements: {hw key: {"measured_bandwidth_gb_s": x, "decode_terms": {engine: terms}}}."""
    path = _calibration_path()
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def apply_calibration(profile: HardwareProfile) -> HardwareProfile:
    """The profile with this machine's saved bandwidth and decode terms laid over its defaults."""
    from lanekit.catalog.hardware import DecodeTerms

    saved = load_calibration().get(profile.key) or {}
    update: dict[str, Any] = {}
    if saved.get("measured_bandwidth_gb_s"):
        update["measured_bandwidth_gb_s"] = float(saved["measured_bandwidth_gb_s"])
    if saved.get("decode_terms"):
        terms = dict(profile.decode_terms)
        terms.update({k: DecodeTerms(**v) for k, v in saved["decode_terms"].items()})
        update["decode_terms"] = terms
    return profile.model_copy(update=update) if update else profile


def _save(key: str, **values: Any) -> None:
    data = load_calibration()
    entry = data.setdefault(key, {})
    for name, value in values.items():
        if isinstance(value, dict) and isinstance(entry.get(name), dict):
            entry[name].update(value)
        else:
            entry[name] = value
    _calibration_path().write_text(json.dumps(data, indent=2, sort_keys=True))


def hw(
    name: str = typer.Option("auto", "--hw", help="profile to show (auto = detect this machine)"),
    measure: bool = typer.Option(False, "--measure", help="measure copy bandwidth here (GPU via cupy)"),
    size_mb: int = typer.Option(512, "--size-mb", min=16, help="array size for --measure"),
    calibrate: Annotated[list[str] | None, typer.Option(
        "--calibrate", help="FILE.gguf=TOK_S, twice or more: decode speeds of files of different size "
        "measured on one lane (llama-bench tg128); fits effective bandwidth and per-layer latency")] = None,
    engine: str = typer.Option("llamacpp", "--engine", help="engine the --calibrate speeds came from"),
    list_all: bool = typer.Option(False, "--list", help="list every built-in profile"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Show the hardware profile fit uses; optionally measure bandwidth or calibrate decode terms."""
    from lanekit.catalog.hardware import PROFILES, get_profile, measure_bandwidth
    from lanekit.catalog.memory import normalize_engine
    from lanekit.cli.output import console, print_json

    if list_all:
        profiles = [p.model_dump() for p in PROFILES.values()]
        if as_json:
            print_json({"schema_version": 1, "profiles": profiles})
            return
        for p in PROFILES.values():
            console.print(f"{p.key:13s}{p.name[:37]:38s}{p.memory_bytes / 1e9:4.0f} GB {p.bandwidth_gb_s:5.0f} GB/s"
                          f"{' unified' if p.unified else ''}", markup=False)
        return
    profile = apply_calibration(get_profile(name))
    out: dict[str, Any] = {"schema_version": 1}
    if measure:
        result = measure_bandwidth(size_mb * 1024**2)
        _save(profile.key, measured_bandwidth_gb_s=result.bandwidth_gb_s)
        profile = profile.model_copy(update={"measured_bandwidth_gb_s": result.bandwidth_gb_s})
        out["measurement"] = result.model_dump()
    if calibrate:
        engine = normalize_engine(engine)
        terms, points = _calibrate(calibrate, profile.key, engine)
        _save(profile.key, decode_terms={engine: terms.model_dump()})
        profile = profile.model_copy(update={"decode_terms": {**profile.decode_terms, engine: terms}})
        out["calibration"] = {"engine": engine, "terms": terms.model_dump(), "points": points}
    out["profile"] = profile.model_dump()
    out["usable_bytes"] = profile.usable_bytes
    if as_json:
        print_json(out)
        return
    _render(profile, out)


def _calibrate(specs: list[str], key: str, engine: str):  # -> (DecodeTerms, list[dict])
    from lanekit.catalog.models import resolve_model
    from lanekit.catalog.roofline import active_bytes, calibrate
    from lanekit.errors import ConfigError

    points = []
    for spec in specs:
        path, sep, speed = spec.rpartition("=")
        try:
            tok_s = float(speed)
        except ValueError:
            tok_s = 0.0
        if not sep or tok_s <= 0:
            raise ConfigError(f"--calibrate {spec!r} is not FILE=TOK_S",
                              fix="e.g. --calibrate model-Q4_0.gguf=61.5 --calibrate model-Q8_0.gguf=40.2")
        shape = resolve_model(path)
        per_token = active_bytes(shape).per_token_bytes
        points.append({"file": path, "tok_s": tok_s, "bytes_read_per_token": per_token, "n_layers": shape.n_layers})
    terms = calibrate([(p["bytes_read_per_token"], p["n_layers"], 1.0 / p["tok_s"]) for p in points],
                      source=f"calibrated here ({key}, {engine}, {len(points)} files)")
    return terms, points


def _render(profile: HardwareProfile, out: dict[str, Any]) -> None:
    from lanekit.cli.output import console

    p = profile
    console.print(f"[bold]{p.name}[/] ({p.key}{', detected' if p.detected else ''})")
    console.print(f"  memory {p.memory_bytes / 1e9:.1f} GB{' unified' if p.unified else ''}, "
                  f"usable {p.usable_bytes / 1e9:.1f} GB; peak bandwidth {p.bandwidth_gb_s:.0f} GB/s"
                  + (f", measured {p.measured_bandwidth_gb_s:.1f} GB/s" if p.measured_bandwidth_gb_s else ""))
    if p.compute_capability or p.bf16_tflops:
        console.print(f"  compute capability {p.compute_capability or '-'}, bf16 {p.bf16_tflops or '-'} TFLOPS")
    for eng, t in p.decode_terms.items():
        console.print(f"  decode terms ({eng}): {t.effective_bandwidth_gb_s:.0f} GB/s effective + "
                      f"{t.per_layer_latency_us:.1f} µs/layer ({t.source}{', estimated' if t.estimated else ''})")
    if "measurement" in out:
        m = out["measurement"]
        console.print(f"  measured {m['device']}: {m['bandwidth_gb_s']:.1f} GB/s over {m['size_bytes'] / 1e6:.0f} MB")
    if "calibration" in out:
        for pt in out["calibration"]["points"]:
            console.print(f"  point {pt['file']}: {pt['tok_s']} tok/s, {pt['bytes_read_per_token'] / 1e9:.2f} GB/token, "
                          f"{pt['n_layers']} layers", style="dim")
