"""`lanekit smoke`: does the installed llama.cpp build decode on this host? Diagnose and record the fix."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def smoke(
        binary: str | None = typer.Option(None, "--binary", help="llama-server to check (default: the installed one)"),
        model: str | None = typer.Option(None, "--model", help="GGUF to decode with (default: embedded SmolLM2)"),
        force: bool = typer.Option(False, "--force", help="check again even when this binary was checked here"),
        timeout: float = typer.Option(90.0, "--timeout", min=1.0, help="seconds for load + decode"),
        json_out: bool = typer.Option(False, "--json", help="print the check as JSON"),
    ) -> None:
        """Smoke-decode a few tokens with llama-server; after a signal death, find and record a fix."""
        from lanekit.cli.output import console, err_console, print_json
        from lanekit.errors import EngineBroken
        from lanekit.lanes.backend import check_build
        from lanekit.lanes.embedded import resolve_model_file
        from lanekit.lanes.engines.llamacpp import find_llama_server
        from lanekit.lanes.engines.llamacpp_host import check_host

        path = find_llama_server(binary)
        model_file = Path(resolve_model_file(model)) if model else None
        with err_console.status(f"smoke decode with {Path(path).name}…"):
            check = check_host(path, model_file, force=force, timeout_s=timeout)
        with err_console.status("backend: does this build use the GPU here?"):
            backend = check_build(path)
        if json_out:
            print_json({**check.model_dump(), "backend": backend.model_dump()})
        if check.status == "broken":
            raise EngineBroken(check.diagnosis, fix=check.fix)
        if check.status == "unverified":
            raise EngineBroken(f"{Path(path).name} did not pass the smoke decode: {check.diagnosis}",
                               fix=f"run it by hand: {path} -m <model.gguf> and read its output")
        if not json_out:
            console.print(check.line(), markup=False)
        if backend.status == "fail":
            raise EngineBroken(f"{path}: {backend.detail}", fix=backend.fix)
        if not json_out:
            console.print(f"backend: {backend.detail}" + (f" ({backend.fix})" if backend.fix else ""), markup=False)
