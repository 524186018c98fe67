"""Two real server processes on one PostgreSQL database and one Redis: any replica can
join a run's stream, the session lock holds across them, a cancel reaches the owner."""

from __future__ import annotations

import json
import threading
import uuid

import httpx
import pytest
from server_support import AUTH, start_process

pytestmark = pytest.mark.slow


def test_two_replicas_share_sessions_streams_and_locks(
    processes, postgres_url, redis_url, roost_home
):
    env = {
        "ROOST_HOME": str(roost_home),
        "ROOST_DATABASE_URL": postgres_url,
        "ROOST_REDIS_URL": redis_url,
        "ROOST_TEST_SCHEMA": "srv_" + uuid.uuid4().hex[:10],
    }
    a = start_process("apps.agents:slow", env)
    processes.append(a)
    b = start_process("apps.agents:slow", env)
    processes.append(b)
    ca = httpx.Client(base_url=a.url, headers=AUTH, timeout=30)
    cb = httpx.Client(base_url=b.url, headers=AUTH, timeout=30)
    sid = ca.post("/v1/sessions", json={"agent": "ticker"}).json()["id"]
    assert cb.get(f"/v1/sessions/{sid}").status_code == 200

    on_a: dict[str, list[dict]] = {"events": []}
    started = threading.Event()
    run_box: dict[str, str] = {}

    def stream_on_a() -> None:
        with ca.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "go"}) as r:
            run_box["id"] = r.headers["x-run-id"]
            for line in r.iter_lines():
                if line.startswith("data: "):
                    on_a["events"].append(json.loads(line[6:]))
                    if len(on_a["events"]) >= 3:
                        started.set()

    t = threading.Thread(target=stream_on_a)
    t.start()
    assert started.wait(30)
    run_id = run_box["id"]
    busy = cb.post(f"/v1/sessions/{sid}/runs", json={"input": "me too"})
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "session_busy"
    with cb.stream("GET", f"/v1/runs/{run_id}/events") as r:
        via_b = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    t.join()
    assert [e["seq"] for e in via_b] == list(range(1, len(via_b) + 1))
    assert via_b == on_a["events"]  # the same stream, event for event
    assert via_b[-1]["type"] == "run.completed"

    # a cancel sent to B interrupts the run owned by A
    second: dict[str, list[dict]] = {"events": []}
    started2 = threading.Event()

    def stream_again() -> None:
        with ca.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "again"}) as r:
            run_box["second"] = r.headers["x-run-id"]
            for line in r.iter_lines():
                if line.startswith("data: "):
                    second["events"].append(json.loads(line[6:]))
                    started2.set()

    t2 = threading.Thread(target=stream_again)
    t2.start()
    assert started2.wait(30)
    assert cb.post(f"/v1/runs/{run_box['second']}/cancel").status_code == 202
    t2.join(timeout=30)
    assert second["events"][-1]["type"] == "run.canceled"
    assert cb.get(f"/v1/runs/{run_box['second']}").json()["status"] == "canceled"
