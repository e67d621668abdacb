"""Launch scripts, systemd units and Hermes config rendered for a lane."""

from __future__ import annotations

import subprocess

import yaml

from lanekit.report.render.launch import hermes_files, launch_script, systemd_unit


def _spec(tmp_path, **kw):
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\necho \"$@\"\n")
    binary.chmod(0o755)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    return {"name": "lane1", "engine": "llamacpp", "model": str(model), "binary": str(binary), "ctx": 65536,
            "parallel": 2, **kw}


def test_launch_script_runs_the_exact_command_with_overrides(tmp_path):
    script = tmp_path / "lane1.sh"
    script.write_text(launch_script(_spec(tmp_path)))
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={"PORT": "9123", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    args = out.stdout.split()
    assert args[args.index("--port") + 1] == "9123"
    assert "--jinja" in args and "--metrics" in args
    assert args[args.index("-c") + 1] == "131072"


def test_systemd_unit_and_hermes_config(tmp_path):
    unit = systemd_unit(_spec(tmp_path), "/opt/lanekit/launch/lane1.sh")
    assert "ExecStart=/usr/bin/env bash /opt/lanekit/launch/lane1.sh" in unit and "KillMode=control-group" in unit
    cfg_text, env_text, warnings = hermes_files(_spec(tmp_path))
    cfg = yaml.safe_load(cfg_text)
    assert cfg["model"]["context_length"] == 65536
    assert cfg["auxiliary"]["compression"]["context_length"] == 65536
    key = cfg["model"]["provider"].removeprefix("custom:")
    assert cfg["providers"][key]["api"].endswith("/v1") and "memory" not in cfg  # an overlay, not a whole config
    assert "lanekit hermes-config --profile" in cfg_text
    assert not warnings
    _, _, warnings = hermes_files(_spec(tmp_path, ctx=8192))
    assert warnings and "under 64,000" in warnings[0]


def test_a_profile_launch_script_reads_the_chat_template_beside_it(tmp_path):
    # the profile copies the template next to the script: the launch directory works when moved
    from lanekit.report.profile import _copy_chat_template

    spec = _spec(tmp_path, chat_template_file="qwen2.5-coder-tools")
    moved = tmp_path / "elsewhere" / "launch"
    moved.mkdir(parents=True)
    (moved / "lane1.sh").write_text(launch_script(spec, template_beside=True))
    _copy_chat_template(spec, moved)
    out = subprocess.run(["bash", str(moved / "lane1.sh")], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, cwd="/")
    assert out.returncode == 0, out.stderr
    args = out.stdout.split()
    assert args[args.index("--chat-template-file") + 1] == str(moved / "qwen2.5-coder-tools.jinja")
    assert (moved / "qwen2.5-coder-tools.jinja").read_text().startswith("{#- lanekit")
    # the template can still be overridden, and without `template_beside` the installed file is used
    out = subprocess.run(["bash", str(moved / "lane1.sh")], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "CHAT_TEMPLATE": "/t.jinja"})
    assert "/t.jinja" in out.stdout.split()
    assert "lanes/templates/qwen2.5-coder-tools.jinja" in launch_script(spec)


def test_the_hermes_config_and_script_carry_what_the_lane_was_judged_with(tmp_path):
    from lanekit.results.models import JudgedWith

    spec = _spec(tmp_path, max_output_tokens=4096, sampling={"temperature": 0.7, "top_p": 0.8})
    # llama-server served less than the spec asked (a slot capped at the training context)
    judged = JudgedWith(served_ctx=32768, max_tokens=512, max_turns=6,
                        sampling={"temperature": 0.7, "top_p": 0.8}, agent="builtin")
    cfg_text, _, warnings = hermes_files(spec, judged=judged)
    cfg = yaml.safe_load(cfg_text)
    assert cfg["model"]["context_length"] == cfg["auxiliary"]["compression"]["context_length"] == 32768
    assert cfg["model"]["max_tokens"] == 512 and cfg["agent"]["max_turns"] == 6
    assert warnings and "32,768" in warnings[0]  # below Hermes' floor: said, not hidden
    assert "# Judged with: served context 32768 tokens per request; output cap 512" in cfg_text
    assert "temperature 0.7, top_p 0.8" in cfg_text
    script = launch_script(spec, judged=judged)
    assert "# Judged with: served context 32768" in script
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    args = out.stdout.split()
    assert args[args.index("--temp") + 1] == "0.7" and args[args.index("-n") + 1] == "4096"
