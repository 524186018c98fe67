"""The evals API on a real server: datasets from JSON and from real traffic, an
experiment in the background with a baseline and a gate, the report, replay, scopes."""

from __future__ import annotations

import httpx
from server_support import ADMIN_KEY, wait_until

from roost.evals import enable_evals

from .apps import make_app


def _app(tmp_path):
    app = make_app(auth=True, admin_key=ADMIN_KEY, store_url=f"sqlite:///{tmp_path / 'a.db'}")
    evals = enable_evals(app, guard_interval=0)

    @evals.scorer("says_answer")
    def says_answer(case, outcome):
        return "answer" in outcome.output

    return app


def _finished(c: httpx.Client, exp_id: str) -> dict:
    return wait_until(
        lambda: (e := c.get(f"/v1/evals/experiments/{exp_id}").json())["status"] != "running" and e
    )


def test_datasets_experiments_baselines_gates_and_reports(served, tmp_path):
    s = served(_app(tmp_path))
    with s.client() as c:
        bad = c.post("/v1/evals/datasets", json={"name": "x", "cases": [{"expected": "4"}]})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        assert "cases.0.input" in bad.json()["error"]["message"], bad.text
        made = c.post(
            "/v1/evals/datasets",
            json={
                "name": "sums",
                "cases": [
                    {
                        "input": "What is 1 plus 2?",
                        "expected": "3",
                        "tool_calls": [{"name": "add"}],
                    },
                    {"input": "What is 5 plus 5?", "expected": "10"},
                ],
            },
        )
        assert made.status_code == 201 and made.json()["cases"] == 2
        ds = made.json()["id"]
        scorers = ["contains", "trajectory", {"type": "custom", "name": "says_answer"}]
        r = c.post(
            "/v1/evals/experiments",
            json={"dataset": "sums", "agent": "calc@v1", "scorers": scorers},
        )
        assert r.status_code == 202, r.text
        base = _finished(c, r.json()["id"])
        assert (
            base["summary"]["pass_rate"] == 1.0
            and base["summary"]["scorers"]["says_answer"]["passed"] == 2
        )

        r = c.post(
            "/v1/evals/experiments",
            json={
                "dataset": ds,
                "agent": "calc@v2",
                "scorers": scorers,
                "baseline": base["id"],
                "gate": "pass_rate>=0.9,regressions==0",
            },
        )
        cand = _finished(c, r.json()["id"])
        assert cand["summary"]["gate"]["passed"] is False
        assert cand["summary"]["comparison"]["regressions"] == 2
        diff = c.get(f"/v1/evals/experiments/{cand['id']}/compare").json()
        assert {x["input"] for x in diff["regressed"]} == {"What is 1 plus 2?", "What is 5 plus 5?"}
        results = c.get(f"/v1/evals/experiments/{cand['id']}/results").json()["data"]
        assert all(x["run_id"] for x in results)
        trace = c.get(f"/v1/runs/{results[0]['run_id']}/trace")
        assert trace.status_code == 200  # every case's run is stored with its trace
        report = c.get(f"/v1/evals/experiments/{cand['id']}/report")
        assert report.headers["content-type"].startswith("text/html")
        assert "<svg" in report.text and "What is 5 plus 5?" in report.text

        # importing code as a scorer needs an admin key
        key = c.post("/v1/keys", json={"name": "u", "user_id": "u1"}).json()["key"]
        with httpx.Client(base_url=s.url, headers={"authorization": f"Bearer {key}"}) as user:
            mine = user.post(
                "/v1/evals/datasets", json={"name": "mine", "cases": [{"input": "hi"}]}
            )
            r = user.post(
                "/v1/evals/experiments",
                json={
                    "dataset": mine.json()["id"],
                    "agent": "calc@v1",
                    "scorers": [{"type": "custom", "function": "os:getcwd"}],
                },
            )
            assert r.status_code == 403, r.text
            # and nobody else's dataset or experiment is visible
            listed = user.get("/v1/evals/datasets")
            assert "data" in listed.json(), listed.text
            assert [d["name"] for d in listed.json()["data"]] == ["mine"], listed.text
            assert user.get(f"/v1/evals/datasets/{ds}").status_code == 404
            assert user.get(f"/v1/evals/experiments/{cand['id']}").status_code == 404


def test_a_run_from_real_traffic_becomes_a_case_and_replays(served, tmp_path):
    s = served(_app(tmp_path))
    with s.client() as c:
        sid = c.post("/v1/sessions", json={"agent": "calc@v1"}).json()["id"]
        run = c.post(
            f"/v1/sessions/{sid}/runs", json={"input": "What is 7 plus 8?", "stream": False}
        ).json()
        assert run["status"] == "succeeded"
        ds = c.post("/v1/evals/datasets", json={"name": "traffic"}).json()["id"]
        made = c.post(f"/v1/evals/datasets/{ds}/cases/from-run", json={"run_id": run["id"]})
        assert made.status_code == 201, made.text
        case = made.json()["case"]
        assert case["expected"] == "The answer is 15."
        assert case["tool_calls"] == [{"name": "add", "arguments": {"a": 7, "b": 8}}]
        assert "from-traffic" in case["tags"]

        again = c.post(f"/v1/evals/datasets/{ds}/cases/{case['id']}/replay", json={})
        assert again.status_code == 200 and again.json()["identical"] is True, again.text
        plain = c.post(f"/v1/evals/datasets/{ds}/cases", json={"cases": [{"input": "x"}]})
        assert plain.status_code == 201
        listed = c.get(f"/v1/evals/datasets/{ds}").json()["data"]
        no_events = c.post(f"/v1/evals/datasets/{ds}/cases/{listed[1]['id']}/replay", json={})
        assert (
            no_events.status_code == 409
            and no_events.json()["error"]["code"] == "replay_impossible"
        )

        replay = c.post(f"/v1/runs/{run['id']}/replay", json={})
        assert replay.status_code == 200 and replay.json()["identical"] is True
        against = c.post(f"/v1/runs/{run['id']}/replay", json={"against": "calc@v2"}).json()
        assert against["identical"] is False and against["diff"]
        missing = c.post("/v1/runs/run_nope/replay", json={})
        assert missing.status_code == 404
