"""The eval and release tables (migration 0005_evals) on every backend: datasets with
their cases, experiments with results, owner filters, policies with revisions and events."""

from __future__ import annotations

from roost.evals import EvalRecords, ReleaseRecords, parse_cases
from roost.evals.records import ResultRecord


async def test_eval_records_round_trip_on_every_backend(open_store):
    store = await open_store()
    records = EvalRecords(store)
    cases = parse_cases(
        [{"input": "a", "expected": "1"}, {"input": [{"role": "user", "content": "b"}]}]
    )
    mine = await records.create_dataset(
        "d", cases, user_id="u1", tenant_id="t1", metadata={"k": "v"}
    )
    await records.create_dataset("d", cases[:1], user_id="u2", tenant_id="t1")
    assert await records.add_cases(mine.id, parse_cases([{"input": "c"}])) == 3
    got = await records.get_dataset(mine.id)
    assert got.cases == 3 and got.metadata == {"k": "v"} and got.user_id == "u1"
    assert [c.text for c in await records.cases(mine.id)] == ["a", "b", "c"]
    assert [d.id for d in await records.list_datasets(user_id="u1", tenant_id="t1")] == [mine.id]
    assert len(await records.list_datasets()) == 2  # an admin's listing: everything

    exp = await records.create_experiment(
        mine.id, "calc@v1", {"concurrency": 2}, user_id="u1", tenant_id="t1"
    )
    await records.save_results(
        [
            ResultRecord(
                exp.id, c.id, 0, None, "passed", {"scores": [{"name": "x", "passed": True}]}
            )
            for c in cases
        ]
    )
    await records.finish_experiment(exp.id, "succeeded", {"pass_rate": 1.0})
    done = await records.get_experiment(exp.id)
    assert done.status == "succeeded" and done.summary == {"pass_rate": 1.0} and done.finished_at
    assert len(await records.results(exp.id)) == 2
    assert [
        e.id
        for e in await records.list_experiments(user_id="u1", tenant_id="t1", dataset_id=mine.id)
    ] == [exp.id]
    assert await records.list_experiments(user_id="u2", tenant_id="t1") == []

    await records.delete_dataset(mine.id)
    assert len(await records.list_datasets()) == 1


async def test_release_policies_keep_revisions_and_their_history(open_store):
    store = await open_store()
    releases = ReleaseRecords(store)
    assert await releases.get_policy("a") is None
    r1 = await releases.put_policy(
        "a", {"stable": "v1"}, kind="policy_set", actor="admin", detail={}
    )
    r2 = await releases.put_policy(
        "a", {"stable": "v2"}, kind="promoted", actor="admin", detail={"to": "v2"}
    )
    assert (r1, r2) == (1, 2)
    assert await releases.get_policy("a") == ({"stable": "v2"}, 2)
    events = await releases.events("a")
    assert [e.kind for e in events] == ["promoted", "policy_set"]
    assert events[0].detail == {"to": "v2", "revision": 2}
    await releases.delete_policy("a", "admin")
    assert await releases.all_policies() == {}
