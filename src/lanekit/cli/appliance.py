"""`lanekit appliance plan|up|down|status|units|hermes|from-profile`: several lanes on one box together,
admitted as a set, started one at a time, served safely (explicit bind, API key, CORS off)."""

from __future__ import annotations

from pathlib import Path

import typer

FILE_ARG = typer.Argument(..., help="appliance YAML file (`appliance: {name, bind, lanes: [...], routes}`)")
HW_OPT = typer.Option(None, "--hw", help="plan for a hardware profile (gb10) instead of this box")
JSON_OPT = typer.Option(False, "--json", help="print JSON")


def _load(path: Path, lanes_file: Path | None = None):
    from lanekit.lanes.appliance import load_appliance_file

    return load_appliance_file(path, lanes_file)


def _print_plan(plan) -> None:
    from lanekit.cli.output import console

    console.print(f"appliance {plan.name}: {len(plan.footprints)} lanes, pool {plan.pool_source}"
                  f"{' (unified)' if plan.unified else ''}", markup=False)
    for line in plan.lines():
        console.print("  " + line, markup=False)
    for fp in plan.footprints:
        if fp.problem:
            console.print(f"  ! {fp.lane}: {fp.problem}", markup=False, style="yellow")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="A fixed set of lanes on one box: plan, start, status, units, Hermes routing.",
                      no_args_is_help=True)
    app.add_typer(sub, name="appliance")

    @sub.command("plan")
    def plan_cmd(file: Path = FILE_ARG, hw: str | None = HW_OPT, json_out: bool = JSON_OPT) -> None:
        """The set-level guard: summed reservations + OS reserve vs the pool; names the lane to drop."""
        from lanekit.cli.output import print_json
        from lanekit.lanes.appliance import plan_appliance, require_fits

        spec = _load(file)
        plan = plan_appliance(spec, hw)
        if json_out:
            print_json(plan.model_dump())
        else:
            _print_plan(plan)
        require_fits(plan, with_arithmetic=json_out)  # the table above already shows it

    @sub.command("up")
    def up_cmd(file: Path = FILE_ARG, json_out: bool = JSON_OPT) -> None:
        """Guard the set, then start each lane once the one before it is healthy."""
        from lanekit.cli.output import console, err_console, print_json
        from lanekit.lanes.appliance_run import up

        spec = _load(file)
        with err_console.status("starting…") as status:
            lanes = up(spec, progress=lambda text: (status.update(text), err_console.print(text, markup=False,
                                                                                           style="dim")))
        if json_out:
            print_json([{"lane": ln.spec.name, "base_url": ln.base_url, "ready_s": ln.ready_s} for ln in lanes])
            return
        for ln in lanes:
            console.print(f"[green]ready[/] {ln.spec.name} {ln.base_url} ({ln.ready_s:.1f} s)")
        console.print(f"API key: {_key_path(spec.name)}  (`lanekit appliance hermes {file}` routes Hermes)",
                      markup=False)

    @sub.command("down")
    def down_cmd(file: Path = FILE_ARG, json_out: bool = JSON_OPT) -> None:
        """Stop the appliance's lanes in reverse order; verify each teardown."""
        from lanekit.cli.output import console, print_json
        from lanekit.lanes.appliance_run import stop

        reports = stop(_load(file))
        if json_out:
            print_json([dict(r.model_dump(), verified=r.verified) for r in reports])
        else:
            for r in reports:
                console.print(r.summary(), style="green" if r.verified else "red", markup=False)
            if not reports:
                console.print("no lane of this appliance is running")
        if any(not r.verified for r in reports):
            raise typer.Exit(1)

    @sub.command("status")
    def status_cmd(file: Path = FILE_ARG, json_out: bool = JSON_OPT) -> None:
        """Each lane's state, health, key and CORS as the server answers, memory, port, who can reach it."""
        from rich.table import Table

        from lanekit.cli.output import console, print_json
        from lanekit.lanes.appliance_run import status

        spec = _load(file)
        rows = status(spec)
        if json_out:
            print_json([r.model_dump() for r in rows])
            return

        def yes(v, good=True):
            return "-" if v is None else ("yes" if v else "NO") if good else ("OPEN" if v else "off")

        table = Table("lane", "state", "port", "health", "key", "CORS", "RSS")
        for r in rows:
            key = "-" if r.key_required is None else ("required" if r.key_required and r.key_accepted
                                                      else "NOT ENFORCED" if not r.key_required else "REJECTED")
            rss = f"{r.rss_bytes / 2**30:.2f} GiB" if r.rss_bytes else "-"
            table.add_row(r.lane, r.state, str(r.port), yes(r.healthy), key, yes(r.cors_open, good=False), rss)
        console.print(table)
        console.print(f"bound to {spec.bind}: reachable from {rows[0].reachable}", markup=False)

    @sub.command("units")
    def units_cmd(file: Path = FILE_ARG,
                  out: Path = typer.Option(Path("appliance-units"), "--out", help="folder to write into"),
                  verify: bool = typer.Option(True, "--verify/--no-verify", help="systemd-analyze verify"),
                  json_out: bool = JSON_OPT) -> None:
        """Write systemd units (ordered, health-gated, stop hooks), a 0600 key file and a compose file."""
        from lanekit.cli.output import console, print_json
        from lanekit.errors import ConfigError
        from lanekit.lanes.appliance_units import compose_file, shell_summary, verify_units, write_units

        spec = _load(file)
        paths = write_units(spec, out)
        compose = out.resolve() / "compose.yaml"
        compose.write_text(compose_file(spec, str(out.resolve() / f"{spec.name}.env")))
        ok, text = verify_units(paths) if verify else (None, "not run")
        if json_out:
            print_json({"files": [str(p) for p in [*paths, compose]], "verified": ok, "verify_output": text})
        else:
            for p in [*paths, compose]:
                console.print(str(p), markup=False)
            console.print(f"systemd-analyze verify: {'ok' if ok else text if ok is None else 'FAILED'}", markup=False)
            for line in shell_summary(spec, out.resolve()):
                console.print("  " + line, markup=False, style="dim")
        if ok is False:
            raise ConfigError(f"systemd-analyze verify rejected the units: {' '.join(text.split())[:300]}",
                              fix="report this as a lanekit bug (the units are generated)")

    @sub.command("hermes")
    def hermes_cmd(file: Path = FILE_ARG,
                   config: Path | None = typer.Option(None, "--config", help="Hermes config.yaml to merge "
                                                                                "into (default: ~/.hermes)"),
                   print_only: bool = typer.Option(False, "--print", help="print the routed keys; write nothing")) -> None:
        """Merge task routing (model → main lane, auxiliary tasks → their lanes) into the Hermes config."""
        import yaml

        from lanekit.agents.hermes import check_context
        from lanekit.agents.hermes_routing import RoutedLane, hermes_config_path, routing_config, write_merged
        from lanekit.cli.output import console, err_console
        from lanekit.lanes import registry
        from lanekit.lanes.appliance_run import api_key, secured_spec
        from lanekit.lanes.engine import engine_for

        spec = _load(file)
        routed_lanes = {}
        for lane in spec.lanes:
            secured = secured_spec(spec, lane)
            engine = engine_for(secured)
            rec = registry.read(secured.name)
            ctx = rec.served_ctx if rec is not None else engine.served_ctx(secured)
            routed_lanes[lane.name] = RoutedLane(lane.name, engine.base_url(secured, spec.port_of(lane)),
                                                 engine.model_id(secured), ctx)
        routes = {task: routed_lanes[spec.route(task).name] for task in {"main", *spec.routes}}
        for task in ("main", "compression"):
            lane = routes.get(task) or routes["main"]
            try:
                check_context(lane.context_length)
            except Exception as exc:  # noqa: BLE001 - a warning here; Hermes itself refuses at start
                err_console.print(f"warning: {task} → {lane.name}: {exc}", markup=False, style="yellow")
        routed = routing_config(spec.name, routes, list(routed_lanes.values()), api_key(spec.name))
        if print_only:
            console.print(yaml.safe_dump(routed, sort_keys=False), markup=False)
            return
        path, backup = write_merged(config or hermes_config_path(), routed, spec.name)
        console.print(f"merged routing into {path}" + (f" (previous: {backup})" if backup else ""), markup=False)
        for task, lane in sorted(routes.items()):
            console.print(f"  {task:<16} → {lane.name} {lane.base_url}", markup=False)

    @sub.command("from-profile")
    def from_profile_cmd(run: str = typer.Argument(..., help="bakeoff run id (`lanekit runs`)"),
                         out: Path = typer.Option(..., "--out", help="appliance YAML to write"),
                         lanes: int = typer.Option(2, "--lanes", min=1, help="how many lanes"),
                         name: str = typer.Option("appliance", "--name"),
                         bind: str = typer.Option("127.0.0.1", "--bind"),
                         hw: str | None = HW_OPT,
                         db: str | None = typer.Option(None, "--db")) -> None:
        """The best N ranked lanes of a bakeoff that fit together, as an appliance file."""
        import yaml

        from lanekit.errors import ConfigError
        from lanekit.lanes.appliance import ApplianceSpec, best_fitting_set, plan_set, resolve_pool
        from lanekit.lanes.spec import parse_lane
        from lanekit.report.profile import build_report
        from lanekit.report.store import Store

        store = Store(db)
        try:
            report = build_report(store, store.resolve_run_id(run))
        finally:
            store.close()
        ranked = [parse_lane(res.spec, where=res.name) for res, verdict in report.ranked() if verdict.eligible]
        if not ranked:
            raise ConfigError(f"run {report.run_id} has no eligible lane", fix="`lanekit profile RUN` says why")
        draft = ApplianceSpec(name=name, bind=bind, hw=hw, lanes=ranked[:1])
        pool, reserve, unified, source = resolve_pool(draft, hw)
        chosen = best_fitting_set(ranked, lanes, pool, reserve, unified)
        doc = {"appliance": {"name": name, "bind": bind, **({"hw": hw} if hw else {}),
                             "lanes": [ln.model_dump(mode="json", exclude_unset=True) | {"engine": ln.engine}
                                       for ln in chosen],
                             "routes": {"main": chosen[0].name} | ({"compression": chosen[1].name,
                                                                    "web_extract": chosen[1].name}
                                                                   if len(chosen) > 1 else {})}}
        out.write_text(f"# from bakeoff {report.run_id}: the best {len(chosen)} lanes that fit together\n"
                       + yaml.safe_dump(doc, sort_keys=False))
        _print_plan(plan_set(name, chosen, pool, reserve, unified, source))


def _key_path(name: str) -> str:
    from lanekit.lanes.appliance_run import appliance_dir

    return str(appliance_dir(name) / "api_key")
