"""`lanekit hermes-config`: point the owner's Hermes Agent at a lane by merging the lane's settings
into ~/.hermes/config.yaml (Hermes' `providers:` schema): the diff is shown, a backup kept, nothing
else in the file changes. Without --apply it only shows the diff."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `hermes-config` command to the app."""
    app.command(name="hermes-config")(hermes_config_cmd)


def _endpoint(lane: str | None, url: str | None, model: str | None, ctx: int | None, what: str):
    """An Endpoint from a live lane or a URL (its served context probed when --ctx is not given)."""
    from lanekit.agents.hermes_config import Endpoint
    from lanekit.errors import ConfigError

    if lane:
        from lanekit.lanes import registry

        rec = registry.find_live(lane)
        return Endpoint(rec.base_url, rec.model_id, ctx or rec.served_ctx or 0), lane
    if not url:
        raise ConfigError(f"{what}: give a live lane (--lane NAME), a URL (--url) or --profile DIR",
                          fix="`lanekit ps` lists live lanes; a bakeoff profile holds hermes/config.yaml")
    from lanekit.endpoint.probe import served_context

    base = url.rstrip("/") if url.rstrip("/").endswith("/v1") else url.rstrip("/") + "/v1"
    if ctx is None:
        ctx = served_context(base, timeout_s=10.0, model=model).per_request
    if ctx is None:
        raise ConfigError(f"{what}: {base} does not say what context it serves", fix="pass --ctx N")
    if not model:
        raise ConfigError(f"{what}: --model is needed with --url", fix="pass the model id the server lists")
    return Endpoint(base, model, ctx), model


def _profile_overlay(profile: Path) -> dict:
    """The overlay a bakeoff profile wrote (PROFILE/hermes/config.yaml), with both floors checked."""
    from lanekit.agents.hermes_config import Endpoint, check_floor, read_config
    from lanekit.errors import ConfigError

    path = profile / "hermes" / "config.yaml" if profile.is_dir() else profile
    overlay = read_config(path)
    try:
        model, comp = overlay["model"], overlay["auxiliary"]["compression"]
        main_key = model["provider"].removeprefix("custom:")
        comp_key = comp["provider"].removeprefix("custom:")
        for key, m, ctx, role in ((main_key, model["default"], model["context_length"], "model"),
                                  (comp_key, comp["model"], comp["context_length"], "compression model")):
            check_floor(Endpoint(overlay["providers"][key]["api"], m, int(ctx)), role)
    except (KeyError, TypeError, AttributeError):
        raise ConfigError(f"{path}: not a lanekit Hermes overlay (model, providers, auxiliary.compression)",
                          fix="pass the folder `lanekit profile` wrote, or use --lane / --url") from None
    return overlay


def hermes_config_cmd(
    profile: Path | None = typer.Option(None, "--profile", help="a bakeoff profile folder (its hermes/config.yaml)"),  # noqa: B008
    lane: str | None = typer.Option(None, "--lane", help="a live lane lanekit started"),
    url: str | None = typer.Option(None, "--url", help="OpenAI-compatible base URL"),
    model: str | None = typer.Option(None, "--model", help="model id at --url"),
    ctx: int | None = typer.Option(None, "--ctx", help="context per request (default: asked from the server)"),
    compression_lane: str | None = typer.Option(None, "--compression-lane", help="a live lane for Hermes' "
                                                "compression model (default: the same lane)"),
    compression_url: str | None = typer.Option(None, "--compression-url", help="base URL of the compression model"),
    compression_model: str | None = typer.Option(None, "--compression-model", help="model id at --compression-url"),
    hermes_home: Path | None = typer.Option(None, "--hermes-home", help="default: $HERMES_HOME or ~/.hermes"),  # noqa: B008
    apply: bool = typer.Option(False, "--apply", help="write the merged config (the old one is kept as a backup)"),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Merge a lane's Hermes settings into Hermes' own config.yaml; show the diff, keep a backup."""
    from lanekit.agents.hermes_config import lane_overlay, merge_into_home, provider_key
    from lanekit.cli.output import console, print_json

    home = hermes_home or Path(os.environ.get("HERMES_HOME") or "~/.hermes")
    if profile is not None:
        overlay = _profile_overlay(profile)
    else:
        main, name = _endpoint(lane, url, model, ctx, "--lane/--url")
        comp = None
        if compression_lane or compression_url:
            comp, _ = _endpoint(compression_lane, compression_url, compression_model, None, "--compression-*")
        overlay = lane_overlay(main, key=provider_key(name), compression=comp)
    result = merge_into_home(home, overlay, apply=apply)
    if json_out:
        print_json({"path": str(result.path), "changed": result.changed, "applied": result.applied,
                    "backup": str(result.backup) if result.backup else None, "diff": result.diff})
        return
    if not result.changed:
        console.print(f"{result.path} already points Hermes at this lane: nothing to change", markup=False)
        return
    print(result.diff, end="")
    if result.applied:
        console.print(f"wrote {result.path}" + (f"; the previous file is {result.backup}" if result.backup else ""),
                      markup=False, soft_wrap=True)
    else:
        console.print("dry run: pass --apply to write it (the current file is kept as a backup)", markup=False)
