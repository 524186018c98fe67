"""Experiments run through the app's run engine: every case's run is stored, scored,
summarised with intervals, and two experiments are compared case by case."""

from __future__ import annotations

import pytest

from roost.evals import EvalRecords, ExperimentConfig, ExperimentRunner, make_scorer, parse_cases
from roost.evals.compare import compare, evaluate_gate, parse_gate
from roost.evals.errors import GateInvalid

from .apps import make_app

CASES = [
    {"input": "What is 2 plus 2?", "expected": "4", "tool_calls": [{"name": "add"}]},
    {
        "input": "What is 3 plus 4?",
        "expected": "7",
        "tool_calls": [{"name": "add", "arguments": {"a": 3}}],
    },
    {"input": "What is 10 plus 5?", "expected": "15", "tags": ["big"]},
    {"input": "boom 1 2", "expected": "3"},
]


async def _experiment(app, dataset_id, agent, **kw):
    runner = ExperimentRunner(app.services)
    records = EvalRecords(app.store)
    scorers = [make_scorer("contains"), make_scorer("trajectory"), make_scorer("succeeded")]
    exp = await runner.start(dataset_id, ExperimentConfig(agent=agent, concurrency=3, **kw))
    summary = await runner.run(exp, await records.cases(dataset_id), scorers)
    return exp, summary, await records.results(exp.id)


async def test_an_experiment_scores_every_case_and_a_crash_is_a_failed_case(tmp_path):
    app = make_app(store_url=f"sqlite:///{tmp_path / 'e.db'}")
    await app.startup()
    try:
        records = EvalRecords(app.store)
        ds = await records.create_dataset("calc", parse_cases(CASES))
        exp, summary, results = await _experiment(app, ds.id, "calc@v1", repetitions=2, seed=7)
        assert summary["runs"] == 8 and summary["cases"] == 4
        # v1 answers every sum with its tool; "boom 1 2" is a sum for it as well
        assert summary["passed"] == 8, results
        assert summary["scorers"]["trajectory"]["pass_rate"] == 1.0
        low, high = summary["ci95"]
        assert 0.6 < low < 1.0 and high == 1.0
        run = await app.store.get_run(results[0].run_id)
        assert run.agent == "calc@v1" and run.metadata["eval"]["experiment"] == exp.id
        assert (await records.get_experiment(exp.id)).status == "succeeded"

        exp2, summary2, results2 = await _experiment(app, ds.id, "calc@v2")
        crashed = [r for r in results2 if r.body["run_status"] == "failed"]
        assert len(crashed) == 1 and crashed[0].status == "failed"
        assert (
            summary2["runs"] == 4 and (await records.get_experiment(exp2.id)).status == "succeeded"
        )

        diff = compare(exp.id, results, exp2.id, results2)
        # v2 skips the tool everywhere: every case got worse, none better
        assert len(diff.regressed) == 4 and not diff.improved
        gate = evaluate_gate("pass_rate>=0.9,regressions==0", summary2, diff)
        assert [c.passed for c in gate] == [False, False]
        assert all(c.passed for c in evaluate_gate("pass_rate>=0.9,errors==0", summary))
    finally:
        await app.shutdown()


def test_a_gate_with_a_typo_is_refused_before_anything_runs():
    assert parse_gate(" pass_rate >= 0.9 , scorer.contains>0.5") == [
        ("pass_rate", ">=", 0.9),
        ("scorer.contains", ">", 0.5),
    ]
    with pytest.raises(GateInvalid, match="unknown gate metric 'pas_rate'"):
        parse_gate("pas_rate>=0.9")
    with pytest.raises(GateInvalid, match="cannot read"):
        parse_gate("pass_rate=>0.9")
