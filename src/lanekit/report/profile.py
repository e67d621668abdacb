"""Write (or re-render) a profile directory from the results store.

    report.html  README.md  manifest.json  lanes.yaml  launch/  hermes/  llama-swap/  plots/  raw/

The directory is rendered whole into a temporary directory beside it, then swapped in (an atomic
exchange where the kernel has one), so a re-render leaves no stale script or plot and a crash or
Ctrl-C mid-render leaves the previous profile as it was. A directory that is not a lanekit
profile is never replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from lanekit.report.render.json import jsonable
from lanekit.results.models import BakeoffReport, LaneResult


def _dump_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(jsonable(value), indent=2, default=str) + "\n")


def build_report(store, run_id: str, *, resumed_lanes: list[str] | None = None) -> BakeoffReport:
    """The run's BakeoffReport: its stored lane results (each lane's last attempt), ranked, with
    the warnings that say when the ranking's order is within noise.

    A finished run's report is what the bakeoff saved; a run still unfinished is ranked on what it
    has. Raises ConfigError for a run that is not a bakeoff or holds no lane results.
    """
    from lanekit.errors import ConfigError
    from lanekit.report.noise import noise_warnings
    from lanekit.results.ranking import RankingCfg, rank

    run = store.get_run(run_id)
    if run.get("kind") != "bakeoff":
        kind = str(run.get("kind"))
        raise ConfigError(f"run {run['run_id']} is {'an' if kind[:1] in 'aeiou' else 'a'} {kind} run, not a "
                          "bakeoff: it has no ranked lanes to profile",
                          fix="`lanekit show RUN` shows any run; `lanekit profile` renders bakeoffs")
    meta = run.get("meta") or {}
    plan = meta.get("plan") or {}
    raw = [s["summary"] for s in store.summaries(run["run_id"]) if s["scenario"] == "lane"]
    if not raw:
        raise ConfigError(f"run {run['run_id']} holds no lane results yet ({run.get('status')})",
                          fix="wait for its first lane to finish, or resume it with `lanekit bakeoff PLAN`")
    try:
        lanes = [LaneResult.model_validate(x) for x in raw]
    except ValueError:
        raise ConfigError(f"run {run['run_id']} was recorded by an older lanekit (untyped lane results)",
                          fix="run the bakeoff again to get a profile") from None
    names = [lane.get("name") for lane in plan.get("lanes", [])]
    lanes.sort(key=lambda x: names.index(x.name) if x.name in names else len(names))
    ranking = rank(lanes, RankingCfg.model_validate(plan.get("ranking") or {}))
    report = BakeoffReport(run_id=run["run_id"], status=run.get("status"), plan_name=plan.get("name", "bakeoff"),
                           plan_digest=meta.get("plan_digest"), plan=plan, agent=meta.get("agent"),
                           hardware=meta.get("hardware") or {}, created_at=run.get("created_at"),
                           finished_at=run.get("finished_at"), elapsed_s=meta.get("elapsed_s"),
                           resumed_lanes=resumed_lanes or [], lanes=lanes, ranking=ranking)
    report.warnings = noise_warnings(report)
    return report


def _copy_chat_template(spec: dict, launch_dir: Path) -> None:
    """Put a llama.cpp lane's chat template next to its launch script (the script reads it there)."""
    if spec.get("engine") == "llamacpp" and spec.get("chat_template_file"):
        from lanekit.lanes.engines.llamacpp import resolve_template

        src = resolve_template(spec["chat_template_file"])
        shutil.copyfile(src, launch_dir / src.name)


def check_out_dir(out: Path) -> None:
    """Refuse to replace anything but a missing or empty directory (empty folders inside count as
    empty), or an earlier profile."""
    from lanekit.errors import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a directory", fix="pass a directory for the profile")
    holds_files = out.is_dir() and any(p.is_file() or p.is_symlink() for p in out.rglob("*"))
    if holds_files and not (out / "manifest.json").is_file():
        raise ConfigError(f"--out {out}: exists and is not a lanekit profile (no manifest.json); not replacing it",
                          fix="pass a new directory, or the directory of an earlier profile")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0


def _swap_in(tmp: Path, out: Path) -> None:
    """Make `tmp` the profile at `out`; the previous profile is removed only once the new one is in."""
    if not out.exists():
        os.rename(tmp, out)
        return
    if _exchange(tmp, out):
        shutil.rmtree(tmp)  # now holds the previous profile
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def write_profile(store, run_id: str, out_dir: str | Path, *, report: BakeoffReport | None = None,
                  compare_with: list[str] | None = None, appliance: str | Path | None = None) -> Path:
    """Render every profile file for `run_id` and put them at `out_dir`, replacing what was there.

    `compare_with`: runs to compare against in the HTML report (None: the previous finished run of
    the same plan, if any; []: none). `appliance`: an appliance file whose lanes become a
    llama-swap group.
    """
    out = Path(out_dir)
    check_out_dir(out)
    run_id = store.resolve_run_id(run_id)
    report = report or build_report(store, run_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide the profile from other users
        _render(store, report, tmp, final=out.absolute(), compare_with=compare_with, appliance=appliance)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _comparison(store, report: BakeoffReport, refs: list[str] | None):
    from lanekit.report.compare import compare_reports, previous_run

    if refs is None:  # the previous run of the plan, when it can be read (an older lanekit's cannot)
        from lanekit.errors import ConfigError

        prev = previous_run(store, report)
        try:
            others = [build_report(store, prev)] if prev else []
        except ConfigError:
            others = []
    else:
        others = [build_report(store, ref) for ref in refs]
    others = [r for r in others if r.run_id != report.run_id]
    if not others:
        return None
    runs = sorted([*others, report], key=lambda r: r.created_at or 0)
    return compare_reports(runs)


def _render(store, report: BakeoffReport, out: Path, *, final: Path, compare_with: list[str] | None,
            appliance: str | Path | None) -> None:
    from lanekit.report.export import run_csv
    from lanekit.report.figures import build_figures, telemetry_by_lane
    from lanekit.report.render.html import render_html
    from lanekit.report.render.launch import hermes_files, launch_script, systemd_unit
    from lanekit.report.render.llama_swap import appliance_groups, render_llama_swap
    from lanekit.report.render.markdown import render_readme
    from lanekit.report.render.plots import write_plots

    run_id = report.run_id
    for sub in ("launch", "hermes", "plots", "raw"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    samples = store.samples(run_id)
    latest = {}
    for s in samples:
        latest[s["lane"]] = max(latest.get(s["lane"], 0), s["attempt"])
    figures = build_figures(report, telemetry_by_lane([s for s in samples if s["attempt"] == latest.get(s["lane"])]))
    plots = write_plots(figures, out / "plots")
    specs = [x.spec for x in report.lanes if x.spec]
    (out / "lanes.yaml").write_text("# lane specs from lanekit run " + run_id + "\n"
                                    + yaml.safe_dump({"lanes": specs}, sort_keys=False))
    launch_files = {}
    judged = {x.name: x.judged for x in report.lanes}
    for spec in specs:
        script = out / "launch" / f"{spec['name']}.sh"
        try:
            script.write_text(launch_script(spec, template_beside=True, judged=judged.get(spec["name"])))
            _copy_chat_template(spec, out / "launch")
        except Exception as exc:  # noqa: BLE001 - e.g. binary missing on this machine: still write the unit
            script.write_text(f"#!/usr/bin/env bash\necho 'cannot render launch command: {exc}' >&2\nexit 1\n")
        script.chmod(0o755)
        (out / "launch" / f"lanekit-{spec['name']}.service").write_text(
            systemd_unit(spec, f"/opt/lanekit/launch/{spec['name']}.sh"))
        launch_files[spec["name"]] = f"launch/{spec['name']}.sh"

    best = report.lane(report.recommended) if report.recommended else None
    hermes_warnings: list[str] = []
    if best is not None:
        cfg, env, hermes_warnings = hermes_files(best.spec, judged=best.judged)
        (out / "hermes" / "config.yaml").write_text(cfg)
        (out / "hermes" / ".env.example").write_text(env)
    else:
        (out / "hermes" / "README.md").write_text("No lane was eligible, so no Hermes config is recommended.\n")
    swap = render_llama_swap(report, appliance=appliance_groups(appliance), template_dir=final / "launch")
    if swap is not None:
        (out / "llama-swap").mkdir()
        (out / "llama-swap" / "config.yaml").write_text(swap)

    readme = render_readme(report, plots)
    (out / "README.md").write_text(readme)
    (out / "raw" / "run.csv").write_text(run_csv(store, run_id))
    _dump_json(out / "raw" / "steps.json", store.lane_steps(run_id))
    with (out / "raw" / "samples.jsonl").open("w") as fh:
        for sample in samples:
            fh.write(json.dumps(jsonable(sample), default=str) + "\n")
    comparison = _comparison(store, report, compare_with)
    links = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) + ["manifest.json"]
    (out / "report.html").write_text(render_html(report, figures, readme=readme, comparison=comparison,
                                                 links=[p for p in links if not p.startswith("plots/")],
                                                 warnings=[f"Hermes: {w}" for w in hermes_warnings]))
    manifest = {**report.model_dump(mode="json"),
                "battery_sha256": sorted({x.eval.battery_sha256 for x in report.lanes
                                          if x.eval and x.eval.battery_sha256}),
                "prompt_sha256": sorted({(x.bench.single or {}).get("prompt_sha256") for x in report.lanes
                                         if (x.bench.single or {}).get("prompt_sha256")}),
                "trace_sha256": sorted({(x.bench.replay or {}).get("trace_sha256") for x in report.lanes
                                        if (x.bench.replay or {}).get("trace_sha256")}),
                "hermes_warnings": hermes_warnings, "plots": [f"plots/{p}" for p in plots], "launch": launch_files,
                "report_html": "report.html", "llama_swap": "llama-swap/config.yaml" if swap else None,
                "figures": [f.model_dump(mode="json") for f in figures],
                "comparison": comparison.model_dump(mode="json") if comparison else None}
    _dump_json(out / "manifest.json", manifest)
