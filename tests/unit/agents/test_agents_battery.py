"""The battery is data: loading, hashing, validation errors, and every kind of answer check."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from lanekit.agents.battery import AnswerCheck, FileCheck, Task, load_battery
from lanekit.errors import ConfigError


def test_embedded_battery_has_the_eight_issue_tasks_with_fixtures_checks_and_tools():
    battery = load_battery()
    assert battery.ref == "core@v1"
    ids = [t.id for t in battery.tasks]
    assert ids == ["read_phrase", "count_lines", "create_then_read", "shell_date", "search_string",
                   "sum_numbers", "list_dir", "find_then_read"]
    assert {t.check.kind for t in battery.tasks} == {"substring", "numeric", "json"}
    assert all(t.expected_tools and t.requires_tool for t in battery.tasks)
    assert sum(bool(t.fixtures) for t in battery.tasks) >= 6


def test_battery_hash_is_the_sha256_of_the_yaml_bytes():
    data = resources.files("lanekit.agents.tasks").joinpath("core.yaml").read_bytes()
    assert load_battery("core").sha256 == hashlib.sha256(data).hexdigest()


def test_battery_file_path_loads_and_a_changed_file_changes_the_hash(tmp_path):
    src = resources.files("lanekit.agents.tasks").joinpath("core.yaml").read_text()
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(src)
    b.write_text(src.replace("version: 1", "version: 2"))
    assert load_battery(str(a)).sha256 == load_battery("core").sha256
    assert load_battery(str(b)).sha256 != load_battery(str(a)).sha256


def test_invalid_battery_names_the_field_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\ntasks:\n  - id: t\n    prompt: p\n    check: {kind: fuzzy, value: 1}\n")
    with pytest.raises(ConfigError, match=r"tasks\.0\.check\.kind"):
        load_battery(str(bad))


def test_unknown_battery_name_and_missing_file_are_user_errors():
    with pytest.raises(ConfigError, match="unknown battery"):
        load_battery("nope")
    with pytest.raises(ConfigError, match="not found"):
        load_battery("/nonexistent/battery.yaml")


def test_fixture_paths_must_stay_inside_the_workspace():
    with pytest.raises(ValueError, match="inside the workspace"):
        Task(id="t", prompt="p", fixtures={"../x": "y"}, check=AnswerCheck(kind="substring", value="y"))


@pytest.mark.parametrize(("check", "answer", "ok"), [
    ({"kind": "substring", "value": "violet-harbor-42"}, "It is VIOLET-harbor-42.", True),
    ({"kind": "substring", "value": "abc", "case_sensitive": True}, "ABC", False),
    ({"kind": "regex", "value": r"\b2023-11-14\b"}, "prints 2023-11-14", True),
    ({"kind": "regex", "value": r"^\d+$"}, "seven", False),
    ({"kind": "numeric", "value": 7}, "The file has 7 lines.", True),
    ({"kind": "numeric", "value": 103}, "17+25+38+9+14 = 103", True),
    ({"kind": "numeric", "value": 1000}, "total: 1,000", True),
    ({"kind": "numeric", "value": 7}, "The file has seventy lines: 70", False),
    ({"kind": "json", "value": ["a", "b"], "unordered": True}, 'Sure:\n```json\n["b", "a"]\n```', True),
    ({"kind": "json", "value": ["a", "b"]}, '["b", "a"]', False),
    ({"kind": "json", "value": {"port": 1}}, 'answer {"port": 1}', True),
    ({"kind": "json", "value": ["a"]}, "a", False),
    ({"kind": "substring", "value": "x"}, None, False),
    ({"kind": "substring", "value": "x"}, "   ", False),
])
def test_answer_checks(check, answer, ok):
    assert AnswerCheck(**check).passes(answer) is ok


def test_file_checks_need_the_artifact_and_are_ungraded_without_it():
    task = Task(id="t", prompt="p", check=AnswerCheck(kind="substring", value="hi"),
                files=[FileCheck(path="out.txt", contains="hi")])
    assert task.grade("hi", {"out.txt": "hi there"}) is True
    assert task.grade("hi", {"out.txt": None}) is False
    assert task.grade("hi", None) is None
    assert task.grade("nope", None) is False


def test_sessions_find_their_task_by_prompt_whitespace_insensitively():
    battery = load_battery()
    task = battery.task("count_lines")
    assert battery.match_prompt("  " + task.prompt.replace(" ", "\n  ")) is task
    assert battery.match_prompt("something else") is None
