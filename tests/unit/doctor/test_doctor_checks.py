"""Doctor checks against fake lanes: each symptom gets its status and the engine's exact fix."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from fake_lane import fake_lane

from lanekit.doctor import CHECK_NAMES, run_doctor

URL = "http://lane.test:8000/v1"


def doctor(**kwargs):
    harness = kwargs.pop("harness", None)
    model = kwargs.pop("model", None)
    transport, _ = fake_lane(**kwargs)
    return run_doctor(URL, model, harness=harness, transport=transport)


def test_healthy_vllm_lane_passes_every_check():
    report = doctor(harness="hermes")
    assert report.verdict == "pass", report.reason()
    assert report.engine == "vllm"
    # jinja and backend apply to llama.cpp (and Ollama) lanes only
    assert [c.name for c in report.checks] == [n for n in CHECK_NAMES if n not in ("jinja", "backend")]
    assert "structured call get_weather" in report.check("tool_calls").detail
    assert "enable_prefix_caching=True" in report.check("prefix_cache").detail


def test_http_400_is_the_missing_parser_with_the_flags_as_fix():
    report = doctor(model="Qwen/Qwen3-30B-A3B", models=("Qwen/Qwen3-30B-A3B",), tool_status=400,
                    tool_error='"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set')
    check = report.check("tool_calls")
    assert check.status == "fail" and "missing-parser" in check.detail
    assert "--enable-auto-tool-choice --tool-call-parser hermes" in check.fix
    assert report.verdict == "fail"


def test_call_written_in_the_text_names_the_parser_fix():
    text = '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```'
    report = doctor(model="meta-llama/Llama-3.3-70B-Instruct", models=("meta-llama/Llama-3.3-70B-Instruct",),
                    tool_message={"role": "assistant", "content": text})
    check = report.check("tool_calls")
    assert check.status == "fail" and "call written in the text as a fenced ```json block" in check.detail
    assert "--tool-call-parser llama3_json" in check.fix


def test_call_in_text_on_llamacpp_names_the_shipped_template():
    from lanekit.doctor.fixes import call_in_text

    fix = call_in_text("qwen2.5-coder-1.5b", "llamacpp", "fenced ```json block")
    assert "chat_template_file: qwen2.5-coder-tools" in fix and "--chat-template-file" in fix


def test_reasoning_that_swallows_the_call_names_generation_config():
    report = doctor(model="Qwen/Qwen3-32B", models=("Qwen/Qwen3-32B",), tool_message={
        "role": "assistant", "content": "<think>I should call get_weather with {\"name\": \"get_weather\"} "
                                        "for Paris</think>"})
    check = report.check("tool_calls")
    assert check.status == "fail" and "reasoning swallowed the call" in check.detail
    assert "--generation-config vllm" in check.fix and "--reasoning-parser qwen3" in check.fix


def test_tools_silently_dropped_is_seen_in_prompt_tokens():
    report = doctor(tool_message={"role": "assistant", "content": "It is sunny in Paris."},
                    prompt_tokens_with_tools=40, prompt_tokens_without=40)
    check = report.check("tool_calls")
    assert check.status == "fail" and "tools silently dropped" in check.detail


def test_model_that_just_answers_fails_without_blaming_the_template():
    report = doctor(tool_message={"role": "assistant", "content": "It is sunny in Paris."})
    check = report.check("tool_calls")
    assert check.status == "fail" and check.detail.startswith("no tool call")


def test_context_below_the_hermes_floor_fails_with_max_model_len():
    report = doctor(harness="hermes", max_model_len=32768)
    check = report.check("context")
    assert check.status == "fail" and "32,768" in check.detail and "65,536" in check.detail
    assert "--max-model-len 65536" in check.fix


def test_gibberish_fails_the_coherence_gate():
    report = doctor(answer="zxq vbnm qwrtp lkjh zzxv bnmq prst")
    check = report.check("coherence")
    assert check.status == "fail" and "gibberish" in check.detail and "NVFP4" in check.fix


def test_missing_metrics_and_usage_warn():
    report = doctor(metrics=None, usage=False)
    assert report.check("metrics").status == "warn"
    assert report.check("usage").status == "warn"
    assert report.verdict == "warn"


def test_broken_stream_fails():
    assert doctor(stream_ok=False).check("streaming").status == "fail"


def test_raw_think_in_content_warns():
    report = doctor(answer="<think>hmm</think>Paris")
    assert report.check("reasoning").status == "warn"


def test_wrong_model_name_fails_models_check():
    report = doctor(model="other")
    check = report.check("models")
    assert check.status == "fail" and "'other' is not served" in check.detail


def test_unreachable_lane_is_one_fail_and_stops():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    report = run_doctor(URL, transport=httpx.MockTransport(refuse))
    assert [c.name for c in report.checks] == ["models"]
    assert report.verdict == "fail" and "no answer" in report.checks[0].detail


def test_stable_json_shape():
    doc = json.loads(json.dumps(doctor().stable_json()))
    assert doc["schema_version"] == 1 and doc["verdict"] == "pass"
    assert set(doc) >= {"checks", "verdict", "base_url", "model", "engine", "harness"}
    for check in doc["checks"]:
        assert set(check) == {"name", "status", "detail", "fix"}
        assert check["status"] in ("pass", "warn", "fail")


def test_only_runs_the_named_checks_plus_models():
    transport, _ = fake_lane()
    report = run_doctor(URL, only=["metrics"], transport=transport)
    assert [c.name for c in report.checks] == ["models", "metrics"]


def test_nim_metrics_url_is_v1_metrics():
    from lanekit.doctor.probe import default_metrics_url

    assert default_metrics_url("http://h:8000", "nim") == "http://h:8000/v1/metrics"
    assert default_metrics_url("http://h:8000", "vllm") == "http://h:8000/metrics"


def test_ollama_is_detected_and_its_context_fix_is_the_env_var():
    base, _ = fake_lane(owned_by="library", max_model_len=None, metrics=None)

    def handler(request):
        if request.url.path == "/api/version":
            return httpx.Response(200, json={"version": "0.12.0"})
        if request.url.path == "/api/ps":
            return httpx.Response(200, json={"models": [{"name": "m:latest", "context_length": 4096}]})
        return base.handle_request(request)

    report = run_doctor(URL, harness="hermes", transport=httpx.MockTransport(handler))
    assert report.engine == "ollama"
    ctx = report.check("context")
    assert ctx.status == "fail" and "/api/ps" in ctx.detail
    assert ctx.fix.startswith("OLLAMA_CONTEXT_LENGTH=65536")
    assert "no Prometheus endpoint" in report.check("metrics").fix


def test_streamed_tool_call_deltas_are_assembled_and_judged():
    report = doctor()
    check = next(c for c in report.checks if c.name == "tool_calls_stream")
    assert check.status == "pass", check.detail
    assert 'get_weather({"city": "Paris"})' in check.detail and check.detail.startswith("streamed:")


def test_a_server_whose_streaming_parser_drops_the_call_fails_the_streamed_check():
    report = doctor(stream_drops_tools=True)
    by_name = {c.name: c for c in report.checks}
    assert by_name["tool_calls"].status == "pass"          # the non-streamed path works
    assert by_name["tool_calls_stream"].status == "fail"   # what a streaming agent sees does not
    assert "streamed one does not" in by_name["tool_calls_stream"].detail
    assert report.verdict == "fail"


def test_doctor_reports_each_check_as_it_starts():
    transport, _ = fake_lane()
    seen = []
    report = run_doctor(URL, transport=transport, progress=lambda name, i, total: seen.append((name, total)))
    assert [name for name, _ in seen] == [c.name for c in report.checks]
    assert all(total == len(CHECK_NAMES) for _, total in seen)
