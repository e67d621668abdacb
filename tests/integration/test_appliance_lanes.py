"""A real two-lane appliance: two llama-server lanes on the embedded model, started one at a time, the
key enforced, CORS closed, status from the servers' own answers, teardown verified; an over-budget set
refused before anything starts; the generated units checked by `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import subprocess
import sys

import httpx
import pytest

from lanekit.lanes.appliance import ApplianceSpec, plan_appliance
from lanekit.lanes.guard import pick_port
from lanekit.lanes.spec import parse_lane


def two_lanes(name: str, **over) -> ApplianceSpec:
    first = pick_port("127.0.0.1", 18300)
    second = pick_port("127.0.0.1", first + 1)
    lanes = [parse_lane({"name": "coder", "model": "smollm2-135m", "ctx": 1024, "threads": 1, "port": first,
                         "stop_grace_s": 3}),
             parse_lane({"name": "fast", "model": "smollm2-135m", "ctx": 512, "threads": 1, "port": second,
                         "stop_grace_s": 3})]
    return ApplianceSpec(name=name, lanes=lanes, routes={"main": "coder", "compression": "fast"}, **over)


def test_two_lanes_start_in_order_require_the_key_and_tear_down(llama_server):
    from lanekit.lanes import registry
    from lanekit.lanes.appliance_run import api_key, status, stop, up

    app = two_lanes("duo")
    said: list[str] = []
    lanes = up(app, progress=said.append)
    try:
        coder, fast = lanes
        # sequential: the second lane was launched only after the first answered /health
        assert fast.record.started_at >= coder.record.started_at + coder.ready_s
        assert [s for s in said if s.startswith("starting")] == [
            f"starting duo.coder (llamacpp) on 127.0.0.1:{app.port_of(app.lanes[0])}",
            f"starting duo.fast (llamacpp) on 127.0.0.1:{app.port_of(app.lanes[1])}"]
        key = api_key("duo")
        body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4}
        with httpx.Client(timeout=60) as http:
            refused = http.post(f"{coder.base_url}/chat/completions", json=body)
            assert refused.status_code == 401
            answered = http.post(f"{coder.base_url}/chat/completions", json=body,
                                 headers={"Authorization": f"Bearer {key}"})
            assert answered.status_code == 200 and answered.json()["choices"][0]["message"]["content"] is not None
            pre = http.options(f"{fast.base_url}/chat/completions", headers={"Origin": "http://evil.example"})
            assert pre.headers.get("access-control-allow-origin", "") in ("",)
            assert pre.headers.get("access-control-allow-credentials") == "false"
            assert http.get(f"{fast.base_url.removesuffix('/v1')}/").status_code == 404  # no web UI
        rows = status(app)
        assert [r.state for r in rows] == ["running", "running"]
        assert all(r.healthy and r.key_required and r.key_accepted and r.cors_open is False for r in rows)
        assert all(r.rss_bytes and r.rss_bytes > 10 * 2**20 for r in rows)
        assert rows[0].reachable == "this machine only (loopback)"
        assert key not in " ".join(coder.record.model_dump_json().split())  # the record holds no key
    finally:
        reports = stop(app)
    assert [r.name for r in reports] == ["duo.fast", "duo.coder"]  # reverse start order
    assert all(r.verified for r in reports)
    assert registry.read("duo.coder") is None and registry.read("duo.fast") is None


def test_an_over_budget_set_is_refused_before_any_lane_starts(tmp_path, llama_server):
    import yaml

    from lanekit.lanes import registry

    app = two_lanes("tight")
    plan = plan_appliance(app)
    # an OS reserve that leaves room for the first lane only: the guard must name the second
    reserve = plan.pool_bytes - plan.footprints[0].bytes - plan.footprints[1].bytes // 2
    doc = {"appliance": {"name": "tight", "os_reserve_bytes": reserve,
                         "lanes": [ln.model_dump(mode="json", exclude_unset=True) for ln in app.lanes]}}
    path = tmp_path / "tight.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "appliance", "up", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "drop lane 'fast'" in proc.stderr and "Traceback" not in proc.stderr
    assert registry.read("tight.coder") is None and registry.read("tight.fast") is None


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_generated_units_pass_systemd_analyze_verify(tmp_path, llama_server):
    from lanekit.lanes.appliance_units import verify_units, write_units

    paths = write_units(two_lanes("units"), tmp_path)
    ok, text = verify_units(paths)
    assert ok, text
    # the check can fail: a unit naming a binary that does not exist is rejected
    broken = tmp_path / "lanekit-units-coder.service"
    broken.write_text(broken.read_text().replace(f"ExecStart={llama_server}", "ExecStart=/nonexistent/llama-server"))
    ok, text = verify_units(paths)
    assert ok is False and "/nonexistent/llama-server" in text
