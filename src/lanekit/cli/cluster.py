"""`lanekit cluster plan|check|up|down|status`: one lane over several nodes — Ray + vLLM, or llama.cpp RPC."""

from __future__ import annotations

from pathlib import Path

import typer

FILE_ARG = typer.Argument(..., help="cluster YAML file (`cluster: {name, nodes: [...], lane: {...}}`)")
JSON_OPT = typer.Option(False, "--json", help="print JSON")
_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


def _rpc_build(spec):
    if spec.engine != "llamacpp":
        return None
    from lanekit.lanes.rpc_build import find_rpc_build

    return find_rpc_build()


def dry_run(spec, rpc_build=None) -> dict:
    """Every command lanekit would run, per node, with its environment (nothing is started)."""
    from lanekit.lanes.cluster import (
        node_env,
        ray_start_argv,
        rpc_lane,
        rpc_server_argv,
        vllm_head_argv,
        vllm_head_env,
    )
    from lanekit.lanes.cluster_nodes import NodeShell
    from lanekit.lanes.engines._common import display_only

    nodes = []
    for node in spec.nodes:
        shell = NodeShell(node)
        if spec.engine == "vllm":
            argv = ray_start_argv(spec, node, shell.tool("ray"))
        else:
            argv = rpc_server_argv(node, rpc_build.rpc_server if rpc_build else "rpc-server")
        nodes.append({"node": node.name, "ssh": node.ssh, "argv": argv, "env": node_env(spec, node)})
    port = spec.lane.port or 8000
    if spec.engine == "vllm":
        head = {"argv": vllm_head_argv(spec, port, NodeShell(spec.head).tool("vllm")), "env": vllm_head_env(spec)}
    else:
        from lanekit.lanes.engine import engine_for

        lane = rpc_lane(spec, rpc_build.llama_server if rpc_build else None)
        with display_only():
            head = {"argv": engine_for(lane).argv(lane, port), "env": dict(lane.env)}
    return {"name": spec.name, "engine": spec.engine, "nodes": nodes, "head": head}


def _print_findings(findings) -> None:
    from lanekit.cli.output import console

    for f in findings:
        console.print(f"  [{_STYLE[f.status]}]{f.status:4}[/] {f.code:26} "
                      + (f"{f.node}: " if f.node else "") + f.message, highlight=False, soft_wrap=True)
        if f.fix and f.status in ("fail", "warn"):
            console.print(f"       fix: {f.fix}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="A lane over several nodes: Ray + vLLM, or llama.cpp RPC.", no_args_is_help=True)
    app.add_typer(sub, name="cluster")

    @sub.command("plan")
    def plan_cmd(file: Path = FILE_ARG,
                 hw: str | None = typer.Option(None, "--hw", help="size for a hardware profile (gb10); "
                                                                     "default: probe the nodes"),
                 json_out: bool = JSON_OPT) -> None:
        """Size the lane per node and print every node's commands and environment (a dry run)."""
        import shlex

        from lanekit.cli.output import console, print_json
        from lanekit.lanes.cluster import check_shares, load_cluster_file, node_shares
        from lanekit.lanes.cluster_run import pools_for, probe_all

        spec = load_cluster_file(file)
        build = None
        if spec.engine == "llamacpp":
            from lanekit.errors import EngineNotFound

            try:
                build = _rpc_build(spec)
            except EngineNotFound:
                build = None  # a plan still prints, with bare tool names
        facts = None if hw else probe_all(spec)
        shares = node_shares(spec, pools_for(spec, facts, hw))
        commands = dry_run(spec, build)
        if json_out:
            print_json({"shares": [s.model_dump() for s in shares], **commands})
        else:
            console.print(f"cluster {spec.name}: {spec.engine}, {len(spec.nodes)} nodes"
                          + (f", TP={spec.tensor_parallel} PP={spec.pipeline_parallel}"
                             + (" EP" if spec.expert_parallel else "") if spec.engine == "vllm" else ""), markup=False)
            for share in shares:
                for line in share.lines():
                    console.print("  " + line, markup=False)
            for node in commands["nodes"]:
                console.print(f"[bold]{node['node']}[/]" + (f" (ssh {node['ssh']})" if node["ssh"] else ""))
                for k, v in node["env"].items():
                    console.print(f"  {k}={shlex.quote(v)} \\", markup=False)
                console.print("  " + shlex.join(node["argv"]), markup=False, soft_wrap=True)
            console.print("[bold]head lane[/]")
            console.print("  " + shlex.join(commands["head"]["argv"]), markup=False, soft_wrap=True)
        check_shares(spec, shares)

    @sub.command("check")
    def check_cmd(file: Path = FILE_ARG,
                  log: Path | None = typer.Option(None, "--log", help="engine log to read NCCL's transport from "
                                                                        "(default: the running lane's)"),
                  nodes_only: bool = typer.Option(False, "--nodes-only", help="the fabric only: the engine (vLLM) "
                                                                             "need not be installed yet"),
                  json_out: bool = JSON_OPT) -> None:
        """Fabric preflight: versions equal, each IP on the fast NIC, MTU equal, Ray's view, NCCL transport.
        Exit code 1 when a check fails."""
        from lanekit.cli.output import print_json
        from lanekit.lanes import registry
        from lanekit.lanes.cluster import load_cluster_file
        from lanekit.lanes.cluster_check import check_nccl, check_nodes, failed
        from lanekit.lanes.cluster_run import ClusterRun, probe_all
        from lanekit.lanes.cluster_state import read_record

        spec = load_cluster_file(file)
        build = _rpc_build(spec) if spec.engine == "llamacpp" else None
        findings = check_nodes(spec, probe_all(spec, build.rpc_server if build else None),
                               engine_required=not nodes_only)
        record = read_record(spec.name)
        if record is not None and spec.engine == "vllm":
            run = ClusterRun(spec)
            from lanekit.lanes.cluster_check import check_ray_nodes
            from lanekit.lanes.cluster_run import worker_env_findings

            view = run.ray_view()
            findings += check_ray_nodes(spec, view["nodes"]) + worker_env_findings(spec, view["workers"])
        text = log.read_text(errors="replace") if log else None
        if text is None and record is not None and record.lane and registry.read(record.lane):
            from lanekit.lanes.cluster_run import engine_logs

            text = engine_logs(spec, registry.read(record.lane).log_path)
        findings += check_nccl(spec, text)
        if json_out:
            print_json([f.model_dump() for f in findings])
        else:
            _print_findings(findings)
        if failed(findings):
            raise typer.Exit(1)

    @sub.command("up")
    def up_cmd(file: Path = FILE_ARG,
               hw: str | None = typer.Option(None, "--hw", help="size against a profile instead of the probe"),
               timeout: float | None = typer.Option(None, "--timeout", help="warm-up deadline in seconds"),
               dry_run_: bool = typer.Option(False, "--dry-run", help="print per-node commands; start nothing"),
               nodes_only: bool = typer.Option(False, "--nodes-only", help="start and check Ray (or the "
                                                                          "rpc-servers) only, no engine"),
               json_out: bool = JSON_OPT) -> None:
        """Check, size per node, start every node, then the head lane; waits out the warm-up with progress."""
        import shlex

        from lanekit.cli.output import console, err_console, print_json
        from lanekit.lanes import registry
        from lanekit.lanes.cluster import load_cluster_file
        from lanekit.lanes.cluster_run import ClusterRun

        spec = load_cluster_file(file)
        build = _rpc_build(spec)
        if dry_run_:
            commands = dry_run(spec, build)
            if json_out:
                print_json(commands)
                return
            for node in commands["nodes"]:
                env = " ".join(f"{k}={shlex.quote(v)}" for k, v in node["env"].items())
                console.print(f"# {node['node']}\n{env} {shlex.join(node['argv'])}".strip(), markup=False)
            console.print(f"# head lane\n{shlex.join(commands['head']['argv'])}", markup=False)
            return
        run = ClusterRun(spec, rpc_build=build, progress=lambda text: err_console.print(text, markup=False,
                                                                                        style="dim"))
        if nodes_only:
            findings = run.up_nodes(hw=hw)
            if json_out:
                print_json([f.model_dump() for f in findings])
            else:
                _print_findings(findings)
                console.print(f"[green]nodes up[/] {spec.name}: `lanekit cluster down {spec.name}` stops them")
            return
        lane = run.up(hw=hw, timeout_s=timeout)
        row = registry.as_row(lane.record)
        if json_out:
            print_json({**row, "ready_s": lane.ready_s, "findings": [f.model_dump() for f in run.findings]})
            return
        _print_findings(run.findings)
        console.print(f"[green]ready[/] {spec.name} in {lane.ready_s:.1f} s  {lane.base_url}  "
                      f"(lane {lane.spec.name}: `lanekit bench --lane {lane.spec.name}`)")

    @sub.command("down")
    def down_cmd(name: str = typer.Argument(..., help="cluster name (or its file)"), json_out: bool = JSON_OPT) -> None:
        """Stop the head lane, then every node's processes; verify nothing survived on any node."""
        from lanekit.cli.output import console, print_json
        from lanekit.errors import LaneNotFound
        from lanekit.lanes.cluster_state import read_record, teardown

        if Path(name).is_file():
            from lanekit.lanes.cluster import load_cluster_file

            name = load_cluster_file(name).name
        record = read_record(name)
        if record is None:
            raise LaneNotFound(f"no cluster named {name!r} is up", fix="`lanekit cluster status` lists them")
        report = teardown(record)
        if json_out:
            print_json({**report.model_dump(), "verified": report.verified})
        else:
            if report.lane:
                console.print(f"lane {report.lane.get('name')}: processes "
                              f"{'gone' if report.lane.get('processes_gone') else 'SURVIVED'}", markup=False)
            for n in report.nodes:
                console.print(f"{n.node}: stopped {len(n.signalled)} processes, "
                              + ("none left" if not n.survivors else f"SURVIVORS {n.survivors}")
                              + ("" if n.port_closed is not False else ", PORT STILL OPEN"), markup=False)
        if not report.verified:
            raise typer.Exit(1)

    @sub.command("status")
    def status_cmd(json_out: bool = JSON_OPT) -> None:
        """Clusters lanekit started: nodes, their processes still running, the head lane."""
        from lanekit.cli.output import console, print_json
        from lanekit.lanes import registry
        from lanekit.lanes.cluster import ClusterSpec
        from lanekit.lanes.cluster_nodes import NodeShell
        from lanekit.lanes.cluster_state import clusters_dir, read_record

        rows = []
        for path in sorted(clusters_dir().glob("*.json")):
            rec = read_record(path.stem)
            if rec is None:
                continue
            spec = ClusterSpec.model_validate(rec.spec)
            nodes = {n.name: n for n in spec.nodes}
            procs = [{"node": p.node, "pid": p.pid, "running": len(NodeShell(nodes[p.node]).marked_pids(p.mark)),
                      "log": p.log_path} for p in rec.processes]
            lane = registry.read(rec.lane) if rec.lane else None
            rows.append({"name": rec.name, "engine": rec.engine, "nodes": procs, "lane": rec.lane,
                         "lane_state": lane.state() if lane else "gone", "base_url": lane.base_url if lane else None})
        if json_out:
            print_json(rows)
            return
        if not rows:
            console.print("no cluster is up")
        for r in rows:
            console.print(f"{r['name']} ({r['engine']}): lane {r['lane']} {r['lane_state']} {r['base_url'] or ''}",
                          markup=False)
            for p in r["nodes"]:
                console.print(f"  {p['node']}: {p['running']} processes  log {p['log']}", markup=False)
