"""A configurable fake OpenAI-compatible server for doctor unit tests (httpx.MockTransport)."""

from __future__ import annotations

import json

import httpx

METRICS_VLLM = ('# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name="m"} 0.0\n'
                'vllm:cache_config_info{block_size="16",enable_prefix_caching="True"} 1.0\n')


def fake_lane(*, tool_message=None, tool_status=200, tool_error=None, answer="Paris.", models=("m",),
              max_model_len=65536, owned_by="vllm", metrics=METRICS_VLLM, usage=True, stream_ok=True,
              prompt_tokens_with_tools=80, prompt_tokens_without=40, reasoning=None, stream_drops_tools=False):
    """Return (transport, calls) for a lane whose behaviour the keyword arguments pick."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        calls.append(path)
        if path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": owned_by, "max_model_len": max_model_len} for m in models]})
        if path == "/metrics":
            return httpx.Response(200, text=metrics) if metrics else httpx.Response(404, text="not found")
        if path in ("/props", "/api/version", "/api/ps"):
            return httpx.Response(404, text="not found")
        if path == "/v1/chat/completions":
            body = json.loads(request.content)
            if body.get("stream") and body.get("tools") and tool_status == 200:
                return _stream_tool_reply(tool_message, stream_drops_tools)
            if body.get("stream"):
                if not stream_ok:
                    return httpx.Response(500, text="boom")
                chunks = [{"choices": [{"delta": {"content": w}}]} for w in ("5", ", 6", ", 7")]
                if usage:
                    chunks.append({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}})
                text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
            if body.get("tools"):
                if tool_status != 200:
                    return httpx.Response(tool_status, json={"error": {"message": tool_error}})
                msg = tool_message or {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
                finish = "tool_calls" if msg.get("tool_calls") else "stop"
                return httpx.Response(200, json={"choices": [{"message": msg, "finish_reason": finish}],
                                                  "usage": {"prompt_tokens": prompt_tokens_with_tools,
                                                            "completion_tokens": 20}})
            if body.get("max_tokens") == 1:
                return httpx.Response(200, json={"choices": [{"message": {"content": "I"}, "finish_reason": "length"}],
                                                  "usage": {"prompt_tokens": prompt_tokens_without,
                                                            "completion_tokens": 1}})
            msg = {"role": "assistant", "content": answer}
            if reasoning:
                msg["reasoning_content"] = reasoning
            out = {"choices": [{"message": msg, "finish_reason": "stop"}]}
            if usage:
                out["usage"] = {"prompt_tokens": 12, "completion_tokens": 3}
            return httpx.Response(200, json=out)
        return httpx.Response(404, text="not found")

    return httpx.MockTransport(handler), calls


def _default_tool_message():
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}


def _stream_tool_reply(tool_message, drop: bool) -> httpx.Response:
    """The tool reply as a streaming server sends it: the call's name first, arguments in fragments."""
    msg = tool_message or _default_tool_message()
    chunks = []
    for i, call in enumerate([] if drop else msg.get("tool_calls") or []):
        fn = call["function"]
        chunks.append({"choices": [{"delta": {"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                              "function": {"name": fn["name"], "arguments": ""}}]}}]})
        args = fn["arguments"]
        for part in (args[: len(args) // 2], args[len(args) // 2:]):
            chunks.append({"choices": [{"delta": {"tool_calls": [{"index": i, "function": {"arguments": part}}]}}]})
    text = msg.get("content") or ("I cannot call tools." if drop else None)
    if text:
        chunks.append({"choices": [{"delta": {"content": text}}]})
    finish = "tool_calls" if chunks and not drop and msg.get("tool_calls") else "stop"
    chunks.append({"choices": [{"delta": {}, "finish_reason": finish}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 80, "completion_tokens": 20}})
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
