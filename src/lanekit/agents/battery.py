"""A task battery: versioned YAML data, its sha256 content hash, and the answer checks.

Public entry point: `load_battery(name_or_path=None) -> Battery` (None gives the embedded
`core` battery). A task's `check` grades the final answer (substring / regex / numeric / json);
its optional `files` grade what the agent left in the workspace.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lanekit.errors import ConfigError

DEFAULT_BATTERY = "core"
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")


class AnswerCheck(BaseModel):
    """How the final answer is graded.

    - substring: `value` occurs in the answer (case-insensitive unless `case_sensitive`).
    - regex: `re.search(value, answer)` (IGNORECASE unless `case_sensitive`).
    - numeric: some number in the answer equals `value` within `tolerance`.
    - json: the first JSON value in the answer equals `value` (lists compared as sets with `unordered`).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["substring", "regex", "numeric", "json"]
    value: Any
    case_sensitive: bool = False
    tolerance: float = Field(default=1e-9, ge=0)
    unordered: bool = False

    def passes(self, answer: str | None) -> bool:
        """True when `answer` satisfies the check; None or empty answers never pass."""
        if not answer or not answer.strip():
            return False
        if self.kind == "substring":
            if self.case_sensitive:
                return str(self.value) in answer
            return str(self.value).lower() in answer.lower()
        if self.kind == "regex":
            flags = 0 if self.case_sensitive else re.IGNORECASE
            return re.search(str(self.value), answer, flags) is not None
        if self.kind == "numeric":
            target = float(self.value)
            for match in _NUMBER.findall(answer):
                number = float(match.replace(",", ""))
                if math.isclose(number, target, rel_tol=0.0, abs_tol=self.tolerance):
                    return True
            return False
        found = first_json_value(answer)
        if found is _MISSING:
            return False
        if self.unordered and isinstance(found, list) and isinstance(self.value, list):
            try:
                return sorted(map(json.dumps, found)) == sorted(map(json.dumps, self.value))
            except TypeError:
                return False
        return found == self.value


class FileCheck(BaseModel):
    """A file the agent must leave in the workspace, containing `contains`."""

    model_config = ConfigDict(extra="forbid")

    path: str
    contains: str

    def passes(self, content: str | None) -> bool:
        return content is not None and self.contains in content


class HermesHints(BaseModel):
    """How the Hermes driver runs the task: which toolsets `hermes -z -t` gets."""

    model_config = ConfigDict(extra="forbid")

    toolsets: list[str] = Field(default_factory=lambda: ["file"])


class Task(BaseModel):
    """One battery task: a prompt, its fixtures, its checks and the tools that can solve it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_][a-z0-9_.-]*$")
    prompt: str = Field(min_length=1)
    fixtures: dict[str, str] = Field(default_factory=dict)
    check: AnswerCheck
    files: list[FileCheck] = Field(default_factory=list)
    expected_tools: list[str] = Field(default_factory=list)
    hermes: HermesHints = Field(default_factory=HermesHints)

    @field_validator("fixtures")
    @classmethod
    def _relative_fixture_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value:
            parts = Path(path).parts
            if Path(path).is_absolute() or ".." in parts or not parts:
                raise ValueError(f"fixture path {path!r} must be relative and stay inside the workspace")
        return value

    @property
    def requires_tool(self) -> bool:
        """A task with expected tools cannot be answered honestly without a tool call."""
        return bool(self.expected_tools)

    def grade(self, answer: str | None, artifacts: dict[str, str | None] | None = None) -> bool | None:
        """Answer check and file checks together; None when file checks cannot be evaluated."""
        if not self.check.passes(answer):
            return False
        if not self.files:
            return True
        if artifacts is None:
            return None
        return all(fc.passes(artifacts.get(fc.path)) for fc in self.files)


class Battery(BaseModel):
    """A named, versioned list of tasks; `sha256` hashes the YAML bytes it was loaded from."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int = Field(ge=1)
    description: str = ""
    tasks: list[Task] = Field(min_length=1)
    sha256: str = ""
    source: str = ""

    @field_validator("tasks")
    @classmethod
    def _unique_ids(cls, value: list[Task]) -> list[Task]:
        seen: set[str] = set()
        for task in value:
            if task.id in seen:
                raise ValueError(f"duplicate task id {task.id!r}")
            seen.add(task.id)
        return value

    @property
    def ref(self) -> str:
        """`name@vN`, the short label results carry next to the hash."""
        return f"{self.name}@v{self.version}"

    def task(self, task_id: str) -> Task | None:
        return next((t for t in self.tasks if t.id == task_id), None)

    def match_prompt(self, text: str | None) -> Task | None:
        """The task whose prompt appears in `text` (how exported sessions find their task)."""
        if not text:
            return None
        norm = " ".join(text.split())
        for task in self.tasks:
            if " ".join(task.prompt.split()) in norm:
                return task
        return None


def embedded_batteries() -> list[str]:
    """Names of the batteries shipped in `lanekit/agents/tasks/`."""
    root = resources.files("lanekit.agents.tasks")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def parse_battery(data: bytes, source: str) -> Battery:
    """Validate battery YAML bytes; ConfigError names the field path."""
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})", fix="fix the YAML syntax") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping with name, version, tasks",
                          fix="see lanekit/agents/tasks/core.yaml for the format")
    try:
        battery = Battery.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            ".".join(str(p) for p in err["loc"]) + f": {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{source}: invalid battery: {problems}",
                          fix="correct the named field (format: lanekit/agents/tasks/core.yaml)") from None
    return battery.model_copy(update={"sha256": hashlib.sha256(data).hexdigest(), "source": source})


def load_battery(name_or_path: str | None = None) -> Battery:
    """Load an embedded battery by name (default `core`) or a battery YAML file by path."""
    ref = name_or_path or DEFAULT_BATTERY
    path = Path(ref).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"battery file {path} not found", fix="pass an existing YAML file or a battery name")
        return parse_battery(path.read_bytes(), str(path))
    if ref not in embedded_batteries():
        raise ConfigError(f"unknown battery {ref!r}",
                          fix=f"use one of: {', '.join(embedded_batteries())}, or a path to a YAML file")
    data = resources.files("lanekit.agents.tasks").joinpath(f"{ref}.yaml").read_bytes()
    return parse_battery(data, f"embedded:{ref}")


_MISSING = object()


def first_json_value(text: str) -> Any:
    """The first JSON object or array in `text` (fenced or bare), or `_MISSING`."""
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "[{":
            try:
                value, _ = decoder.raw_decode(text, i)
                return value
            except json.JSONDecodeError:
                continue
    return _MISSING
