"""Real server processes killed with SIGKILL: nothing acknowledged is lost, nothing stays
``running``, queued and running background work completes after the restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from server_support import AUTH, start_process, wait_until

pytestmark = pytest.mark.slow

TARGET = "apps.agents:slow"


def _env(home: Path) -> dict[str, str]:
    return {"ROOST_HOME": str(home)}


def assert_replay_is_the_last_attempt(c: httpx.Client, run_id: str, output: str) -> None:
    """A client joining the deltas of a replay gets exactly the final output: the stream
    of a run started over begins at its latest attempt (docs/protocol.md)."""
    with c.stream("GET", f"/v1/runs/{run_id}/events") as r:
        events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    assert events[0]["type"] == "run.started" and events[0]["attempt"] == 2
    assert "".join(e["delta"] for e in events if e["type"] == "text.delta") == output
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[0] > 1
    assert events[-1]["type"] == "run.completed"


def test_kill9_mid_stream_keeps_what_the_client_saw(processes, roost_home):
    server = start_process(TARGET, _env(roost_home))
    processes.append(server)
    c = httpx.Client(base_url=server.url, headers=AUTH, timeout=30)
    sid = c.post("/v1/sessions", json={}).json()["id"]
    seen: list[tuple[float, dict]] = []
    with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "weather in Paris?"}) as r:
        run_id = r.headers["x-run-id"]
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            seen.append((time.monotonic(), json.loads(line[6:])))
            deltas = [t for t, e in seen if e["type"] == "text.delta"]
            if len(deltas) >= 40 and deltas[-1] - deltas[0] > 1.0:
                server.kill9()
                killed_at = time.monotonic()
                break
    types = [e["type"] for _, e in seen]
    assert "tool.result" in types
    text_seen = "".join(e["delta"] for _, e in seen if e["type"] == "text.delta")
    # what the client had seen well before the kill must have been flushed (every 250 ms)
    text_before = "".join(
        e["delta"] for t, e in seen if e["type"] == "text.delta" and t < killed_at - 0.75
    )

    restarted = start_process(TARGET, _env(roost_home))
    processes.append(restarted)
    c = httpx.Client(base_url=restarted.url, headers=AUTH, timeout=30)
    run = c.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "failed"
    assert run["error"]["code"] == "server_restart"
    msgs = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
    assert msgs[0]["role"] == "user" and msgs[0]["content"][0]["text"] == "weather in Paris?"
    assert msgs[1]["role"] == "assistant" and msgs[1]["content"][-1]["type"] == "tool_use"
    assert msgs[2]["role"] == "tool" and "sunny" in json.dumps(msgs[2]["content"])
    partial = msgs[3]
    assert partial["role"] == "assistant" and partial["partial"] is True
    stored = partial["content"][0]["text"]
    assert text_seen.startswith(stored)
    assert len(stored) >= len(text_before) > 0
    # the stored event log replays the run up to the last flush, in order
    with c.stream("GET", f"/v1/runs/{run_id}/events") as r:
        lines = list(r.iter_lines())
    seqs = [int(x[4:]) for x in lines if x.startswith("id: ")]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 5
    # ... and ends with the run's end, so a client resuming after the restart is told
    last = json.loads([x for x in lines if x.startswith("data: ")][-1][6:])
    assert (last["type"], last["code"]) == ("run.failed", "server_restart")
    # resuming from the last event the client saw before the kill gives the rest and the end
    with c.stream(
        "GET", f"/v1/runs/{run_id}/events", headers={"last-event-id": str(seen[-1][1]["seq"])}
    ) as r:
        resumed = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    assert resumed and resumed[-1]["type"] == "run.failed"
    # and the session is usable again
    assert (
        c.post(f"/v1/sessions/{sid}/runs", json={"input": "again", "stream": False}).status_code
        == 200
    )


def test_background_run_and_task_survive_kill9(processes, roost_home, tmp_path):
    server = start_process(TARGET, _env(roost_home))
    processes.append(server)
    c = httpx.Client(base_url=server.url, headers=AUTH, timeout=30)
    sid = c.post("/v1/sessions", json={"agent": "ticker"}).json()["id"]
    run = c.post(f"/v1/sessions/{sid}/runs", json={"input": "go", "background": True})
    assert run.status_code == 202
    run_id = run.json()["id"]
    target = tmp_path / "out.txt"
    task = c.post("/v1/jobs/write", json={"path": str(target), "seconds": 4, "text": "hello"})
    assert task.status_code == 202
    task_id = task.json()["id"]
    # both are running when the server dies
    wait_until(lambda: Path(str(target) + ".started").exists())
    wait_until(lambda: c.get(f"/v1/runs/{run_id}").json()["status"] == "running")
    # the first attempt has flushed part of its reply before the kill
    wait_until(
        lambda: any(m["partial"] for m in c.get(f"/v1/sessions/{sid}/messages").json()["data"])
    )
    first_pid = Path(str(target) + ".started").read_text()
    server.kill9()
    assert not target.exists()

    restarted = start_process(TARGET, _env(roost_home))
    processes.append(restarted)
    c = httpx.Client(base_url=restarted.url, headers=AUTH, timeout=30)
    done = wait_until(lambda: c.get(f"/v1/tasks/{task_id}").json()["status"] == "completed", 60)
    assert done
    assert target.read_text() == "hello"
    assert Path(str(target) + ".started").read_text() != first_pid  # ran again after restart
    final = wait_until(
        lambda: (
            (r := c.get(f"/v1/runs/{run_id}").json())["status"] in ("succeeded", "failed") and r
        ),
        60,
    )
    assert final["status"] == "succeeded"
    assert final["output"]["content"][0]["text"] == "".join(f"t{i} " for i in range(30))
    # the run started over: the transcript has its input and the second attempt's reply,
    # not the first attempt's partial beside it
    msgs = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
    assert [(m["role"], m["partial"]) for m in msgs] == [("user", False), ("assistant", False)]
    assert_replay_is_the_last_attempt(c, run_id, final["output"]["content"][0]["text"])


def test_queued_background_run_completes_after_restart(processes, roost_home):
    server = start_process(TARGET, _env(roost_home))
    processes.append(server)
    c = httpx.Client(base_url=server.url, headers=AUTH, timeout=30)
    sid = c.post("/v1/sessions", json={"agent": "ticker"}).json()["id"]
    ids = [
        c.post(f"/v1/sessions/{sid}/runs", json={"input": str(i), "background": True}).json()["id"]
        for i in range(2)
    ]
    # one runs, the other waits for the session lock: kill while one is queued
    wait_until(
        lambda: (
            sorted(c.get(f"/v1/runs/{i}").json()["status"] for i in ids) == ["queued", "running"]
        )
    )
    server.kill9()
    restarted = start_process(TARGET, _env(roost_home))
    processes.append(restarted)
    c = httpx.Client(base_url=restarted.url, headers=AUTH, timeout=30)
    for run_id in ids:
        status = wait_until(
            lambda rid=run_id: (
                (s := c.get(f"/v1/runs/{rid}").json()["status"]) not in ("queued", "running") and s
            ),
            60,
        )
        assert status == "succeeded"


def test_graceful_stop_requeues_a_running_background_run(processes, roost_home):
    server = start_process(TARGET, _env(roost_home))
    processes.append(server)
    c = httpx.Client(base_url=server.url, headers=AUTH, timeout=30)
    sid = c.post("/v1/sessions", json={"agent": "ticker"}).json()["id"]
    run_id = c.post(f"/v1/sessions/{sid}/runs", json={"input": "go", "background": True}).json()[
        "id"
    ]
    wait_until(lambda: c.get(f"/v1/runs/{run_id}").json()["status"] == "running")
    server.stop()  # SIGTERM: a deploy, not a crash
    restarted = start_process(TARGET, _env(roost_home))
    processes.append(restarted)
    c = httpx.Client(base_url=restarted.url, headers=AUTH, timeout=30)
    final = wait_until(
        lambda: (
            (r := c.get(f"/v1/runs/{run_id}").json())["status"] not in ("queued", "running") and r
        ),
        60,
    )
    assert final["status"] == "succeeded"
    assert final["output"]["content"][0]["text"] == "".join(f"t{i} " for i in range(30))
    # the run started over: the transcript has its input and the second attempt's reply,
    # not the first attempt's partial beside it
    msgs = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
    assert [(m["role"], m["partial"]) for m in msgs] == [("user", False), ("assistant", False)]
    assert_replay_is_the_last_attempt(c, run_id, final["output"]["content"][0]["text"])
