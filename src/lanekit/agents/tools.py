"""The built-in agent tools, jailed to one task's temporary workspace.

`TOOL_SPECS` are the OpenAI `tools` entries the loop offers; `TOOL_SCHEMAS` maps each name to
its JSON-schema parameters (the scorer validates calls against them). `Workspace` resolves
every path inside its root and refuses traversal, absolute paths outside it and symlinks that
lead out. `run_shell` runs only allowlisted commands, without a shell or network tools, under a
time limit. A refused or failing call returns "error: ..." to the model; it never raises.
"""

from __future__ import annotations

import ast
import operator
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_OUTPUT_CHARS = 8000
MAX_READ_BYTES = 256 * 1024
SHELL_TIMEOUT_S = 10.0

# Commands that read or reshape files and can reach nothing but the workspace.
SHELL_ALLOWLIST = frozenset({
    "cat", "cut", "date", "echo", "find", "grep", "head", "ls", "nl", "pwd", "sort", "tail", "tr",
    "uniq", "wc", "basename", "dirname", "stat", "true", "printf", "expr", "seq",
})
_REFUSED_ARGS = {"find": {"-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprintf", "-fls",
                          "-L", "-follow"},
                 "grep": {"-R", "--dereference-recursive"}}
_SHELL_META = set(";&<>`$\\\n")


def _sets_clock(arg: str) -> bool:
    """`date -s` / `--set` would change the system clock."""
    if arg.startswith("--"):
        return arg.startswith("--set")
    return arg.startswith("-") and "s" in arg


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
    """A directory the tools may touch; everything resolves inside `root` or is refused."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    @classmethod
    def create(cls, fixtures: dict[str, str] | None = None, prefix: str = "lanekit-task-") -> Workspace:
        """A fresh temporary workspace with `fixtures` (relative path → text) written into it."""
        ws = cls(tempfile.mkdtemp(prefix=prefix))
        for rel, text in (fixtures or {}).items():
            target = ws.resolve(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return ws

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def resolve(self, rel: str) -> Path:
        """The real path of `rel` inside the jail; ToolError on traversal, escape or a bad path."""
        if not isinstance(rel, str) or not rel.strip():
            raise ToolError("path must be a non-empty string")
        if "\x00" in rel:
            raise ToolError("path contains a NUL byte")
        raw = Path(rel.strip()).expanduser() if rel.strip().startswith("~") else Path(rel.strip())
        candidate = raw if raw.is_absolute() else self.root / raw
        # resolve() follows every symlink on the way, so a link pointing outside is caught here
        real = candidate.resolve(strict=False)
        if real != self.root and self.root not in real.parents:
            raise ToolError(f"path {rel!r} is outside the workspace")
        return real

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path != self.root else "."

    def snapshot(self, paths: list[str], limit: int = 4096) -> dict[str, str | None]:
        """Contents of `paths` (None when missing or outside); kept in the trace for file checks."""
        out: dict[str, str | None] = {}
        for rel in paths:
            try:
                path = self.resolve(rel)
                out[rel] = path.read_text(errors="replace")[:limit] if path.is_file() else None
            except (ToolError, OSError):
                out[rel] = None
        return out


def _clip(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return text[:MAX_OUTPUT_CHARS] + f"\n... [truncated, {len(text) - MAX_OUTPUT_CHARS} more characters]"


class ToolBox:
    """Executes tool calls against one workspace; `call` always returns a string."""

    def __init__(self, workspace: Workspace, shell_timeout_s: float = SHELL_TIMEOUT_S) -> None:
        self.ws = workspace
        self.shell_timeout_s = shell_timeout_s
        self._tools: dict[str, Callable[..., str]] = {
            "read_file": self.read_file, "write_file": self.write_file, "list_dir": self.list_dir,
            "search": self.search, "run_shell": self.run_shell, "calculator": self.calculator,
        }

    def call(self, name: str, args: dict[str, Any]) -> str:
        """Run tool `name` with `args`; refusals and failures come back as 'error: ...'."""
        fn = self._tools.get(name)
        if fn is None:
            return f"error: unknown tool {name!r}; available: {', '.join(self._tools)}"
        try:
            return _clip(fn(**args))
        except ToolError as exc:
            return f"error: {exc}"
        except TypeError as exc:  # wrong or missing keyword arguments
            return f"error: bad arguments for {name}: {exc}"
        except OSError as exc:
            return f"error: {exc.strerror or exc}"

    # -- file tools -------------------------------------------------------------------------
    def read_file(self, path: str) -> str:
        target = self.ws.resolve(path)
        if not target.is_file():
            raise ToolError(f"no such file: {path}")
        with target.open("rb") as fh:
            data = fh.read(MAX_READ_BYTES + 1)
        text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
        return text + ("\n... [file truncated]" if len(data) > MAX_READ_BYTES else "")

    def write_file(self, path: str, content: str) -> str:
        target = self.ws.resolve(path)
        if target == self.ws.root or target.is_dir():
            raise ToolError(f"{path} is a directory")
        if not isinstance(content, str):
            raise ToolError("content must be a string")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        return f"wrote {len(content.encode())} bytes to {self.ws.relative(target)}"

    def list_dir(self, path: str = ".") -> str:
        target = self.ws.resolve(path)
        if not target.is_dir():
            raise ToolError(f"no such directory: {path}")
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in target.iterdir())
        return "\n".join(names) if names else "(empty directory)"

    def search(self, query: str, path: str = ".") -> str:
        if not isinstance(query, str) or not query:
            raise ToolError("query must be a non-empty string")
        target = self.ws.resolve(path)
        files = [target] if target.is_file() else sorted(self._walk(target))
        hits = []
        for file in files:
            try:
                lines = file.read_text(errors="replace").splitlines()
            except OSError:
                continue
            hits += [f"{self.ws.relative(file)}:{i}:{line}" for i, line in enumerate(lines, 1) if query in line]
        return "\n".join(hits[:200]) if hits else f"no matches for {query!r}"

    def _walk(self, top: Path) -> list[Path]:
        out = []
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            dirnames.sort()
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    self.ws.resolve(str(path))  # skip symlinks that lead out of the jail
                except ToolError:
                    continue
                out.append(path)
        return out

    # -- shell --------------------------------------------------------------------------------
    def _check_stage(self, argv: list[str]) -> None:
        if not argv:
            raise ToolError("empty command in pipeline")
        cmd = argv[0]
        if "/" in cmd or cmd not in SHELL_ALLOWLIST:
            raise ToolError(f"command {cmd!r} is not allowed; allowed: {', '.join(sorted(SHELL_ALLOWLIST))}")
        refused = _REFUSED_ARGS.get(cmd, set())
        for arg in argv[1:]:
            if arg in refused or (cmd == "date" and _sets_clock(arg)):
                raise ToolError(f"{cmd} {arg} is not allowed")
            if arg.startswith("-"):
                # an option with a glued value (`-o/etc/x`, `--output=../x`) could write outside
                if "/" in arg or ".." in arg:
                    raise ToolError(f"option {arg!r} names a path; pass paths as separate arguments")
                continue
            # every operand is treated as a path: it must resolve inside the jail ('..', '/', '~',
            # symlinks); patterns and words resolve inside trivially
            if arg:
                self.ws.resolve(arg)

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
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(self.ws.root)}
        data: bytes | None = None
        code = 0
        stderr = b""
        for argv in stages:
            stdin = {"input": data} if data is not None else {"stdin": subprocess.DEVNULL}
            try:
                proc = subprocess.run(argv, cwd=self.ws.root, env=env, capture_output=True,
                                      timeout=self.shell_timeout_s, check=False, **stdin)
            except subprocess.TimeoutExpired:
                raise ToolError(f"command timed out after {self.shell_timeout_s:g} s") from None
            except FileNotFoundError:
                raise ToolError(f"command {argv[0]!r} is not installed") from None
            data, code, stderr = proc.stdout, proc.returncode, proc.stderr
        out = (data or b"").decode("utf-8", errors="replace")
        err = stderr.decode("utf-8", errors="replace").strip()
        if code != 0:
            return f"exit code {code}\n{out}{err}".rstrip()
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
