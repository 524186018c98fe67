"""Nothing acknowledged is lost: a server process killed with ``kill -9`` under load
keeps the audit record of every run and refusal its clients heard of, and its chain
still verifies."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "server"))

from server_support import processes, start_process

from roost.govern.audit import verify
from roost.store import Store

__all__ = ["processes"]
ADMIN = {"authorization": "Bearer rk_" + "A" * 43}


def _load(url: str, stop: threading.Event, runs: list[str], refused: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=30) as c:
        sid = c.post("/v1/sessions", headers=ADMIN, json={}).json()["id"]
        while not stop.is_set():
            try:
                r = c.post(
                    f"/v1/sessions/{sid}/runs",
                    headers=ADMIN,
                    json={"input": "weather?", "stream": False},
                )
                if r.status_code == 200 and r.json()["status"] == "succeeded":
                    runs.append(r.json()["id"])
                bad = c.get("/v1/sessions", headers={"authorization": "Bearer rk_" + "B" * 43})
                if bad.status_code == 401:
                    refused.append(1)
            except httpx.HTTPError:
                return  # the server died under us: what was not answered was not acknowledged


def test_kill9_under_load_loses_no_acknowledged_audit_record(
    processes: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", here + os.pathsep + os.environ.get("PYTHONPATH", ""))
    db = tmp_path / "roost.db"
    env = {"ROOST_DATABASE_URL": f"sqlite:///{db}", "ROOST_HOME": str(tmp_path / "home")}
    server = start_process("audited_app:app", env)
    processes.append(server)
    stop = threading.Event()
    runs: list[str] = []
    refused: list[int] = []
    threads = [
        threading.Thread(target=_load, args=(server.url, stop, runs, refused)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(runs) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill9()  # while the clients are mid-request
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(runs) >= 20 and refused

    async def check() -> None:
        store = await Store.open(f"sqlite:///{db}")
        try:
            rows = await store.backend.read(
                lambda tx: tx.rows("SELECT action, run_id FROM audit_records")
            )
            report = await verify(store)
        finally:
            await store.close()
        assert report.ok, report.problem
        finished = {r["run_id"] for r in rows if r["action"] == "run.finished"}
        started = {r["run_id"] for r in rows if r["action"] == "run.started"}
        assert set(runs) <= finished and set(runs) <= started
        tools = sum(1 for r in rows if r["action"] == "tool.call" and r["run_id"] in set(runs))
        assert tools == len(runs)
        assert sum(1 for r in rows if r["action"] == "auth.failed") >= len(refused)

    asyncio.run(check())
