"""Scorers say pass or fail for the right reason; a judge's garbage is a scorer error."""

from __future__ import annotations

import pytest

from roost.evals import Outcome, make_scorer, parse_cases
from roost.evals.cases import load_cases
from roost.evals.errors import DatasetInvalid, ScorerInvalid
from roost.models import ScriptedModel


def _case(**kw):
    return parse_cases([{"input": "q", **kw}])[0]


async def _score(spec, case, output="", **kw):
    return await make_scorer(spec).score(case, Outcome(output=output, status="succeeded", **kw))


async def test_text_scorers():
    case = _case(expected="Paris", facts=["France", "Seine"])
    assert (await _score({"type": "exact", "ignore_case": True}, case, " paris ")).passed
    assert not (await _score("exact", case, "paris")).passed
    partial = await _score({"type": "contains", "values": ["France", "Seine"]}, case, "in France")
    assert not partial.passed and partial.value == 0.5 and "Seine" in partial.reason
    assert (
        await _score(
            {"type": "regex", "pattern": r"\bpar+is\b", "ignore_case": True}, case, "PARIS!"
        )
    ).passed
    with pytest.raises(ScorerInvalid):
        make_scorer({"type": "regex", "pattern": "("})


async def test_numeric_and_schema_scorers():
    case = _case(expected="3.14")
    assert (await _score({"type": "numeric", "tolerance": 0.01}, case, "pi is about 3.141")).passed
    assert not (await _score({"type": "numeric"}, case, "no idea")).passed
    words = await _score({"type": "numeric"}, _case(expected="many"), "3")
    assert words.error and not words.passed  # a case that cannot be scored: an error
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    assert (
        await _score(
            {"type": "json_schema", "schema": schema}, case, '```json\n{"city": "Oslo"}\n```'
        )
    ).passed
    bad = await _score({"type": "json_schema", "schema": schema}, case, '{"town": 1}')
    assert not bad.passed and "city" in bad.reason


async def test_trajectory_budgets_and_custom_scorers():
    case = _case(tool_calls=[{"name": "search", "arguments": {"q": "x"}}, {"name": "open"}])
    calls = [{"name": "open", "arguments": {}}, {"name": "search", "arguments": {"q": "x", "n": 3}}]
    assert not (await _score("trajectory", case, tool_calls=calls)).passed
    assert (await _score({"type": "trajectory", "ordered": False}, case, tool_calls=calls)).passed
    assert not (
        await _score(
            {"type": "trajectory", "ordered": False, "strict": True},
            case,
            tool_calls=[*calls, {"name": "x"}],
        )
    ).passed
    assert not (await _score({"type": "latency", "max_ms": 100}, case, latency_ms=150)).passed
    assert (await _score({"type": "cost", "max_cost": 0.01}, case, cost=0.001)).passed
    custom = await _score(
        {"type": "custom", "function": "tests.evals.test_scorers:shouts"}, case, "HI"
    )
    assert custom.passed
    broken = await _score(
        {"type": "custom", "function": "tests.evals.test_scorers:broken"}, case, "x"
    )
    assert broken.error and "ZeroDivisionError" in broken.error and not broken.passed


def shouts(case, outcome):
    return outcome.output.isupper()


def broken(case, outcome):
    return 1 / 0


async def test_the_judge_stores_its_reasoning_and_garbage_is_a_scorer_error():
    case = _case(expected="Paris")
    model = ScriptedModel(['{"score": 0.9, "reasoning": "names the capital"}', "I like it!"])
    judge = make_scorer({"type": "judge", "rubric": "Is it correct?", "model_object": model})
    good = await judge.score(case, Outcome(output="Paris", status="succeeded"))
    assert good.passed and good.value == 0.9 and good.reason == "names the capital"
    assert (
        "Is it correct?" in model.calls[0].messages[0].text
        and "Paris" in model.calls[0].messages[0].text
    )
    garbage = await judge.score(case, Outcome(output="Paris", status="succeeded"))
    assert not garbage.passed and garbage.error and "did not answer JSON" in garbage.error


def test_files_are_read_with_errors_naming_the_line(tmp_path):
    good = tmp_path / "cases.csv"
    row = 'hi,hello,a|b,"[{""name"": ""f""}]"\n'
    good.write_text("input,expected,tags,tool_calls\n" + row + row)
    cases = load_cases(good)
    assert cases[0].tags == ["a", "b"] and cases[0].tool_calls[0].name == "f"
    assert cases[1].id == cases[0].id + "-2"  # the same case twice keeps distinct ids
    assert load_cases(good)[0].id == cases[0].id  # ids come from content: stable
    bad = tmp_path / "cases.jsonl"
    bad.write_text('{"input": "ok"}\n\n{"input": "x", "expectd": 1}\n')
    with pytest.raises(DatasetInvalid, match="line 3: expectd"):
        load_cases(bad)
    bad.write_text('{"input": "ok"}\nnot json\n')
    with pytest.raises(DatasetInvalid, match="line 2: not JSON"):
        load_cases(bad)
