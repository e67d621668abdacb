"""The built-in agent tools, confined to one task's temporary workspace by the kernel.

`TOOL_SPECS` are the OpenAI `tools` entries the loop offers; `TOOL_SCHEMAS` maps each name to
its JSON-schema parameters (the scorer validates calls against them). The file tools open
every path with openat2 beneath the workspace (no `..` out, no symbolic or hard links, no
check-then-open race; jail/beneath.py). `run_shell` runs allowlisted command names, `|`
pipelines included, inside the jail (jail/sandbox.py): the command sees the workspace and a
read-only system, no network, its own pids, rlimits, and one wall-clock limit for the whole
pipeline that never outlasts the task's deadline. The jail is the boundary, not the
allowlist: whatever argv the model builds (`sort --compress-program=sh`, `--files0-from`,
`date --se=`) reaches nothing outside. Without a jail on the host, a ToolBox refuses to exist.
A refused or failing call returns "error: ..." to the model; it never raises.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import math
import operator
import os
import shlex
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lanekit.agents.jail import SHELL_LIMITS, Beneath, Jail, PathRefused, default_jail
from lanekit.agents.jail.beneath import PathMissing

MAX_OUTPUT_CHARS = 8000
MAX_READ_BYTES = 256 * 1024
MAX_WRITE_BYTES = 4 * 1024 * 1024
SEARCH_FILE_BYTES = 1024 * 1024  # search reads at most this much of each file ...
SEARCH_TOTAL_BYTES = 16 * 1024 * 1024  # ... and this much in all
SHELL_TIMEOUT_S = 10.0
SHELL_OUTPUT_BYTES = 64 * 1024

# The command names run_shell accepts: the tool's advertised surface, not its security (the jail is).
SHELL_ALLOWLIST = frozenset({
    "cat", "cut", "date", "echo", "find", "grep", "head", "ls", "nl", "pwd", "sort", "tail", "tr",
    "uniq", "wc", "basename", "dirname", "stat", "true", "printf", "expr", "seq",
})
_SHELL_META = set(";&<>`$\\\n")
_SHELL_PATH = "/usr/bin:/bin"


def _spec(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required,
                       "additionalProperties": False}}}


_STR = {"type": "string"}
TOOL_SPECS: list[dict[str, Any]] = [
    _spec("read_file", "Read a text file in the workspace and return its content.",
          {"path": {**_STR, "description": "file path relative to the workspace"}}, ["path"]),
    _spec("write_file", "Create or overwrite a text file in the workspace.",
          {"path": {**_STR, "description": "file path relative to the workspace"},
           "content": {**_STR, "description": "the complete new content"}}, ["path", "content"]),
    _spec("list_dir", "List the entries of a directory in the workspace (directories end with '/').",
          {"path": {**_STR, "description": "directory relative to the workspace; '.' is the root"}}, []),
    _spec("search", "Find lines containing a text in the workspace files; returns path:line:text.",
          {"query": {**_STR, "description": "the text to look for (plain, case-sensitive)"},
           "path": {**_STR, "description": "directory or file to search; default '.'"}}, ["query"]),
    _spec("run_shell", "Run one allowlisted command (ls, cat, wc, grep, find, date, head, tail, sort, ...) "
                       "in the workspace; pipes with | are allowed, no network, 10 s limit.",
          {"command": {**_STR, "description": "the command line, e.g. `wc -l data.txt`"}}, ["command"]),
    _spec("calculator", "Evaluate an arithmetic expression (+ - * / // % ** and parentheses).",
          {"expression": {**_STR, "description": "e.g. (17 + 25) * 3"}}, ["expression"]),
]
TOOL_SCHEMAS: dict[str, dict[str, Any]] = {s["function"]["name"]: s["function"]["parameters"] for s in TOOL_SPECS}


class ToolError(Exception):
    """A refused or failed tool call; its message goes back to the model as the tool result."""


class Workspace:
    """A directory the tools may touch; `fs` opens paths strictly beneath `root`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.fs = Beneath(self.root)

    @classmethod
    def create(cls, fixtures: dict[str, str] | None = None, prefix: str = "lanekit-task-") -> Workspace:
        """A fresh temporary workspace with `fixtures` (relative path → text) written into it."""
        ws = cls(tempfile.mkdtemp(prefix=prefix))
        for rel, text in (fixtures or {}).items():
            ws.fs.write_bytes(rel, text.encode())
        return ws

    def cleanup(self) -> None:
        """Remove the workspace, even directories the jail left without write permission."""

        def unlock(func: Callable[..., Any], path: str, _exc: Any) -> None:
            parent = os.path.dirname(path)
            if not os.path.islink(parent):
                os.chmod(parent, stat.S_IRWXU)
            func(path)

        # Python 3.12 renamed the hook (same call shape for what `unlock` uses)
        shutil.rmtree(self.root, **({"onexc": unlock} if sys.version_info >= (3, 12) else {"onerror": unlock}))

    def resolve(self, rel: str) -> Path:
        """Where `rel` lies inside the workspace, lexically (nothing is opened or followed);
        ToolError for an empty path, a NUL byte, `~`, or one that leaves the workspace."""
        try:
            return self.root / self.fs.normalize(rel)
        except PathRefused as exc:
            raise ToolError(str(exc)) from None

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path != self.root else "."

    def snapshot(self, paths: list[str], limit: int = 4096) -> dict[str, str | None]:
        """Contents of `paths` (None when missing, outside, a link or not a regular file);
        kept in the trace for file checks."""
        out: dict[str, str | None] = {}
        for rel in paths:
            try:
                data, _ = self.fs.read_bytes(rel, limit * 4)
                out[rel] = data.decode("utf-8", errors="replace")[:limit]
            except (PathRefused, OSError):
                out[rel] = None
        return out


def _clip(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return text[:MAX_OUTPUT_CHARS] + f"\n... [truncated, {len(text) - MAX_OUTPUT_CHARS} more characters]"


class ToolBox:
    """Executes tool calls against one workspace; `call` always returns a string.

    `deadline_ns` (on `clock`, the loop's) is the task's: a call after it is refused, and a
    shell command is killed at it. Raises SandboxUnavailable when `jail` cannot run here."""

    def __init__(self, workspace: Workspace, shell_timeout_s: float = SHELL_TIMEOUT_S, *,
                 deadline_ns: int | None = None, clock: Callable[[], int] = time.monotonic_ns,
                 jail: Jail | None = None) -> None:
        self.ws = workspace
        self.shell_timeout_s = shell_timeout_s
        self.deadline_ns = deadline_ns
        self.clock = clock
        self.jail = jail or default_jail()
        self.jail.require("the run_shell tool that every built-in battery task offers")
        self.jail.adopt(self.ws.root)  # the jail's uid must be able to write what the fixtures hold
        self.ws.fs.owner = self.jail.owner
        self._tools: dict[str, Callable[..., str]] = {
            "read_file": self.read_file, "write_file": self.write_file, "list_dir": self.list_dir,
            "search": self.search, "run_shell": self.run_shell, "calculator": self.calculator,
        }

    def remaining_s(self) -> float | None:
        """Seconds left before the task's deadline (None: no deadline)."""
        return None if self.deadline_ns is None else (self.deadline_ns - self.clock()) / 1e9

    def call(self, name: str, args: dict[str, Any]) -> str:
        """Run tool `name` with `args`; refusals and failures come back as 'error: ...'."""
        fn = self._tools.get(name)
        if fn is None:
            return f"error: unknown tool {name!r}; available: {', '.join(self._tools)}"
        remaining = self.remaining_s()
        if remaining is not None and remaining <= 0:
            return "error: the task's time limit is over; no more tool calls run"
        try:
            return _clip(fn(**args))
        except (ToolError, PathRefused) as exc:
            return f"error: {exc}"
        except TypeError as exc:  # wrong or missing keyword arguments
            return f"error: bad arguments for {name}: {exc}"
        except OSError as exc:
            return f"error: {exc.strerror or exc}"

    # -- file tools -------------------------------------------------------------------------
    def read_file(self, path: str) -> str:
        try:
            data, more = self.ws.fs.read_bytes(path, MAX_READ_BYTES)
        except PathMissing:
            raise ToolError(f"no such file: {path}") from None
        text = data.decode("utf-8", errors="replace")
        return text + ("\n... [file truncated]" if more else "")

    def write_file(self, path: str, content: str) -> str:
        if not isinstance(content, str):
            raise ToolError("content must be a string")
        data = content.encode()
        if len(data) > MAX_WRITE_BYTES:
            raise ToolError(f"content is {len(data)} bytes; the limit is {MAX_WRITE_BYTES}")
        rel = self.ws.fs.write_bytes(path, data)
        return f"wrote {len(data)} bytes to {rel}"

    def list_dir(self, path: str = ".") -> str:
        kind = self.ws.fs.kind(path)
        if kind == "link":
            raise ToolError(f"{path} is a symbolic link; the tools do not follow links")
        if kind != "dir":
            raise ToolError(f"no such directory: {path}")
        suffix = {"dir": "/", "link": "@"}
        names = [name + suffix.get(kind, "") for name, kind in self.ws.fs.list_dir(path)]
        return "\n".join(names) if names else "(empty directory)"

    def search(self, query: str, path: str = ".") -> str:
        if not isinstance(query, str) or not query:
            raise ToolError("query must be a non-empty string")
        hits: list[str] = []
        total = 0
        stopped = ""
        try:
            with contextlib.closing(self.ws.fs.iter_files(path)) as files:
                for rel, fd in files:
                    with os.fdopen(fd, "rb") as fh:
                        data = fh.read(SEARCH_FILE_BYTES)
                    total += len(data)
                    lines = data.decode("utf-8", errors="replace").splitlines()
                    hits += [f"{rel}:{i}:{line}" for i, line in enumerate(lines, 1) if query in line]
                    remaining = self.remaining_s()
                    if len(hits) >= 200:
                        break
                    if total >= SEARCH_TOTAL_BYTES or (remaining is not None and remaining <= 0):
                        stopped = f"\n... [search stopped after {total} bytes]"
                        break
        except PathMissing:
            raise ToolError(f"no such file or directory: {path}") from None
        return ("\n".join(hits[:200]) if hits else f"no matches for {query!r}") + stopped

    # -- shell --------------------------------------------------------------------------------
    def _check_stage(self, argv: list[str]) -> None:
        if not argv:
            raise ToolError("empty command in pipeline")
        cmd = argv[0]
        if "/" in cmd or cmd not in SHELL_ALLOWLIST:
            raise ToolError(f"command {cmd!r} is not allowed; allowed: {', '.join(sorted(SHELL_ALLOWLIST))}")
        if shutil.which(cmd, path=_SHELL_PATH) is None:
            raise ToolError(f"command {cmd!r} is not installed")

    def run_shell(self, command: str) -> str:
        if not isinstance(command, str) or not command.strip():
            raise ToolError("command must be a non-empty string")
        if any(ch in _SHELL_META for ch in command) or "$(" in command:
            raise ToolError("shell syntax (; & < > ` $ redirects, substitutions) is not allowed; use | only")
        try:
            tokens = shlex.split(command)
        except ValueError as exc:
            raise ToolError(f"cannot parse command: {exc}") from None
        stages: list[list[str]] = [[]]
        for tok in tokens:
            if tok == "|":
                stages.append([])
            else:
                stages[-1].append(tok)
        for argv in stages:
            self._check_stage(argv)
        timeout_s = self.shell_timeout_s
        remaining = self.remaining_s()
        by_deadline = remaining is not None and remaining < timeout_s
        if by_deadline:
            timeout_s = remaining
        # one jail for the whole pipeline: real pipes between the stages, one clock for all
        argv = stages[0] if len(stages) == 1 else ["/bin/sh", "-c", " | ".join(map(shlex.join, stages))]
        env = {"PATH": _SHELL_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(self.ws.root)}
        limits = dataclasses.replace(SHELL_LIMITS, cpu_s=math.ceil(timeout_s) + 1)
        res = self.jail.run(argv, cwd=self.ws.root, rw=[self.ws.root], env=env, timeout_s=timeout_s,
                            limits=limits, stdout_cap=SHELL_OUTPUT_BYTES)
        out = res.stdout.decode("utf-8", errors="replace")
        err = res.stderr.decode("utf-8", errors="replace").strip()
        if res.stdout_truncated:
            return out + f"\n... [output cut at {SHELL_OUTPUT_BYTES} bytes; the command was stopped]"
        if res.returncode is None:
            raise ToolError(f"command timed out after {timeout_s:.3g} s" + (" (the task's time limit)" * by_deadline))
        if res.returncode != 0:
            return f"exit code {res.returncode}\n{out}{err}".rstrip()
        return out if out else "(no output)"

    # -- calculator ---------------------------------------------------------------------------
    def calculator(self, expression: str) -> str:
        if not isinstance(expression, str) or len(expression) > 500:
            raise ToolError("expression must be a string of at most 500 characters")
        try:
            tree = ast.parse(expression.strip(), mode="eval")
        except SyntaxError:
            raise ToolError(f"not an arithmetic expression: {expression!r}") from None
        try:
            value = _eval(tree.body)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
            value = int(value)
        return str(value)


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}


def _eval(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 1e6):
            raise ToolError("exponent too large")
        return _BINOPS[type(node.op)](left, right)
    raise ToolError("only numbers, + - * / // % ** and parentheses are allowed")
