"""Write (or re-render) a profile directory from the results store.

    README.md  manifest.json  lanes.yaml  launch/  hermes/  plots/  raw/
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from lanekit.report.render.json import jsonable
from lanekit.results.models import BakeoffReport, LaneResult


def _dump_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(jsonable(value), indent=2, default=str) + "\n")


def build_report(store, run_id: str, *, resumed_lanes: list[str] | None = None) -> BakeoffReport:
    """The run's BakeoffReport: its stored lane results (each lane's last attempt), ranked.

    A finished run's report is what the bakeoff saved; a run still unfinished is ranked on what it
    has. Raises ConfigError for a run that is not a bakeoff or holds no lane results.
    """
    from lanekit.errors import ConfigError
    from lanekit.results.ranking import RankingCfg, rank

    run = store.get_run(run_id)
    if run.get("kind") != "bakeoff":
        raise ConfigError(f"run {run['run_id']} is a {run.get('kind')} run, not a bakeoff",
                          fix="`lanekit show RUN` shows any run; `lanekit profile` renders bakeoffs")
    meta = run.get("meta") or {}
    plan = meta.get("plan") or {}
    raw = [s["summary"] for s in store.summaries(run["run_id"]) if s["scenario"] == "lane"]
    try:
        lanes = [LaneResult.model_validate(x) for x in raw]
    except ValueError:
        raise ConfigError(f"run {run['run_id']} was recorded by an older lanekit (untyped lane results)",
                          fix="run the bakeoff again to get a profile") from None
    names = [lane.get("name") for lane in plan.get("lanes", [])]
    lanes.sort(key=lambda x: names.index(x.name) if x.name in names else len(names))
    ranking = rank(lanes, RankingCfg.model_validate(plan.get("ranking") or {}))
    return BakeoffReport(run_id=run["run_id"], status=run.get("status"), plan_name=plan.get("name", "bakeoff"),
                         plan_digest=meta.get("plan_digest"), plan=plan, agent=meta.get("agent"),
                         hardware=meta.get("hardware") or {}, created_at=run.get("created_at"),
                         finished_at=run.get("finished_at"), elapsed_s=meta.get("elapsed_s"),
                         resumed_lanes=resumed_lanes or [], lanes=lanes, ranking=ranking)


def _copy_chat_template(spec: dict, launch_dir: Path) -> None:
    """Put a llama.cpp lane's chat template next to its launch script (the script reads it there)."""
    if spec.get("engine") == "llamacpp" and spec.get("chat_template_file"):
        import shutil

        from lanekit.lanes.engines.llamacpp import resolve_template

        src = resolve_template(spec["chat_template_file"])
        shutil.copyfile(src, launch_dir / src.name)


def write_profile(store, run_id: str, out_dir: str | Path, *, report: BakeoffReport | None = None) -> Path:
    """Render every profile file for `run_id` into `out_dir` (created or refreshed)."""
    from lanekit.report.render.launch import hermes_files, launch_script, systemd_unit
    from lanekit.report.render.markdown import render_readme
    from lanekit.report.render.plots import write_plots

    out = Path(out_dir)
    for sub in ("launch", "hermes", "plots", "raw"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    run_id = store.resolve_run_id(run_id)
    report = report or build_report(store, run_id)

    plots = write_plots(report, out / "plots")
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

    (out / "README.md").write_text(render_readme(report, plots))
    manifest = {**report.model_dump(mode="json"),
                "battery_sha256": sorted({x.eval.battery_sha256 for x in report.lanes
                                          if x.eval and x.eval.battery_sha256}),
                "prompt_sha256": sorted({(x.bench.single or {}).get("prompt_sha256") for x in report.lanes
                                         if (x.bench.single or {}).get("prompt_sha256")}),
                "trace_sha256": sorted({(x.bench.replay or {}).get("trace_sha256") for x in report.lanes
                                        if (x.bench.replay or {}).get("trace_sha256")}),
                "hermes_warnings": hermes_warnings, "plots": [f"plots/{p}" for p in plots], "launch": launch_files}
    _dump_json(out / "manifest.json", manifest)
    _dump_json(out / "raw" / "steps.json", store.lane_steps(run_id))
    with (out / "raw" / "samples.jsonl").open("w") as fh:
        for sample in store.samples(run_id):
            fh.write(json.dumps(jsonable(sample), default=str) + "\n")
    return out
