"""The tool-call failure taxonomy and the per-call checks behind it.

Attempt classes (one per failed tool-call attempt):
    malformed_arguments  arguments are not valid JSON, or JSON that is not an object
    unknown_tool         the name is not one of the tools offered
    schema_violation     missing required / unexpected parameter / wrong type (jsonschema)
    call_in_content      the call was written into the message text instead of `tool_calls`
    empty_call           a tool call with no function or no name
Run classes (at most one per run):
    no_call              the task needs a tool and the agent made no attempt at all
    no_output            the agent produced nothing: no text, no call
Budget class (not a format error: the run is unclean, the cap is named):
    truncated            a response cut off at the output cap (finish_reason `length`), once per
                         partial call (at least once); a reasoning model that needs more tokens is
                         judged on its budget, not on its formatting
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, NamedTuple

MALFORMED_ARGUMENTS = "malformed_arguments"
UNKNOWN_TOOL = "unknown_tool"
SCHEMA_VIOLATION = "schema_violation"
CALL_IN_CONTENT = "call_in_content"
EMPTY_CALL = "empty_call"
TRUNCATED = "truncated"
NO_CALL = "no_call"
NO_OUTPUT = "no_output"

ATTEMPT_CLASSES = (MALFORMED_ARGUMENTS, UNKNOWN_TOOL, SCHEMA_VIOLATION, CALL_IN_CONTENT, EMPTY_CALL)
RUN_CLASSES = (NO_CALL, NO_OUTPUT)
BUDGET_CLASSES = (TRUNCATED,)
ERROR_CLASSES = ATTEMPT_CLASSES + RUN_CLASSES + BUDGET_CLASSES

DESCRIPTIONS = {
    MALFORMED_ARGUMENTS: "arguments are not a valid JSON object",
    UNKNOWN_TOOL: "called a tool that was not offered",
    SCHEMA_VIOLATION: "arguments do not match the tool's schema",
    CALL_IN_CONTENT: "wrote the call into the text instead of a structured tool call",
    EMPTY_CALL: "tool call without a function name",
    TRUNCATED: "response cut off at the output cap (a budget, not a format error)",
    NO_CALL: "no tool call where one was required",
    NO_OUTPUT: "the agent produced nothing",
}

# Markers that chat templates and tool-call parsers use; seeing one in content means the call
# reached the text channel instead of `tool_calls`.
_CALL_MARKERS = re.compile(
    r"<tool_call>|<function=|<function_call>|\[TOOL_CALLS\]|<\|python_tag\|>|<\|tool_call\|>|<tool_use>"
    r"|<\|tool_calls_section_begin\|>|<\|tool▁calls▁begin\|>")
_NAME_KEY = re.compile(r'"(?:name|function|tool|tool_name)"\s*:\s*"([A-Za-z_][\w.\-]*)"')
_ARG_KEYS = ("arguments", "parameters", "args", "input", "tool_input")


class Problem(NamedTuple):
    """One classified failure: its class and a human detail."""

    cls: str
    detail: str


def decode_call(call: Any) -> tuple[str | None, dict[str, Any] | None, Problem | None]:
    """Name, parsed arguments and the format problem (if any) of one raw structured tool call.

    An empty arguments string counts as `{}` (OpenAI SDKs and Hermes treat it so); the schema
    check then catches missing required parameters.
    """
    if not isinstance(call, dict):
        return None, None, Problem(EMPTY_CALL, f"tool call is a {type(call).__name__}, not an object")
    fn = call.get("function")
    if not isinstance(fn, dict):
        return None, None, Problem(EMPTY_CALL, "tool call has no function")
    name = fn.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, None, Problem(EMPTY_CALL, "tool call has no function name")
    raw = fn.get("arguments")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return name, {}, None
    if isinstance(raw, dict):
        return name, raw, None
    if not isinstance(raw, str):
        return name, None, Problem(MALFORMED_ARGUMENTS, f"arguments are a {type(raw).__name__}, not a JSON string")
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        return name, None, Problem(MALFORMED_ARGUMENTS,
                                   f"arguments are not valid JSON ({exc.msg} at char {exc.pos}): {raw[:120]!r}")
    if not isinstance(parsed, dict):
        return name, None, Problem(MALFORMED_ARGUMENTS,
                                   f"arguments are a JSON {type(parsed).__name__}, not an object")
    return name, parsed, None


@lru_cache(maxsize=256)
def _validator(schema_json: str):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def check_arguments(name: str, args: dict[str, Any], schemas: dict[str, dict[str, Any]] | None) -> Problem | None:
    """Unknown tool or schema violation for a decoded call; None when fine or schemas unknown."""
    if schemas is None:
        return None
    if name not in schemas:
        offered = ", ".join(sorted(schemas)[:12])
        return Problem(UNKNOWN_TOOL, f"unknown tool {name!r} (offered: {offered})")
    validator = _validator(json.dumps(_closed(schemas[name]), sort_keys=True))
    errors = sorted(validator.iter_errors(args), key=lambda e: (list(e.absolute_path), e.validator))
    if not errors:
        return None
    return Problem(SCHEMA_VIOLATION, "; ".join(_describe(e) for e in errors[:3]))


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """Strict like BFCL: an object schema that does not say otherwise accepts no extra parameters."""
    if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
        return {**schema, "additionalProperties": False}
    return schema


def _describe(err: Any) -> str:
    where = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", err.message)
        return f"missing_required: {', '.join(missing) or err.message}"
    if err.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", err.message.split("(")[-1])
        return f"unexpected_param: {', '.join(extra) or err.message}"
    if err.validator == "type":
        return f"wrong_type: {where or '<arguments>'} should be {err.validator_value}"
    return f"{err.validator}: {where + ' ' if where else ''}{err.message[:120]}"


def classify_call(call: Any, schemas: dict[str, dict[str, Any]] | None) -> tuple[str | None, dict | None, Problem | None]:
    """decode_call, then check_arguments: the first problem wins."""
    name, args, problem = decode_call(call)
    if problem is None and name is not None and args is not None:
        problem = check_arguments(name, args, schemas)
    return name, args, problem


def _looks_like_call(obj: Any, tool_names: set[str] | None) -> str | None:
    """The called name when a decoded JSON value is shaped like a tool call."""
    if isinstance(obj, list):
        for item in obj:
            found = _looks_like_call(item, tool_names)
            if found:
                return found
        return None
    if not isinstance(obj, dict):
        return None
    fn = obj.get("function")
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return fn["name"]
    for key in ("name", "tool", "tool_name", "function"):
        value = obj.get(key)
        named = isinstance(value, str) and bool(value)
        if named and (any(k in obj for k in _ARG_KEYS) or (tool_names and value in tool_names)):
            return value
    return None


def calls_in_content(content: str | None, tool_names: set[str] | None = None) -> list[str]:
    """Descriptions of tool calls written into message text (fenced JSON, bare JSON, template
    tags, or `tool(...)` with a known tool name). Empty when the text holds no call."""
    if not content or not content.strip():
        return []
    found: list[str] = []
    found += [f"template marker {m.group(0)!r}" for m in _CALL_MARKERS.finditer(content)]
    decoder = json.JSONDecoder()
    covered_until = -1
    for i, ch in enumerate(content):
        if i < covered_until or ch not in "[{":
            continue
        try:
            value, end = decoder.raw_decode(content, i)
        except json.JSONDecodeError:
            continue
        covered_until = end
        name = _looks_like_call(value, tool_names)
        if name:
            found.append(f"JSON call to {name!r}")
    if not found:
        # a call that is not even valid JSON (cut off, single quotes) still names a tool
        for match in _NAME_KEY.finditer(content):
            if (tool_names and match.group(1) in tool_names) or any(f'"{k}"' in content for k in _ARG_KEYS):
                found.append(f"unparsed JSON call to {match.group(1)!r}")
    if not found and tool_names:
        pattern = r"\b(" + "|".join(map(re.escape, sorted(tool_names))) + r")\s*\(\s*[\w\"'{]"
        found += [f"function-style call {m.group(1)}(...)" for m in re.finditer(pattern, content)]
    return found
