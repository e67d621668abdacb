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
MIN_MEASURE_MB = 256        # below this a copy stays partly in cache: the number means nothing
IMPLAUSIBLE_SHARE = 1 / 3   # a result under a third of the spec sheet is a wrong test, not this box


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
    measure: bool = typer.Option(False, "--measure", help="measure copy bandwidth here and report it (GPU via "
                                 "cupy); nothing is saved without --save"),
    size_mb: int = typer.Option(1024, "--size-mb", min=1, help=f"array size for --measure (at least {MIN_MEASURE_MB})"),
    device: str = typer.Option("auto", "--device", help="what --measure times: auto (the GPU on a GPU box, which "
                               "needs cupy), gpu, or cpu (reported only on a GPU box)"),
    save: bool = typer.Option(False, "--save", help="keep the --measure result as this machine's bandwidth for fit"),
    force: bool = typer.Option(False, "--force", help="--save a result far below the profile's peak anyway"),
    reset: bool = typer.Option(False, "--reset", help="forget the saved bandwidth of this profile"),
    calibrate: Annotated[list[str] | None, typer.Option(
        "--calibrate", help="FILE.gguf=TOK_S, twice or more: decode speeds of files of different size "
        "measured on one lane (llama-bench tg128); fits effective bandwidth and per-layer latency")] = None,
    engine: str = typer.Option("llamacpp", "--engine", help="engine the --calibrate speeds came from"),
    list_all: bool = typer.Option(False, "--list", help="list every built-in profile"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Show the hardware profile fit uses; optionally measure bandwidth or calibrate decode terms."""
    from lanekit.catalog.hardware import PROFILES, get_profile
    from lanekit.catalog.memory import normalize_engine
    from lanekit.cli.output import console, print_json
    from lanekit.errors import ConfigError

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
    if reset:
        _forget(profile.key, "measured_bandwidth_gb_s")
        profile = profile.model_copy(update={"measured_bandwidth_gb_s": None})
        out["reset"] = f"forgot the saved bandwidth of {profile.key}: fit uses {profile.bandwidth_gb_s:.0f} GB/s again"
    if save and not measure:
        raise ConfigError("--save keeps a --measure result", fix="lanekit hw --measure --save")
    if measure:
        result, verdict = _measure(profile, size_mb, device, save=save, force=force)
        out["measurement"] = {**result.model_dump(), **verdict}
        if verdict["saved"]:
            _save(profile.key, measured_bandwidth_gb_s=result.bandwidth_gb_s)
            profile = profile.model_copy(update={"measured_bandwidth_gb_s": result.bandwidth_gb_s})
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
    else:
        _render(profile, out)
    if save and not out["measurement"]["saved"]:
        raise typer.Exit(1)  # asked to save, refused (the reason is printed)


def _forget(key: str, field: str) -> None:
    data = load_calibration()
    if data.get(key, {}).pop(field, None) is not None:
        _calibration_path().write_text(json.dumps(data, indent=2, sort_keys=True))


def _measure(profile: HardwareProfile, size_mb: int, device: str, *, save: bool, force: bool):
    """Time the copy on the device this profile's bandwidth describes; say whether it may be saved.

    Refused: a test too small to leave the caches, the GPU of a GPU box without cupy (the CPU would
    be timed instead), and --save for a profile that is not this machine, for a CPU copy on a GPU
    profile, or for a result below a third of the profile's peak (without --force)."""
    from lanekit.catalog.hardware import detect, measure_bandwidth
    from lanekit.cli.output import err_console
    from lanekit.errors import ConfigError

    if size_mb < MIN_MEASURE_MB:
        raise ConfigError(f"--size-mb {size_mb}: too small to measure memory bandwidth (caches and thread start-up "
                          f"dominate below {MIN_MEASURE_MB} MB)", fix=f"use --size-mb {MIN_MEASURE_MB} or more "
                          "(the default is 1024)")
    if device not in ("auto", "gpu", "cpu"):
        raise ConfigError(f"--device {device!r}: expected auto, gpu or cpu", fix="e.g. --device cpu")
    here = detect()
    gpu_box = here.key not in ("cpu", "m4-max", "m3-ultra", "m2-ultra")
    want_gpu = device == "gpu" or (device == "auto" and gpu_box)
    if want_gpu:
        try:
            import cupy  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            raise ConfigError(f"this box has a GPU ({here.name}) but cupy is not installed: measuring would time the "
                              "CPU and call it the GPU", fix="pip install cupy-cuda13x (or cupy-cuda12x), or pass "
                              "--device cpu to time the CPU copy (reported, not saved)") from None
    with err_console.status(f"timing a {size_mb} MB copy on the {'GPU' if want_gpu else 'CPU'}…"):
        result = measure_bandwidth(size_mb * 1024**2, gpu=want_gpu)
    share = result.bandwidth_gb_s / profile.bandwidth_gb_s if profile.bandwidth_gb_s else None
    verdict: dict[str, Any] = {"share_of_peak": share, "saved": False, "not_saved_because": None}
    if not save:
        verdict["not_saved_because"] = "reported only (pass --save to keep it for fit)"
    elif profile.key != here.key:
        verdict["not_saved_because"] = f"profile {profile.key} is not this machine ({here.key})"
    elif gpu_box and not want_gpu:
        verdict["not_saved_because"] = f"a CPU copy does not measure {profile.key}'s GPU bandwidth"
    elif share is not None and share < IMPLAUSIBLE_SHARE and not force:
        verdict["not_saved_because"] = (f"{result.bandwidth_gb_s:.1f} GB/s is {share:.0%} of {profile.key}'s "
                                        f"{profile.bandwidth_gb_s:.0f} GB/s peak: pass --force to keep it anyway")
    else:
        verdict["saved"] = True
        verdict["replaced_gb_s"] = profile.measured_bandwidth_gb_s
    return result, verdict


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
    if "reset" in out:
        console.print(f"  {out['reset']}", markup=False)
    if "measurement" in out:
        m = out["measurement"]
        share = f" ({m['share_of_peak']:.0%} of the {p.bandwidth_gb_s:.0f} GB/s peak)" if m.get("share_of_peak") else ""
        console.print(f"  measured {m['device']}: {m['bandwidth_gb_s']:.1f} GB/s over {m['size_bytes'] / 1e6:.0f} MB"
                      + share, markup=False)
        if m["saved"]:
            was = f" (was {m['replaced_gb_s']:.1f})" if m.get("replaced_gb_s") else ""
            console.print(f"  saved for {p.key}{was}: fit uses it; `lanekit hw --reset` forgets it", markup=False)
        else:
            console.print(f"  not saved: {m['not_saved_because']}", markup=False)
    if "calibration" in out:
        for pt in out["calibration"]["points"]:
            console.print(f"  point {pt['file']}: {pt['tok_s']} tok/s, {pt['bytes_read_per_token'] / 1e9:.2f} GB/token, "
                          f"{pt['n_layers']} layers", style="dim")
