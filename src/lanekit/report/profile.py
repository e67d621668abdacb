"""Write (or re-render) a profile directory from the results store.

    README.md  manifest.json  lanes.yaml  launch/  hermes/  plots/  raw/
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from lanekit.report.render.json import jsonable

PROFILE_SCHEMA_VERSION = 1


def _dump_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(jsonable(value), indent=2, default=str) + "\n")


def load_ranked_lanes(store, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """(run, ranked lane results, verdict) for a bakeoff run in the store."""
    from lanekit.bakeoff.plan import RankingCfg
    from lanekit.bakeoff.ranking import rank, verdict_line

    run = store.get_run(run_id)
    meta = run.get("meta") or {}
    plan = meta.get("plan") or {}
    lanes = [s["summary"] for s in store.summaries(run_id) if s["scenario"] == "lane"]
    names = [lane.get("name") for lane in plan.get("lanes", [])]
    lanes.sort(key=lambda x: names.index(x["name"]) if x["name"] in names else len(names))
    ranked = rank(lanes, RankingCfg.model_validate(plan.get("ranking") or {}))
    return run, ranked, verdict_line(ranked)


def _copy_chat_template(spec: dict, launch_dir: Path) -> None:
    """Put a llama.cpp lane's chat template next to its launch script (the script reads it there)."""
    if spec.get("engine") == "llamacpp" and spec.get("chat_template_file"):
        import shutil

        from lanekit.lanes.engines.llamacpp import resolve_template

        src = resolve_template(spec["chat_template_file"])
        shutil.copyfile(src, launch_dir / src.name)


def write_profile(store, run_id: str, out_dir: str | Path) -> Path:
    """Render every profile file for `run_id` into `out_dir` (created or refreshed)."""
    from lanekit.report.render.launch import hermes_files, launch_script, systemd_unit
    from lanekit.report.render.markdown import render_readme
    from lanekit.report.render.plots import write_plots

    out = Path(out_dir)
    for sub in ("launch", "hermes", "plots", "raw"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    run_id = store.resolve_run_id(run_id)
    run, lanes, verdict = load_ranked_lanes(store, run_id)
    meta = run.get("meta") or {}

    plots = write_plots(lanes, out / "plots")
    specs = [x["spec"] for x in lanes if x.get("spec")]
    (out / "lanes.yaml").write_text("# lane specs from lanekit run " + run_id + "\n"
                                    + yaml.safe_dump({"lanes": specs}, sort_keys=False))
    launch_files = {}
    for spec in specs:
        script = out / "launch" / f"{spec['name']}.sh"
        try:
            script.write_text(launch_script(spec, template_beside=True))
            _copy_chat_template(spec, out / "launch")
        except Exception as exc:  # e.g. binary missing on this machine: still write the unit
            script.write_text(f"#!/usr/bin/env bash\necho 'cannot render launch command: {exc}' >&2\nexit 1\n")
        script.chmod(0o755)
        (out / "launch" / f"lanekit-{spec['name']}.service").write_text(
            systemd_unit(spec, f"/opt/lanekit/launch/{spec['name']}.sh"))
        launch_files[spec["name"]] = f"launch/{spec['name']}.sh"

    best = next((x for x in lanes if x.get("recommended")), None)
    hermes_warnings: list[str] = []
    if best is not None:
        cfg, env, hermes_warnings = hermes_files(best["spec"])
        (out / "hermes" / "config.yaml").write_text(cfg)
        (out / "hermes" / ".env.example").write_text(env)
    else:
        (out / "hermes" / "README.md").write_text("No lane was eligible, so no Hermes config is recommended.\n")

    (out / "README.md").write_text(render_readme(run, lanes, plots, verdict))
    manifest = {"schema_version": PROFILE_SCHEMA_VERSION, "run_id": run_id, "status": run.get("status"),
                "created_at": run.get("created_at"), "finished_at": run.get("finished_at"), "verdict": verdict, "recommended": best["name"] if best else None,
                "plan_digest": meta.get("plan_digest"), "plan": meta.get("plan"), "agent": meta.get("agent"),
                "hardware": meta.get("hardware"), "hermes_warnings": hermes_warnings,
                "battery_sha256": sorted({x.get("battery_sha256") for x in lanes if x.get("battery_sha256")}),
                "prompt_sha256": sorted({(x.get("single") or {}).get("prompt_sha256") for x in lanes
                                         if (x.get("single") or {}).get("prompt_sha256")}),
                "plots": [f"plots/{p}" for p in plots], "launch": launch_files, "lanes": lanes}
    _dump_json(out / "manifest.json", manifest)
    _dump_json(out / "raw" / "lanes.json", lanes)
    _dump_json(out / "raw" / "steps.json", store.lane_steps(run_id))
    with (out / "raw" / "samples.jsonl").open("w") as fh:
        for sample in store.samples(run_id):
            fh.write(json.dumps(jsonable(sample), default=str) + "\n")
    return out
