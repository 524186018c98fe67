"""Server benchmark: Roost's AgentApp (persisted runs) against a bare Starlette floor.

    python -m bench.server                 # default sizes (a few minutes on a loaded box)
    python -m bench.server --quick         # smoke run
    python -m bench.server --serve roost --port 8090   # just run the bench app

Both servers run as separate processes and are measured side by side in one invocation:
CPU time of the server process tree per streamed run (from /proc; in ``--rounds``
alternating rounds, the order rotating, and the median taken, so drift in the machine's
speed weighs on every side alike), idle RSS, start → healthy, 1,000 concurrent streaming
sessions, RSS drift over many runs. The Roost side
serves a ``ReActAgent`` on ``ScriptedModel`` streaming a fixed 20-chunk reply, with the
SQLite file store under a temporary ``ROOST_HOME`` (every run persisted: session, user
message, events, reply, agent state, run status); ``--observe`` adds roost.observe.
``--db-floor`` adds a third side, the floor plus the rows a persisted run must write on
raw ``sqlite3`` (``bench.apps.floor_db``): how much of the CPU goal persistence alone takes.
``BENCH_CHUNKS=N`` (all sides) streams N chunks instead of 20, to split a run's cost into
its fixed part and its part per event.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import REPO, byte_compile, free_port, sample, stop, wait_healthy
from bench.load import Connection, HttpRequest, HttpResponse, run_load

BENCH = Path(__file__).parent
ADMIN_KEY = "rk_" + "b" * 43
CHUNKS = int(os.environ.get("BENCH_CHUNKS", "20"))


def build_roost_app(observe: bool, *, protect: bool = False) -> Any:
    """``protect``: the model is declared public and wrapped in roost.govern's
    PrivacyRouter, so every prompt is scanned by the DLP detectors (bench.govern_server)."""
    from roost.agents import ReActAgent
    from roost.models import ScriptedModel
    from roost.server import AgentApp, AgentContext

    app = AgentApp("bench", admin_key=ADMIN_KEY, rate_limit=None, observe=observe)
    reply = "".join(f"w{i:02d} " for i in range(CHUNKS))  # 20 equal chunks

    @app.agent
    def agent(ctx: AgentContext) -> ReActAgent:
        model: Any = ScriptedModel([reply], chunks=CHUNKS)
        if protect:
            from roost.govern.routing import PrivacyRouter

            model.private = False
            model = PrivacyRouter(model)
        return ReActAgent("bench", model, sys_prompt="You are a helpful assistant.")

    return app


def scenario(key: str) -> Any:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    create = HttpRequest("POST", "/v1/sessions", b"{}", headers)
    body = json.dumps({"input": "hello"}).encode()

    async def run(conn: Connection, _index: int) -> HttpResponse:
        created = await conn.send(create)
        if created.status != 201:
            return created
        sid = json.loads(created.body)["id"]
        return await conn.send(HttpRequest("POST", f"/v1/sessions/{sid}/runs", body, headers))

    return run


def valid(response: HttpResponse) -> bool:
    names = response.sse_event_names()
    return bool(names) and names[-1] == b"run.completed" and names.count(b"text.delta") == CHUNKS


def start(
    side: str, port: int, home: str, observe: bool, baseline: str | None = None
) -> subprocess.Popen[Any]:
    if side == "floor":
        cmd = [sys.executable, "-m", "bench.apps.floor", "--port", str(port)]
    elif side == "dbfloor":
        cmd = [sys.executable, "-m", "bench.apps.floor_db", "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "bench.server", "--serve", "roost", "--port", str(port)]
        if observe:
            cmd.append("--observe")
    env = {**os.environ, "ROOST_HOME": home}
    if side == "baseline" and baseline:
        # another Roost tree (e.g. `git archive HEAD src/roost | tar -x -C /tmp/base`),
        # first on the path so it shadows the editable install: before/after side by side
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (baseline, os.environ.get("PYTHONPATH")) if p
        )
    env.pop("ROOST_DATABASE_URL", None)
    env.pop("ROOST_REDIS_URL", None)
    return subprocess.Popen(cmd, env=env, cwd=REPO)


async def _cpu_ms_per_run(
    proc: subprocess.Popen[Any], base: str, runs: int, conc: int
) -> dict[str, Any]:
    before = sample(proc.pid)
    report = await run_load(
        base, scenario=scenario(ADMIN_KEY), total=runs, concurrency=conc, validate=valid
    )
    after = sample(proc.pid)
    return {
        "cpu_ms_per_run": (after.cpu_s - before.cpu_s) * 1000 / report.requests,
        "errors": report.errors,
        "first_error": report.first_error,
        "p50_ms": report.p50_ms,
        "throughput_rps": report.throughput_rps,
    }


async def main(args: argparse.Namespace) -> None:
    sides: tuple[str, ...] = ("floor", "baseline", "roost") if args.baseline else ("floor", "roost")
    if args.db_floor:
        sides = ("floor", "dbfloor", *sides[1:])
    byte_compile(sys.executable)  # as installed packages are (see _sides.byte_compile)
    if args.baseline:
        byte_compile(sys.executable, str(Path(args.baseline) / "roost"))
    rows: dict[str, dict[str, Any]] = {}
    procs: dict[str, tuple[subprocess.Popen[Any], str, str]] = {}
    try:
        # 1. start every side, one at a time: start -> healthy, idle memory, warm-up
        for side in sides:
            home = tempfile.mkdtemp(prefix=f"roost-bench-{side}-")
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            t0 = time.perf_counter()
            proc = start(side, port, home, args.observe, args.baseline)
            procs[side] = (proc, base, home)
            healthy = await wait_healthy(base, "/healthz", proc, 30)
            rows[side] = {"side": side, "start_to_healthy_s": round(healthy - t0, 3)}
            await asyncio.sleep(1.0)
            rows[side]["idle_rss_mb"] = round(sample(proc.pid).rss_bytes / 1e6, 1)
            await run_load(
                base, scenario=scenario(ADMIN_KEY), total=args.warmup, concurrency=4, validate=valid
            )
        # 2. CPU per run in alternating rounds (the order rotates every round), so a
        #    machine whose speed drifts during the run weighs on every side alike
        per_round = max(1, args.runs // args.rounds)
        cpu: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        for r in range(args.rounds):
            order = sides[r % len(sides) :] + sides[: r % len(sides)]
            for side in order:
                proc, base, _ = procs[side]
                cpu[side].append(await _cpu_ms_per_run(proc, base, per_round, args.concurrency))
        for side in sides:
            got = cpu[side]
            rows[side].update(
                runs=per_round * args.rounds,
                errors=sum(g["errors"] for g in got),
                first_error=next((g["first_error"] for g in got if g["first_error"]), None),
                cpu_ms_per_run=round(statistics.median(g["cpu_ms_per_run"] for g in got), 3),
                cpu_ms_per_round=[round(g["cpu_ms_per_run"], 3) for g in got],
                p50_ms=round(statistics.median(g["p50_ms"] for g in got), 1),
                throughput_rps=round(statistics.median(g["throughput_rps"] for g in got), 1),
            )
        # 3. wide concurrency and memory drift, then a restart on the same database
        for side in sides:
            proc, base, home = procs[side]
            out = rows[side]
            run = scenario(ADMIN_KEY)
            if args.concurrent:
                wide = await run_load(
                    base,
                    scenario=run,
                    total=args.concurrent,
                    concurrency=args.concurrent,
                    validate=valid,
                )
                out["concurrent_sessions"] = args.concurrent
                out["concurrent_errors"] = wide.errors
                out["concurrent_first_error"] = wide.first_error
            if args.drift:
                rss0 = sample(proc.pid).rss_bytes
                await run_load(
                    base,
                    scenario=run,
                    total=args.drift,
                    concurrency=args.concurrency,
                    validate=valid,
                )
                rss1 = sample(proc.pid).rss_bytes
                out["drift_runs"] = args.drift
                out["rss_before_mb"] = round(rss0 / 1e6, 1)
                out["rss_after_mb"] = round(rss1 / 1e6, 1)
                out["rss_drift_pct"] = round((rss1 - rss0) * 100 / rss0, 1)
            stop(proc)
            del procs[side]
            # restart on the same (now migrated, non-empty) database: the usual production start
            port = free_port()
            t0 = time.perf_counter()
            proc = start(side, port, home, args.observe, args.baseline)
            try:
                healthy = await wait_healthy(f"http://127.0.0.1:{port}", "/healthz", proc, 30)
                out["restart_to_healthy_s"] = round(healthy - t0, 3)
                await asyncio.sleep(1.0)
                out["restart_idle_rss_mb"] = round(sample(proc.pid).rss_bytes / 1e6, 1)
            finally:
                stop(proc)
            print(json.dumps(out), flush=True)
    finally:
        for proc, _, _ in procs.values():
            stop(proc)

    def ratios(side: str) -> list[float]:
        return [
            round(a["cpu_ms_per_run"] / f["cpu_ms_per_run"], 3)
            for a, f in zip(cpu[side], cpu["floor"], strict=True)
        ]

    summary: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "rounds": args.rounds,
        "cpu_ratio_roost_over_floor": round(statistics.median(ratios("roost")), 2),
        "cpu_ratio_roost_over_floor_per_round": ratios("roost"),
    }
    if args.db_floor:
        summary["cpu_ratio_dbfloor_over_floor"] = round(statistics.median(ratios("dbfloor")), 2)
        summary["cpu_ratio_dbfloor_over_floor_per_round"] = ratios("dbfloor")
    if args.baseline:
        summary["cpu_ratio_baseline_over_floor"] = round(statistics.median(ratios("baseline")), 2)
        summary["cpu_ratio_roost_over_baseline"] = round(
            statistics.median(
                a["cpu_ms_per_run"] / b["cpu_ms_per_run"]
                for a, b in zip(cpu["roost"], cpu["baseline"], strict=True)
            ),
            3,
        )
    summary.update(
        observe=args.observe,
        concurrency=args.concurrency,
        cpus=os.cpu_count(),
        loadavg=os.getloadavg(),
    )
    print(json.dumps(summary), flush=True)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--serve", choices=["roost"], help="run the bench app instead of the benchmark")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--observe", action="store_true", help="Roost side with roost.observe on")
    p.add_argument(
        "--db-floor",
        action="store_true",
        help="also measure the floor with raw-sqlite3 persistence (bench.apps.floor_db)",
    )
    p.add_argument("--runs", type=int, default=2000, help="runs per side for the CPU figure")
    p.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="alternating rounds the runs are split into (CPU is read in 10 ms ticks: "
        "keep several hundred runs per round)",
    )
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument(
        "--concurrent", type=int, default=1000, help="sessions streamed at once (0: skip)"
    )
    p.add_argument(
        "--drift", type=int, default=10000, help="runs for the RSS drift check (0: skip)"
    )
    p.add_argument(
        "--baseline",
        metavar="SRC_DIR",
        help="also measure the Roost found in SRC_DIR (a src/ folder of another tree)",
    )
    p.add_argument(
        "--quick", action="store_true", help="400 runs in 2 rounds, 100 concurrent, 1000 drift"
    )
    args = p.parse_args()
    if args.quick:
        args.runs, args.rounds, args.warmup, args.concurrent, args.drift = 400, 2, 30, 100, 1000
    return args


if __name__ == "__main__":
    ns = parse()
    if ns.serve:
        import uvicorn

        uvicorn.run(
            build_roost_app(ns.observe),
            host="127.0.0.1",
            port=ns.port,
            log_level="warning",
            access_log=False,
        )
    else:
        asyncio.run(main(ns))
