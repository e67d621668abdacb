"""The appliance: the set-level guard's arithmetic (seed 002), naming the lane to drop, the file
format, the safe serving flags, the API key, reachability, units, compose and the Hermes merge."""

from __future__ import annotations

import stat

import pytest
import yaml

from lanekit.catalog.hardware import get_profile
from lanekit.catalog.memory import GIB
from lanekit.errors import ConfigError, LaneWontFit
from lanekit.lanes.appliance import (
    ApplianceSpec,
    best_fitting_set,
    lane_footprint,
    lanes_to_drop,
    load_appliance_file,
    plan_appliance,
    plan_set,
    require_fits,
)
from lanekit.lanes.cluster import VLLM_RUNTIME_OUTSIDE_BYTES
from lanekit.lanes.spec import parse_lane

SPARK = get_profile("gb10")


def vllm_lane(name: str, gmu: float | None, model: str = "bullpoint/Qwen3-Coder-Next-AWQ-4bit", **kw):
    data = {"name": name, "engine": "vllm-docker", "model": model, "ctx": 65536, "parallel": 2, **kw}
    if gmu is not None:
        data["gpu_memory_utilization"] = gmu
    return parse_lane(data)


def seed_002(*extra) -> ApplianceSpec:
    """Lane A (Coder-Next AWQ, port 10101, 45 %) and lane B (Qwen 35B NVFP4, port 10102, 35 %)."""
    return ApplianceSpec(name="spark", hw="gb10", lanes=[
        vllm_lane("coder", 0.45, port=10101),
        vllm_lane("fast", 0.35, model="RedHatAI/Qwen3.6-35B-A3B-NVFP4", port=10102), *extra])


def test_seed_002_pair_fits_on_a_spark_with_the_arithmetic_of_its_reservations():
    plan = plan_appliance(seed_002())
    coder, fast = plan.footprints
    assert coder.basis == fast.basis == "reservation"
    assert coder.reserved_bytes == int(0.45 * SPARK.memory_bytes)
    assert fast.reserved_bytes == int(0.35 * SPARK.memory_bytes)
    assert coder.bytes == coder.reserved_bytes + VLLM_RUNTIME_OUTSIDE_BYTES  # unified: runtime outside counts
    assert plan.os_reserve_bytes == SPARK.os_reserved_bytes
    assert plan.total_bytes == coder.bytes + fast.bytes + SPARK.os_reserved_bytes
    # seed 002 measured ~114 GB for the pair; the guard's sum without the OS reserve is within 1 GB of it
    assert abs((coder.bytes + fast.bytes) / 1e9 - 114) < 1.0
    assert plan.fits and plan.free_bytes > 0
    require_fits(plan)


def test_an_over_budget_set_is_refused_naming_the_lane_to_drop():
    plan = plan_appliance(seed_002(vllm_lane("extra", 0.15, port=10103)))
    assert not plan.fits and plan.drop == ["extra"]
    with pytest.raises(LaneWontFit) as info:
        require_fits(plan)
    assert "drop lane 'extra'" in info.value.message and "short by" in info.value.message


def test_the_lane_named_is_the_one_whose_removal_makes_the_rest_fit_not_just_the_last():
    lanes = [vllm_lane("keep", 0.5), vllm_lane("big", 0.45), vllm_lane("small", 0.05)]
    plan = plan_set("x", lanes, SPARK.memory_bytes, SPARK.os_reserved_bytes, unified=True)
    assert plan.drop == ["big"]  # dropping "small" alone still leaves the set over the pool


def test_lanes_to_drop_prefers_the_lowest_priority_among_equal_choices():
    fps = [lane_footprint(vllm_lane(n, 0.4), SPARK.memory_bytes, True) for n in ("a", "b", "c")]
    assert lanes_to_drop(fps, SPARK.usable_bytes) == ["c"]


def test_unset_utilization_is_a_problem_not_a_guess():
    fp = lane_footprint(vllm_lane("greedy", None), SPARK.memory_bytes, unified=True)
    assert fp.reserved_bytes == int(0.9 * SPARK.memory_bytes)  # vLLM's default grabs 90 % of the box
    assert "gpu_memory_utilization is not set" in fp.problem
    plan = plan_set("x", [vllm_lane("greedy", None)], SPARK.memory_bytes, SPARK.os_reserved_bytes, True)
    with pytest.raises(LaneWontFit, match="greedy"):
        require_fits(plan)


def test_sleep_mode_is_refused_on_unified_memory_only():
    lane = vllm_lane("sleepy", 0.4, extra_args=["--enable-sleep-mode"])
    assert "sleep mode frees nothing on unified memory" in lane_footprint(lane, SPARK.memory_bytes, True).problem
    assert lane_footprint(lane, 80 * GIB, unified=False).problem is None


def test_a_reservation_too_small_for_the_weights_is_named():
    # Coder-Next in the catalog, AWQ by its flag: ~45 GB of weights cannot live in 20 % of a Spark
    lane = vllm_lane("tight", 0.2, model="Qwen/Qwen3-Coder-Next", quantization="awq_marlin")
    fp = lane_footprint(lane, SPARK.memory_bytes, unified=True)
    assert fp.need_bytes is not None and fp.need_bytes > fp.reserved_bytes
    assert "raise it or lower ctx" in fp.problem


def test_discrete_gpu_pool_counts_no_runtime_outside_the_reservation():
    fp = lane_footprint(vllm_lane("a", 0.5), 80 * GIB, unified=False)
    assert fp.outside_bytes == 0 and fp.bytes == int(0.5 * 80 * GIB)


def test_llamacpp_lanes_take_their_estimate_without_a_per_lane_headroom():
    from lanekit.lanes.engine import engine_for

    lane = parse_lane({"name": "small", "model": "smollm2-135m", "ctx": 2048})
    fp = lane_footprint(lane, SPARK.memory_bytes, unified=True)
    est = engine_for(lane).memory_estimate(lane)
    assert fp.basis == "estimate" and fp.bytes == est.total_bytes - est.headroom_bytes


def test_best_fitting_set_is_the_first_ranked_combination_that_fits():
    ranked = [vllm_lane("a", 0.6), vllm_lane("b", 0.5), vllm_lane("c", 0.3)]
    chosen = best_fitting_set(ranked, 2, SPARK.memory_bytes, SPARK.os_reserved_bytes, True)
    assert [x.name for x in chosen] == ["b", "c"]  # a+b and a+c are over the pool
    with pytest.raises(LaneWontFit):
        best_fitting_set(ranked, 3, SPARK.memory_bytes, SPARK.os_reserved_bytes, True)


def test_file_lanes_by_name_ports_and_routes(tmp_path):
    (tmp_path / "lanes.yaml").write_text("lanes:\n  - {name: a, model: smollm2-135m}\n"
                                         "  - {name: b, model: smollm2-135m, port: 9000}\n")
    path = tmp_path / "app.yaml"
    path.write_text("appliance:\n  name: box\n  lanes: [a, b]\n  routes: {main: a, compression: b}\n")
    app = load_appliance_file(path)
    assert [app.port_of(x) for x in app.lanes] == [10101, 9000]
    assert app.route("compression").name == "b" and app.route("web_extract").name == "a"
    assert app.lane_name(app.lanes[0]) == "box.a" and app.bind == "127.0.0.1"


@pytest.mark.parametrize("body, field", [
    ("lanes: [{name: a, model: m}]\n  routes: {main: nope}", "routes.main"),
    ("lanes: [{name: a, model: m}]\n  routes: {coffee: a}", "routes.coffee"),
    ("lanes: [{name: a, model: m, port: 9}, {name: b, model: m, port: 9}]", "lanes[1].port"),
    ("bind: lan\n  lanes: [{name: a, model: m}]", "appliance.bind"),
    ("lanes: [{name: a, model: m, ctxx: 1}]", "appliance.lanes[0].ctxx"),
])
def test_file_errors_name_the_field(tmp_path, body, field):
    path = tmp_path / "app.yaml"
    path.write_text(f"appliance:\n  name: box\n  {body}\n")
    with pytest.raises(ConfigError) as info:
        load_appliance_file(path)
    assert field in info.value.message


# -- serving safely ------------------------------------------------------------------------------
def test_secured_lanes_bind_explicitly_turn_cors_off_and_keep_the_key_off_argv():
    from lanekit.lanes.appliance_run import _KeyedEngine, secured_spec

    app = ApplianceSpec(name="box", bind="0.0.0.0", lanes=[
        parse_lane({"name": "l", "model": "smollm2-135m"}), vllm_lane("v", 0.3), parse_lane(
            {"name": "b", "engine": "vllm", "model": "m", "gpu_memory_utilization": 0.2, "binary": "/bin/true"})])
    llama, docker, bare = (secured_spec(app, x) for x in app.lanes)
    assert llama.name == "box.l" and llama.host == "0.0.0.0" and llama.port == 10101
    assert ["--cors-origins", "", "--no-cors-credentials", "--no-webui"] == llama.extra_args[-4:]
    assert docker.extra_args[-2:] == ["--allowed-origins", "[]"] and "VLLM_API_KEY" in docker.pass_env
    engine = _KeyedEngine(docker, "lk-secret")
    argv = engine.argv(docker, 10102)
    assert not any("lk-secret" in a for a in argv) and "-e" in argv and "VLLM_API_KEY" in argv
    assert _KeyedEngine(bare, "lk-secret").env(bare)["VLLM_API_KEY"] == "lk-secret"
    assert "lk-secret" not in str(bare.model_dump())  # the owner record stores the spec: no key in it


def test_engines_without_a_key_flag_are_refused():
    from lanekit.lanes.appliance_run import secured_spec

    app = ApplianceSpec(name="box", lanes=[parse_lane({"name": "o", "engine": "ollama", "model": "qwen3:8b"})])
    with pytest.raises(ConfigError, match="cannot require an API key"):
        secured_spec(app, app.lanes[0])


def test_api_key_is_generated_once_and_private():
    from lanekit.lanes.appliance_run import api_key, appliance_dir

    key = api_key("keytest")
    assert key.startswith("lk-") and len(key) > 40 and api_key("keytest") == key
    mode = (appliance_dir("keytest") / "api_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_reachability_in_words(monkeypatch):
    from lanekit.lanes import appliance_run

    monkeypatch.setattr(appliance_run, "_addresses", lambda: [("lo", "127.0.0.1"), ("eth0", "192.168.1.20")])
    assert appliance_run.reachability("127.0.0.1") == "this machine only (loopback)"
    assert "192.168.1.20 (eth0)" in appliance_run.reachability("0.0.0.0")
    assert "(eth0)" in appliance_run.reachability("192.168.1.20")
    assert appliance_run.reachability("10.9.9.9").startswith("nothing yet")


# -- units, compose, Hermes ---------------------------------------------------------------------
def test_systemd_words_quote_empty_and_escape_specifiers():
    from lanekit.lanes.appliance_units import systemd_line

    assert systemd_line(["a", "", "x y", "50%", "$HOME", 'q"']) == 'a "" "x y" 50%% $$HOME "q\\""'


def test_units_order_start_health_gate_and_stop_containers(tmp_path):
    from lanekit.lanes.appliance_units import write_units

    app = seed_002()
    paths = write_units(app, tmp_path)
    coder = (tmp_path / "lanekit-spark-coder.service").read_text()
    fast = (tmp_path / "lanekit-spark-fast.service").read_text()
    assert "Requires=" not in coder and "Requires=lanekit-spark-coder.service" in fast
    assert "After=network-online.target lanekit-spark-coder.service" in fast
    assert "ExecStartPost=" in fast and "lanekit-wait-healthy.py http://127.0.0.1:10102/health" in fast
    assert "ExecStop=" in fast and "docker stop" in fast.split("ExecStop=")[1].split("\n")[0]
    assert f"EnvironmentFile={tmp_path / 'spark.env'}" in fast
    key_file = tmp_path / "spark.env"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file.read_text().startswith("VLLM_API_KEY=lk-")
    key = key_file.read_text().split("=", 1)[1].strip()
    assert key not in coder + fast  # the key is read from the file, never written into the unit
    assert "Wants=lanekit-spark-coder.service lanekit-spark-fast.service" in (tmp_path / "lanekit-spark.target").read_text()
    assert len(paths) == 5


def test_compose_starts_each_lane_after_the_one_before_is_healthy(tmp_path):
    from lanekit.lanes.appliance_units import compose_file

    doc = yaml.safe_load(compose_file(seed_002(), str(tmp_path / "spark.env")))
    coder, fast = doc["services"]["coder"], doc["services"]["fast"]
    assert fast["depends_on"] == {"coder": {"condition": "service_healthy"}} and "depends_on" not in coder
    assert coder["ports"] == ["127.0.0.1:10101:10101"] and coder["ipc"] == "host"
    assert coder["healthcheck"]["start_period"].endswith("s") and coder["deploy"]["resources"]
    assert "--allowed-origins" in coder["command"] and coder["env_file"] == [str(tmp_path / "spark.env")]


def _routing():
    from lanekit.agents.hermes_routing import RoutedLane, routing_config

    a = RoutedLane("coder", "http://10.0.0.5:10101/v1", "coder-next", 65536)
    b = RoutedLane("fast", "http://10.0.0.5:10102/v1", "qwen35", 65536)
    return routing_config("spark", {"main": a, "compression": b, "web_extract": b}, [a, b], "lk-k")


def test_hermes_routing_sends_tasks_to_their_lanes_with_the_key():
    routed = _routing()

    def provider(entry):  # Hermes' providers: schema (config v12), `custom:<key>`
        return routed["providers"][entry["provider"].removeprefix("custom:")]

    main = provider(routed["model"])
    assert main["api"].endswith(":10101/v1") and main["api_key"] == "lk-k" and main["default_model"] == "coder-next"
    assert routed["model"]["provider"] == "custom:lanekit-spark-coder" and routed["model"]["context_length"] == 65536
    assert provider(routed["auxiliary"]["compression"])["api"].endswith(":10102/v1")
    assert routed["auxiliary"]["compression"]["model"] == "qwen35"
    assert "timeout" not in routed["auxiliary"]["web_extract"]
    assert list(routed["providers"]) == ["lanekit-spark-coder", "lanekit-spark-fast"]


def test_hermes_merge_keeps_the_users_settings_and_is_idempotent(tmp_path):
    from lanekit.agents.hermes_routing import write_merged

    path = tmp_path / "config.yaml"
    path.write_text("model: {provider: openrouter, default: gpt}\ntoolsets: [web, terminal]\n"
                    "auxiliary: {vision: {provider: openrouter}, compression: {threshold: 0.6}}\n"
                    "providers: {work: {api: 'http://w/v1', default_model: w}}\n")
    _, backup = write_merged(path, _routing(), "spark")
    first = yaml.safe_load(path.read_text())
    assert backup is not None and "openrouter" in backup.read_text()
    assert first["toolsets"] == ["web", "terminal"] and first["auxiliary"]["vision"] == {"provider": "openrouter"}
    assert first["auxiliary"]["compression"]["threshold"] == 0.6  # a user's own key inside a routed task stays
    assert first["auxiliary"]["compression"]["provider"] == "custom:lanekit-spark-fast"
    assert list(first["providers"]) == ["work", "lanekit-spark-coder", "lanekit-spark-fast"]
    assert first["model"] == {"provider": "custom:lanekit-spark-coder", "default": "coder-next", "context_length": 65536}
    write_merged(path, _routing(), "spark")
    assert yaml.safe_load(path.read_text()) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_cli_plan_prints_the_arithmetic_and_refuses_an_over_budget_set_with_exit_2(tmp_path):
    import json
    import subprocess
    import sys

    lanes = [{"name": n, "engine": "vllm-docker", "model": "bullpoint/Qwen3-Coder-Next-AWQ-4bit",
              "gpu_memory_utilization": g} for n, g in (("coder", 0.45), ("fast", 0.35))]
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump({"appliance": {"name": "spark", "lanes": lanes}}))
    ok = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "appliance", "plan", str(path), "--hw", "gb10",
                         "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["fits"] is True
    lanes.append({"name": "extra", "engine": "vllm-docker", "model": "x/y-AWQ", "gpu_memory_utilization": 0.15})
    path.write_text(yaml.safe_dump({"appliance": {"name": "spark", "lanes": lanes}}))
    bad = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "appliance", "plan", str(path), "--hw", "gb10"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: appliance 'spark' does not fit together") and "drop lane 'extra'" in bad.stderr
    assert "short by" in bad.stdout  # the arithmetic is printed before the refusal


def test_from_profile_writes_the_best_ranked_lanes_that_fit_together(tmp_path):
    import subprocess
    import sys

    from lanekit.report.store import Store
    from lanekit.results.models import BenchOutcome, DoctorOutcome, EvalOutcome, LaneResult

    store = Store(str(tmp_path / "results.sqlite"))
    specs = [{"name": n, "engine": "vllm-docker", "model": f"org/{n}-AWQ", "ctx": 65536, "gpu_memory_utilization": g}
             for n, g in (("a", 0.6), ("b", 0.5), ("c", 0.3))]
    run = store.new_run("bakeoff", {"plan": {"name": "p", "lanes": specs}})
    for spec, speed in zip(specs, (90.0, 60.0, 30.0)):  # ranked a, b, c by speed
        res = LaneResult(name=spec["name"], engine=spec["engine"], model=spec["model"], ctx=65536, parallel=1,
                         spec=spec, doctor=DoctorOutcome(verdict="pass"), bench=BenchOutcome(single={"decode_tok_s": speed}),
                         eval=EvalOutcome(agent="builtin", summary={"format_error_rate": 0.0, "clean_run_rate": 1.0}))
        store.set_summary(run, spec["name"], "lane", res.model_dump(mode="json"))
    store.finish_run(run, "done")
    store.close()
    out = tmp_path / "appliance.yaml"
    proc = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "appliance", "from-profile", run, "--out", str(out),
                           "--hw", "gb10", "--db", str(tmp_path / "results.sqlite"), "--name", "box"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    app = load_appliance_file(out)
    assert [x.name for x in app.lanes] == ["b", "c"]  # a+b and a+c are over a Spark; b+c fit
    assert app.routes == {"main": "b", "compression": "c", "web_extract": "c"} and app.hw == "gb10"
    assert plan_appliance(app).fits
