"""Versioned prompts for the load scenarios. A prompt's sha256 is recorded with every result, so a
changed prompt can never be compared silently with an old one. Change text → bump the version.
"""

from __future__ import annotations

import hashlib
import json
import random

SINGLE_VERSION = "single-v1"
SINGLE_MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "You are a careful senior software engineer. Answer in plain prose."},
    {"role": "user", "content": (
        "Explain, step by step, how a hash table handles collisions. Cover separate chaining and open "
        "addressing, how the load factor drives resizing, what happens to iteration order, and which "
        "workloads make each design slow. Finish with a short worked example in Python.")},
]

AGENT_VERSION = "agent-prefix-v1"
AGENT_TOOLS: list[dict] = [
    {"type": "function", "function": {
        "name": name, "description": desc,
        "parameters": {"type": "object", "properties": {k: {"type": t, "description": d} for k, t, d in props},
                       "required": [p[0] for p in props]}}}
    for name, desc, props in [
        ("read_file", "Read a UTF-8 text file from the workspace.",
         [("path", "string", "path relative to the workspace root")]),
        ("write_file", "Create or overwrite a file in the workspace.",
         [("path", "string", "path relative to the workspace root"), ("content", "string", "full file text")]),
        ("run_shell", "Run a shell command in the workspace and return stdout, stderr and the exit code.",
         [("command", "string", "the command line"), ("timeout_s", "integer", "seconds before it is killed")]),
        ("search_code", "Search the workspace for a regular expression.",
         [("pattern", "string", "Python regular expression"), ("glob", "string", "file glob, e.g. **/*.py")]),
        ("list_dir", "List the entries of a directory.", [("path", "string", "directory path")]),
        ("apply_patch", "Apply a unified diff to the workspace.", [("diff", "string", "unified diff text")]),
    ]
]
_AGENT_RULES = [
    "Work in small, verifiable steps and run the tests after every change.",
    "Never invent file contents: read a file before you edit it.",
    "Prefer the narrowest tool that answers the question.",
    "When a command fails, read the error, form a hypothesis, and test it before changing code.",
    "Keep changes minimal and explain each one in a sentence.",
    "Do not touch files outside the workspace; never run destructive commands.",
    "Summarise what you did and what is left when you stop.",
]
AGENT_USER_TURNS = [
    "The test suite fails on test_parse_dates. Find out why.",
    "Show me the function that parses the dates.",
    "What does the failing assertion expect?",
    "Fix the timezone handling and keep the public signature.",
    "Run the tests again.",
    "One test still fails on leap years. Look at it.",
    "Patch the leap-year branch.",
    "Run the whole suite and summarise the changes.",
    "Add a regression test for the leap-year case.",
    "Update the changelog entry.",
    "Is anything left to do?",
    "Commit the change with a short message.",
]

_WORDS = ["the", "model", "reads", "every", "weight", "once", "per", "token", "so", "decode", "speed", "follows", "memory", "bandwidth", "while", "prefill", "follows", "compute", "and", "a", "cache", "that", "keeps", "earlier", "keys", "and", "values", "lets", "a", "server", "skip", "work", "it", "already", "did", "agents", "resend", "the", "same", "long", "system", "prompt", "and", "tool", "list", "on", "every", "turn", "and", "measured", "numbers", "must", "be", "checked", "against", "the", "ceiling", "before", "anyone", "trusts", "them"]


def sha256_of(value: object) -> str:
    """sha256 of the canonical JSON of a prompt (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def single_prompt() -> tuple[list[dict[str, str]], str, str]:
    """The fixed single-stream prompt: (messages, version, sha256)."""
    return SINGLE_MESSAGES, SINGLE_VERSION, sha256_of({"version": SINGLE_VERSION, "messages": SINGLE_MESSAGES})


def agent_system_prompt(words: int = 600, tools_in_prompt: bool = True) -> str:
    """An agent-shaped system prompt of about `words` words, with the tool list as JSON when asked."""
    parts = ["You are a coding agent working in a sandboxed repository. Rules:"]
    rules = [f"{i + 1}. {r}" for i, r in enumerate(_AGENT_RULES)]
    text_words = len(parts[0].split()) + sum(len(r.split()) for r in rules)
    filler = filler_text(max(0, words - text_words), seed=7)
    body = "\n".join(parts + rules) + "\nProject notes: " + filler
    if tools_in_prompt:
        body += "\nTools (call them with JSON arguments):\n" + json.dumps(AGENT_TOOLS, separators=(",", ":"))
    return body


def agent_turn(turn: int, tool_result_words: int = 40) -> tuple[dict[str, str], dict[str, str]]:
    """Turn `turn` of the canned agent conversation: (user message with a tool result, assistant reply).

    Canned replies keep the conversation — and so every prompt and its hash — independent of the model.
    """
    ask = AGENT_USER_TURNS[turn % len(AGENT_USER_TURNS)]
    result = filler_text(tool_result_words, seed=1000 + turn)
    user = {"role": "user", "content": f"{ask}\nTool output:\n{result}"}
    reply = {"role": "assistant", "content": f"Step {turn + 1}: I looked at the tool output and will continue."}
    return user, reply


def filler_text(n_words: int, seed: int) -> str:
    """`n_words` deterministic pseudo-random words; a different seed gives a different token prefix."""
    rng = random.Random(seed)
    return " ".join(rng.choice(_WORDS) for _ in range(n_words))
