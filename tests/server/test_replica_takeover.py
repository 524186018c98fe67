"""A replica killed with SIGKILL while it holds background work: the replica that stays up
takes it over — runs that were running or still waiting, and task calls — and finishes
it; a replica cut off from Redis stops its runs before another one may resume them."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from server_support import AUTH, start_process, wait_until
from tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

TARGET = "apps.replicas:app"


def _env(
    home: Path, postgres_url: str, redis_url: str | None, app: str, ticks: Path
) -> dict[str, str]:
    """A replica's environment: one database schema and one queue name per test."""
    env = {
        "ROOST_HOME": str(home),
        "ROOST_DATABASE_URL": postgres_url,
        "ROOST_TEST_SCHEMA": "srv_" + uuid.uuid4().hex[:10],
        "ROOST_TEST_APP": app,
        "ROOST_TEST_TICKS": str(ticks),
    }
    if redis_url is not None:
        env["ROOST_REDIS_URL"] = redis_url
    return env


def _ticks(path: Path) -> list[tuple[int, str, int, float]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        pid, run_id, i, at = line.split()
        out.append((int(pid), run_id, int(i), float(at)))
    return out


def _final(c: httpx.Client, run_id: str) -> dict[str, Any]:
    return wait_until(  # type: ignore[no-any-return]
        lambda: (
            (r := c.get(f"/v1/runs/{run_id}").json())["status"]
            not in ("queued", "running", "waiting_approval")
            and r
        ),
        120,
    )


@pytest.mark.parametrize("takeover", ["surviving replica", "restarted replica"])
def test_background_work_of_a_killed_replica_is_finished_by_another(
    processes, postgres_url, redis_url, roost_home, tmp_path, redis_name, takeover
):
    ticks = tmp_path / "ticks.log"
    env = _env(roost_home, postgres_url, redis_url, redis_name, ticks)
    queue = redis.Redis.from_url(redis_url)
    queue_key = f"huey.redis.roost{redis_name}"
    a = start_process(TARGET, env)
    processes.append(a)
    ca = httpx.Client(base_url=a.url, headers=AUTH, timeout=30)
    sid = ca.post("/v1/sessions", json={"agent": "ticker"}).json()["id"]

    def submit(ticks: str) -> str:
        r = ca.post(f"/v1/sessions/{sid}/runs", json={"input": ticks, "background": True})
        return str(r.json()["id"])

    # R1 runs; R2, on the same session, is taken by a worker of A that waits for the lock
    ids = [submit("80")]
    wait_until(lambda: ca.get(f"/v1/runs/{ids[0]}").json()["status"] == "running")
    # R1 has ticked on A before A is killed (else the kill could come first on a fast box)
    wait_until(lambda: any(t[1] == ids[0] for t in _ticks(ticks)))
    ids.append(submit("20"))
    target = tmp_path / "out.txt"
    task_id = ca.post("/v1/jobs/write", json={"path": str(target), "seconds": 12}).json()["id"]
    wait_until(lambda: Path(str(target) + ".started").exists())
    wait_until(lambda: queue.llen(queue_key) == 0)  # A took all three messages
    assert ca.get(f"/v1/runs/{ids[1]}").json()["status"] == "queued"

    if takeover == "surviving replica":
        b = start_process(TARGET, env)  # started after A took the work: B holds none of it
        a.kill9()
    else:
        a.kill9()
        b = start_process(TARGET, env)  # the same deployment, restarted
    killed_at = time.time()
    processes.append(b)
    cb = httpx.Client(base_url=b.url, headers=AUTH, timeout=30)

    first, second = _final(cb, ids[0]), _final(cb, ids[1])
    assert first["status"] == second["status"] == "succeeded"
    assert first["output"]["content"][0]["text"] == "".join(f"t{i} " for i in range(80))
    assert second["output"]["content"][0]["text"] == "".join(f"t{i} " for i in range(20))
    done = wait_until(
        lambda: (r := cb.get(f"/v1/tasks/{task_id}").json())["status"] == "completed" and r
    )
    assert done["result"] == {"written": str(target)}
    assert target.read_text() == str(b.proc.pid)

    # R1 ran on A until the kill, then from the start on B; R2 only on B; never both
    log = _ticks(ticks)
    r1_on_a = [t for t in log if t[1] == ids[0] and t[0] == a.proc.pid]
    r1_on_b = [t for t in log if t[1] == ids[0] and t[0] == b.proc.pid]
    r2 = [t for t in log if t[1] == ids[1]]
    assert r1_on_a and max(t[3] for t in r1_on_a) <= killed_at
    assert [t[2] for t in r1_on_b] == list(range(80))
    assert {t[0] for t in r2} == {b.proc.pid} and [t[2] for t in r2] == list(range(20))
    r1_span = (min(t[3] for t in r1_on_b), max(t[3] for t in r1_on_b))
    assert min(t[3] for t in r2) > r1_span[1] or max(t[3] for t in r2) < r1_span[0]
    # the event log of R1 goes on where A's flushed part ended, and its replay is the
    # attempt on B alone: one ordered stream whose deltas join into the output
    with cb.stream("GET", f"/v1/runs/{ids[0]}/events") as r:
        events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[0] > 1
    assert events[0]["type"] == "run.started" and events[0]["attempt"] == 2
    text = "".join(e["delta"] for e in events if e["type"] == "text.delta")
    assert text == first["output"]["content"][0]["text"]
    # nothing of A is left in flight
    assert not [k for k in queue.keys(f"roost.queue.roost{redis_name}.inflight.*") if queue.llen(k)]


def test_replica_cut_off_from_redis_stops_its_run_before_another_resumes_it(
    processes, postgres_url, redis_url, roost_home, tmp_path, redis_name
):
    proxy = TcpProxy(redis_url)
    ticks = tmp_path / "ticks.log"
    env = _env(roost_home, postgres_url, None, redis_name, ticks)
    try:
        a = start_process(TARGET, {**env, "ROOST_REDIS_URL": proxy.url})
        processes.append(a)
        ca = httpx.Client(base_url=a.url, headers=AUTH, timeout=30)
        sid = ca.post("/v1/sessions", json={"agent": "ticker"}).json()["id"]
        run_id = ca.post(
            f"/v1/sessions/{sid}/runs", json={"input": "100", "background": True}
        ).json()["id"]
        wait_until(lambda: ca.get(f"/v1/runs/{run_id}").json()["status"] == "running")
        b = start_process(TARGET, {**env, "ROOST_REDIS_URL": redis_url})
        processes.append(b)
        cb = httpx.Client(base_url=b.url, headers=AUTH, timeout=30)
        wait_until(lambda: len(_ticks(ticks)) >= 5)
        proxy.cut()  # A is alive but cannot reach Redis: its lease lapses
        final = _final(cb, run_id)
        assert final["status"] == "succeeded"
        assert final["output"]["content"][0]["text"] == "".join(f"t{i} " for i in range(100))
        log = [t for t in _ticks(ticks) if t[1] == run_id]
        on_a = [t for t in log if t[0] == a.proc.pid]
        on_b = [t for t in log if t[0] == b.proc.pid]
        assert on_a and len(on_a) < 100  # A stopped the run part-way
        assert [t[2] for t in on_b] == list(range(100))  # B ran it whole, from the start
        assert max(t[3] for t in on_a) < min(t[3] for t in on_b)  # never both at once
        assert a.proc.poll() is None  # A itself stayed up
    finally:
        proxy.close()


def test_graceful_stop_hands_a_running_background_run_to_another_replica(
    processes, postgres_url, redis_url, roost_home, tmp_path, redis_name
):
    ticks = tmp_path / "ticks.log"
    env = _env(roost_home, postgres_url, redis_url, redis_name, ticks)
    a = start_process(TARGET, env)
    processes.append(a)
    ca = httpx.Client(base_url=a.url, headers=AUTH, timeout=30)
    sid = ca.post("/v1/sessions", json={"agent": "ticker"}).json()["id"]
    run_id = ca.post(f"/v1/sessions/{sid}/runs", json={"input": "60", "background": True}).json()[
        "id"
    ]
    wait_until(lambda: len(_ticks(ticks)) >= 5)
    b = start_process(TARGET, env)
    processes.append(b)
    cb = httpx.Client(base_url=b.url, headers=AUTH, timeout=30)
    a.stop()  # SIGTERM: a rolling deploy
    final = _final(cb, run_id)
    assert final["status"] == "succeeded"
    log = _ticks(ticks)
    on_a = [t for t in log if t[0] == a.proc.pid]
    on_b = [t for t in log if t[0] == b.proc.pid]
    assert [t[2] for t in on_b] == list(range(60))
    assert max(t[3] for t in on_a) < min(t[3] for t in on_b)
    # handed back at the stop, not after the lease expired: B's log says nothing of A
    assert not any("stopped renewing its lease" in line for line in b.output)
