"""`/v1/models` answers and names the model the lane is supposed to serve."""

from __future__ import annotations

from lanekit.doctor.report import CheckResult

NAME = "models"


def run(probe) -> CheckResult:
    reply = probe.models()
    if reply.status == 0:
        return CheckResult(name=NAME, status="fail", detail=f"no answer from {probe.base_url}/models ({reply.error})",
                           fix="start the lane (`lanekit up`) or correct --url")
    if reply.status != 200 or not isinstance(reply.body, dict):
        return CheckResult(name=NAME, status="fail", detail=f"GET /v1/models → HTTP {reply.status}: {reply.text[:120]}",
                           fix="point --url at the OpenAI-compatible base (…/v1) of the server")
    ids = probe.model_ids()
    if not ids:
        return CheckResult(name=NAME, status="fail", detail="/v1/models lists no model",
                           fix="the server has not loaded a model (Ollama: pull/create it first)")
    if probe.model and probe.model not in ids:
        return CheckResult(name=NAME, status="fail",
                           detail=f"model {probe.model!r} is not served; the server lists {ids}",
                           fix=f"request one of {ids} (or start the server with --served-model-name/--alias "
                               f"{probe.model})")
    return CheckResult(name=NAME, status="pass", detail=f"serves {', '.join(ids)} ({reply.seconds * 1000:.0f} ms)")
