"""`lanekit init`: scan the Hugging Face cache and model folders, write a bakeoff plan of the lanes
that fit this box (each from its recipe), and say which catalog files to download for more."""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_FOLDERS = ("~/models", "~/.lmstudio/models", "~/.cache/lm-studio/models")


def register(app: typer.Typer) -> None:
    """Add the `init` command to the app."""
    app.command(name="init")(init)


def init(
    out: Path = typer.Option(Path("bakeoff.yaml"), "--out", "-o", help="plan file to write"),  # noqa: B008
    models_dir: list[Path] = typer.Option([], "--models-dir", help="more folders to scan for GGUF files and "  # noqa: B008
                                          "checkpoints (repeatable; ~/models is scanned when it exists)"),
    hw: str = typer.Option("auto", "--hw", help="recipe hardware: auto (detect), spark, h100, cpu"),
    harness: str = typer.Option("hermes", "--harness", help="context floor of this harness; 'none' for none"),
    force: bool = typer.Option(False, "--force", help="replace an existing plan file (a backup is kept)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would be written; write nothing"),
    json_out: bool = typer.Option(False, "--json", help="print the findings as JSON"),
) -> None:
    """Write a bakeoff plan from the models already on this box."""
    from lanekit.bakeoff.plan import parse_plan
    from lanekit.bakeoff.scaffold import recipe_hw, scaffold
    from lanekit.cli.output import console, err_console, print_json
    from lanekit.errors import ConfigError
    from lanekit.lanes.hf_cache import hub_dir, llamacpp_cache_dir, scan

    folders = [Path(p).expanduser() for p in DEFAULT_FOLDERS if Path(p).expanduser().is_dir()] + list(models_dir)
    for folder in models_dir:
        if not folder.expanduser().is_dir():
            raise ConfigError(f"--models-dir {folder}: not a folder", fix="pass a folder holding .gguf files")
    with err_console.status("scanning the Hugging Face cache and model folders…"):
        models = scan(folders)
    if hw == "auto":
        from lanekit.catalog.hardware import detect

        hw = recipe_hw(detect().key)
    with err_console.status(f"sizing {len(models)} models against the {hw} recipes…"):
        result = scaffold(models, hw, harness=None if harness.lower() == "none" else harness)
    doc = result.plan_doc()
    if result.planned:
        parse_plan(doc, str(out))  # the plan must load before it is written
    text = _plan_text(result, doc, [hub_dir(), llamacpp_cache_dir(), *folders])
    wrote = None
    if result.planned and not dry_run:
        wrote = _write(out, text, force)
    if json_out:
        print_json({**result.model_dump(), "plan_file": str(wrote) if wrote else None})
        return
    console.print(f"scanned {hub_dir()}, {llamacpp_cache_dir()}" + "".join(f", {f}" for f in folders)
                  + f": {len(models)} model{'' if len(models) == 1 else 's'}", markup=False, soft_wrap=True)
    console.print(f"hardware {result.hw}: plan against {result.pool_bytes / 2**30:.0f} GiB, "
                  f"{result.headroom_bytes / 2**30:.1f} GiB kept free", markup=False)
    for lane in result.lanes:
        size = f"~{lane.need_bytes / 2**30:.1f} GiB" if lane.need_bytes else ""
        if lane.fits:
            console.print(f"  lane {lane.name}  {lane.engine}  {size}", markup=False, soft_wrap=True)
        else:
            console.print(f"  skip {lane.ref}: {lane.reason}", markup=False, soft_wrap=True, style="dim")
    if result.downloads:
        console.print("would fit, not on disk (download, then use the model: shown):", markup=False)
        for adv in result.downloads:
            console.print(f"  download {adv.line}", markup=False, soft_wrap=True)
            # one short line each (80 columns): the command, then the lane's model once it is there
            console.print(f"    {adv.command}", markup=False, soft_wrap=True, style="dim")
            console.print(f"    then model: {adv.ref}", markup=False, soft_wrap=True, style="dim")
    if not result.planned:
        console.print("no model on disk fits: nothing written (download one of the above, then rerun)",
                      markup=False)
    elif wrote:
        n = len(result.planned)
        console.print(f"wrote {wrote} ({n} lane{'' if n == 1 else 's'}): lanekit bakeoff {wrote}", markup=False)
    else:
        print(text, end="")


def _plan_text(result, doc: dict, scanned: list[Path]) -> str:
    import yaml

    n = len(result.planned)
    head = [(f"# lanekit init: {n} lane{'' if n == 1 else 's'} from the models on this box ({result.hw}), each "
             "from `lanekit recipe`."), "# scanned: " + ", ".join(str(p) for p in scanned)]
    if result.downloads:
        head.append("# would fit, not on disk:")
        head += [f"#   download {a.line}: {a.command}  (model: {a.ref})" for a in result.downloads]
    skipped = [x for x in result.lanes if not x.fits]
    if skipped:
        head.append("# skipped:")
        head += [f"#   {x.ref}: {x.reason}" for x in skipped]
    return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False)


def _write(out: Path, text: str, force: bool) -> Path:
    """Write the plan; an existing different file is replaced only with --force (kept as .bak)."""
    from lanekit.errors import ConfigError

    if out.is_file() and out.read_text() != text:
        if not force:
            raise ConfigError(f"{out} exists", fix="pass --force to replace it (a backup is kept), or --out FILE")
        out.with_name(out.name + ".bak").write_text(out.read_text())
    out.write_text(text)
    return out
