"""The scorer on hand-made traces: every taxonomy class, run judgement, rates, pass^k, verdict."""

from __future__ import annotations

import math

import pytest
from agent_traces import call, good_run, run, turn

from lanekit.agents import ERROR_CLASSES, load_battery, score_run, score_runs
from lanekit.agents.scoring import battery_verdict, pass_hat_k, pass_k_table
from lanekit.agents.taxonomy import calls_in_content

BATTERY = load_battery()
TASK = BATTERY.task("read_phrase")


def classes(score) -> list[str]:
    return [e.cls for e in score.errors]


def test_a_clean_run_is_finished_clean_correct_and_a_success():
    s = score_run(good_run(), TASK)
    assert (s.attempts, s.tool_calls, s.format_errors, s.errors) == (1, 1, 0, [])
    assert s.finished and s.clean and s.answer_correct and s.expected_tool_used
    assert s.outcome == "success"


@pytest.mark.parametrize(("arguments", "detail"), [
    ('{"path": "notes/secret.txt"', "not valid JSON"),
    ("{'path': 'notes/secret.txt'}", "not valid JSON"),
    ('["notes/secret.txt"]', "JSON list, not an object"),
    ('"notes/secret.txt"', "JSON str, not an object"),
    (42, "int, not a JSON string"),
])
def test_malformed_json_arguments(arguments, detail):
    s = score_run(run([turn(0, calls=[call(arguments=arguments)]), turn(1, "violet-harbor-42")]), TASK)
    assert classes(s) == ["malformed_arguments"]
    assert detail in s.errors[0].detail
    assert s.errors[0].turn == 0 and s.errors[0].tool == "read_file"
    assert s.finished and not s.clean and s.outcome == "success"  # the answer was right; the run was not clean


def test_unknown_tool():
    s = score_run(run([turn(0, calls=[call(name="open_file")]), turn(1, "violet-harbor-42")]), TASK)
    assert classes(s) == ["unknown_tool"] and "open_file" in s.errors[0].detail


@pytest.mark.parametrize(("arguments", "kind"), [
    ({}, "missing_required: path"),
    ({"path": "a", "encoding": "utf8"}, "unexpected_param: encoding"),
    ({"path": 3}, "wrong_type: path should be string"),
])
def test_schema_violations_name_what_is_wrong(arguments, kind):
    s = score_run(run([turn(0, calls=[call(arguments=arguments)]), turn(1, "violet-harbor-42")]), TASK)
    assert classes(s) == ["schema_violation"]
    assert kind in s.errors[0].detail


def test_empty_arguments_string_is_an_empty_object_then_checked_against_the_schema():
    s = score_run(run([turn(0, calls=[call(name="list_dir", arguments="")]), turn(1, "ok")]), TASK)
    assert classes(s) == []
    s = score_run(run([turn(0, calls=[call(arguments="  ")]), turn(1, "ok")]), TASK)
    assert classes(s) == ["schema_violation"]


@pytest.mark.parametrize("content", [
    '```json\n{"name": "read_file", "arguments": {"path": "notes/secret.txt"}}\n```',
    '{"name": "read_file", "parameters": {"path": "notes/secret.txt"}}',
    '<tool_call>\n{"name": "read_file", "arguments": {"path": "notes/secret.txt"}}\n</tool_call>',
    'I will call {"function": {"name": "read_file"}}',
    '{"name": "read_file", "arguments": {"path": "notes/secr',  # cut off: not even JSON
    'read_file(path="notes/secret.txt")',
    '[TOOL_CALLS] read_file',
])
def test_call_written_into_content_instead_of_structured(content):
    # the stock Qwen2.5-Coder template: the call arrives as text and the loop ends on it
    s = score_run(run([turn(0, content=content)]), TASK)
    assert "call_in_content" in classes(s)
    assert "no_call" not in classes(s)
    assert s.finished and not s.clean and s.outcome == "grader_fail"
    assert s.attempts == s.format_errors >= 1


@pytest.mark.parametrize("content", [
    "The passphrase is violet-harbor-42.",
    '["alpha.txt", "beta.md", "gamma.csv"]',
    'The config is {"port": 8731}.',
    "I used the read_file tool to look.",
])
def test_plain_answers_are_not_mistaken_for_calls(content):
    assert calls_in_content(content, {"read_file", "list_dir"}) == []


@pytest.mark.parametrize("bad", [
    {"id": "c1", "type": "function", "function": {"name": "", "arguments": "{}"}},
    {"id": "c1", "type": "function", "function": {"arguments": "{}"}},
    {"id": "c1", "type": "function"},
    "read_file",
])
def test_empty_or_nameless_call(bad):
    s = score_run(run([turn(0, calls=[bad]), turn(1, "violet-harbor-42")]), TASK)
    assert classes(s) == ["empty_call"]


def test_truncated_is_its_own_class_with_the_cap_not_a_format_error():
    cut_text = score_run(run([turn(0, calls=[call()]), turn(1, "The passphrase is vio", finish="length")],
                             stop="length"), TASK)
    assert classes(cut_text) == ["truncated"] and not cut_text.finished and cut_text.outcome == "grader_fail"
    assert not cut_text.clean and cut_text.format_errors == 0 and cut_text.attempts == 1  # the good call
    assert cut_text.truncated == 1 and cut_text.truncated_at == 20  # the turn's 20 tokens: the cap it hit
    assert "cut off at 20 tokens (the output cap)" in cut_text.errors[0].detail
    # one per partial call; none of them is judged as an attempt (they could not be whole)
    cut_calls = score_run(run([turn(0, calls=[call(arguments='{"pa'), call(call_id="c2")], finish="length")],
                              stop="length", final=None), TASK)
    assert classes(cut_calls) == ["truncated", "truncated"] and (cut_calls.attempts, cut_calls.format_errors) == (0, 0)
    # cut off before the owed call: the budget stopped it, so no no_call is charged
    rambling = score_run(run([turn(0, "Sure! Files are great because", finish="length")], stop="length"), TASK)
    assert classes(rambling) == ["truncated"] and rambling.format_errors == 0


def test_truncation_is_summarised_apart_from_format_errors():
    runs = [run([turn(0, "Sure! Files are", finish="length")], stop="length", run_id="a"),
            run([turn(0, calls=[call()]), turn(1, "violet-harbor-42")], run_id="b")]
    summary = score_runs(runs, BATTERY).summary
    assert summary["truncated_runs"] == 1 and summary["truncation_cap_tokens"] == 20
    assert summary["format_errors"] == 0 and summary["format_error_rate"] == 0.0
    assert summary["error_counts"]["truncated"] == 1 and "truncated" not in summary["attempt_error_counts"]
    assert summary["clean_run_rate"] == 0.5


def test_no_call_where_one_was_required_counts_as_a_failed_attempt():
    # SmolLM2: llama-server drops `tools`, the model just answers (here: a hallucination)
    s = score_run(run([turn(0, content="The passphrase is hunter2.")]), TASK)
    assert classes(s) == ["no_call"]
    assert (s.attempts, s.format_errors, s.tool_calls) == (1, 1, 0)
    assert s.finished and not s.clean and s.answer_correct is False and s.outcome == "grader_fail"


def test_agent_produced_nothing():
    s = score_run(run([turn(0, content="   ")], stop="empty", final=None), TASK)
    assert classes(s) == ["no_output"] and s.format_errors == 1
    assert not s.finished and s.outcome == "grader_fail"
    nothing = score_run(run([], stop="empty", final=None), TASK)  # e.g. the lane rejected the request
    assert classes(nothing) == ["no_output"] and nothing.outcome == "error"


def test_every_taxonomy_class_is_exercised_and_counted_in_the_summary():
    runs = [
        run([turn(0, calls=[call(arguments="{bad")]), turn(1, "x")], run_id="a"),
        run([turn(0, calls=[call(name="nope")]), turn(1, "x")], run_id="b"),
        run([turn(0, calls=[call(arguments={})]), turn(1, "x")], run_id="c"),
        run([turn(0, content='{"name": "read_file", "arguments": {}}')], run_id="d"),
        run([turn(0, calls=[call(name="")]), turn(1, "x")], run_id="e"),
        run([turn(0, calls=[call(arguments='{"pa')], finish="length")], stop="length", final=None, run_id="f"),
        run([turn(0, content="no tools needed")], run_id="g"),
        run([], stop="empty", final=None, run_id="h"),
    ]
    summary = score_runs(runs, BATTERY).summary
    assert summary["error_counts"] == {cls: 1 for cls in ERROR_CLASSES}
    assert summary["format_error_rate"] == 1.0 and summary["clean_run_rate"] == 0.0


def test_without_schemas_unknown_tool_and_schema_checks_are_skipped_but_json_is_still_checked():
    s = score_run(run([turn(0, calls=[call(name="anything", arguments={"x": 1})]), turn(1, "ok")], schemas=None), TASK)
    assert classes(s) == []
    s = score_run(run([turn(0, calls=[call(arguments="{")]), turn(1, "ok")], schemas=None), TASK)
    assert classes(s) == ["malformed_arguments"]


def test_outcome_classes_timeout_and_error():
    assert score_run(run([turn(0, calls=[call()])], stop="timeout", final=None), TASK).outcome == "timeout"
    assert score_run(run([turn(0, calls=[call()])], stop="max_turns", final=None), TASK).outcome == "timeout"
    slow = score_run(run([], stop="timeout", final=None), TASK)
    assert slow.outcome == "timeout" and slow.errors == [] and slow.attempts == 0 and not slow.clean
    err = score_run(run([], stop="error", final=None, error="HTTP 500: boom"), TASK)
    assert err.outcome == "error" and classes(err) == ["no_output"] and "HTTP 500" in err.errors[0].detail


def test_file_checks_grade_the_workspace_artifacts():
    task = BATTERY.task("create_then_read")
    turns = [turn(0, calls=[call("write_file", {"path": "out/greeting.txt", "content": "hello from lanekit"})]),
             turn(1, "It contains: hello from lanekit")]
    ok = score_run(run(turns, task_id=task.id, artifacts={"out/greeting.txt": "hello from lanekit"}), task)
    missing = score_run(run(turns, task_id=task.id, artifacts={"out/greeting.txt": None}), task)
    assert ok.outcome == "success" and missing.outcome == "grader_fail"


def test_ungraded_runs_succeed_only_when_finished_and_clean():
    assert score_run(good_run(task_id=None)).outcome == "success"
    assert score_run(good_run(task_id=None)).answer_correct is None
    bad = score_run(run([turn(0, calls=[call(arguments="{")]), turn(1, "x")], task_id=None))
    assert bad.outcome == "grader_fail"


def test_summary_rates_and_counts():
    runs = [good_run(run_id="1"), good_run(run_id="2", answer="no idea"),
            run([turn(0, content="violet-harbor-42")], run_id="3"),
            run([turn(0, calls=[call()])], stop="timeout", final=None, run_id="4")]
    s = score_runs(runs, BATTERY).summary
    assert s["n_runs"] == 4 and s["tool_calls"] == 3 and s["attempts"] == 4 and s["format_errors"] == 1
    assert s["format_error_rate"] == 0.25
    assert s["clean_run_rate"] == 0.5 and s["finished_rate"] == 0.75 and s["task_success_rate"] == 0.25
    assert s["tool_calls_per_run"] == 0.75
    assert s["outcomes"] == {"success": 1, "grader_fail": 2, "timeout": 1, "error": 0}
    assert s["battery"] == "core@v1" and s["battery_sha256"] == BATTERY.sha256


def test_rates_are_nan_with_nothing_to_divide():
    s = score_runs([], BATTERY).summary
    assert math.isnan(s["format_error_rate"]) and math.isnan(s["clean_run_rate"])
    assert s["verdict"] is None


def test_pass_hat_k_matches_the_combinatorial_definition_and_is_nan_when_too_few():
    assert pass_hat_k(4, 2, 1) == 0.5
    assert pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)
    assert pass_hat_k(3, 3, 3) == 1.0
    assert math.isnan(pass_hat_k(1, 1, 2))
    table = pass_k_table({"a": (2, 2), "b": (2, 1)}, 3)
    assert table["1"] == 0.75 and table["2"] == 0.5 and math.isnan(table["3"])


def test_pass_k_over_repeats_in_the_summary():
    runs = [good_run(run_id=f"r{i}", repeat=i) for i in range(3)]
    runs += [good_run(task_id="count_lines", answer="7 lines", run_id=f"c{i}", repeat=i) for i in range(2)]
    runs.append(good_run(task_id="count_lines", answer="8", run_id="c2", repeat=2))
    pk = score_runs(runs, BATTERY).summary["pass_k"]
    assert pk["1"] == pytest.approx((1 + 2 / 3) / 2)
    assert pk["3"] == pytest.approx(0.5)
    single = score_runs([good_run()], BATTERY).summary["pass_k"]
    assert single["1"] == 1.0 and math.isnan(single["2"])


@pytest.mark.parametrize(("n", "timeouts", "grader_fails", "verdict"), [
    (8, 0, 5, "legitimate"),
    (20, 2, 5, "legitimate"),
    (8, 1, 3, "borderline"),
    (8, 4, 2, "capped"),
    (8, 2, 2, "capped"),
    (8, 2, 3, "borderline"),
])
def test_battery_verdict_from_timeouts_versus_grader_fails(n, timeouts, grader_fails, verdict):
    assert battery_verdict(n, timeouts, grader_fails)[0] == verdict


def test_runs_without_task_id_are_matched_to_tasks_by_prompt():
    r = good_run(task_id=None)
    r.prompt = BATTERY.task("read_phrase").prompt
    s = score_runs([r], BATTERY)
    assert s.runs[0].task_id == "read_phrase" and s.runs[0].answer_correct is True


def test_stable_json_shape():
    doc = score_runs([good_run()], BATTERY).to_json([{"line": 3, "reason": "not valid JSON"}])
    assert set(doc) == {"runs", "summary", "skipped_lines"}
    assert {"id", "clean", "finished", "outcome", "tool_calls", "errors"} <= set(doc["runs"][0])
    assert {"n_runs", "format_error_rate", "clean_run_rate", "finished_rate", "task_success_rate",
            "tool_calls_per_run", "pass_k", "verdict"} <= set(doc["summary"])
    bad = score_runs([run([turn(0, calls=[call(name="x")]), turn(1, "y")])], BATTERY).to_json()
    assert set(bad["runs"][0]["errors"][0]) == {"class", "turn", "call", "tool", "detail"}


def test_a_run_that_repeats_one_call_until_the_turn_limit_is_a_looping_timeout():
    # measured on Qwen2.5-Coder-1.5B with the fixed template: well-formed calls, never an answer
    looping = run([turn(0, calls=[call()])] + [turn(i, calls=[call("write_file", {"path": "a", "content": "b"})])
                                              for i in range(1, 8)], stop="max_turns", final=None, run_id="loop")
    s = score_run(looping, TASK)
    assert s.errors == [] and s.format_errors == 0 and s.repeat_streak == 7
    assert s.outcome == "timeout" and not s.finished and not s.clean
    summary = score_runs([looping] * 4, BATTERY).summary
    assert summary["format_error_rate"] == 0.0 and summary["clean_run_rate"] == 0.0
    assert summary["looping_runs"] == 4 and summary["turn_limited_runs"] == 4
    assert summary["verdict"] == "capped" and "loops" in summary["verdict_reason"]


def test_varied_calls_are_not_a_loop():
    s = score_run(run([turn(i, calls=[call(arguments={"path": f"f{i}"})]) for i in range(4)],
                      stop="max_turns", final=None), TASK)
    assert s.repeat_streak == 1
    assert "time limit" in battery_verdict(8, 4, 0, turn_limited=0)[1]
    # a wall-clock timeout that was repeating one call is a loop too (Hermes allows 90 iterations)
    stuck = run([turn(i, calls=[call()]) for i in range(5)], stop="timeout", final=None)
    summary = score_runs([stuck] * 2 + [good_run()] * 2, BATTERY).summary
    assert summary["looping_runs"] == 2 and summary["turn_limited_runs"] == 0
    assert summary["verdict"] == "capped" and "loops" in summary["verdict_reason"]


@pytest.mark.parametrize("looping, hint", [(2, "loops"), (1, "raise --task-timeout")])
def test_the_capped_hint_blames_looping_only_when_half_the_timeouts_loop(looping, hint):
    verdict, reason = battery_verdict(8, 4, 0, turn_limited=1, looping=looping)
    assert verdict == "capped" and hint in reason
    assert f"{looping} repeating one identical call" in reason


def test_a_loop_that_finished_is_not_counted_as_looping():
    # three identical calls, then an answer: a repeat streak, but the run ended on its own
    retried = run([turn(i, calls=[call()]) for i in range(3)] + [turn(3, "the phrase is x")])
    s = score_run(retried, TASK)
    assert s.repeat_streak == 3 and s.outcome != "timeout"
    assert score_runs([retried], BATTERY).summary["looping_runs"] == 0
