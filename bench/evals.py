"""Evaluation and gray release: the platform's overhead (issue 23).

1. An experiment of ``--cases`` cases (a ReAct agent with a scripted model: a tool call,
   then the answer) at ``--concurrency``, through the app's run engine with every run
   stored, scored (contains + trajectory + succeeded) and summarised. Prints the wall
   time and runs per second, then the same runs straight through the engine (the floor
   the evals layer adds to).
2. Routing: the release router's pick per new session (cached policy, 90/10 weights),
   against the server CPU of one run (session + run through the engine, stored), side
   by side: the same sessions and runs with and without the router.

    python -m bench.evals                       # 1,000 cases at concurrency 20
    python -m bench.evals --cases 200 --routing 2000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from roost.agents import ReActAgent
from roost.core import Msg
from roost.evals import EvalRecords, ExperimentConfig, ExperimentRunner, make_scorer, parse_cases
from roost.evals.release import ReleaseRouter
from roost.models import ScriptedModel
from roost.server import AgentApp, AgentContext
from roost.server.auth import Principal
from roost.tools import Toolkit, tool


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _model() -> ScriptedModel:
    def step(messages: list[Msg]) -> Any:
        last = messages[-1]
        if last.role == "tool":
            return ScriptedModel.text(f"The answer is {last.content[0].text}.")  # type: ignore[union-attr]
        a, b = (int(w) for w in last.text.split() if w.isdigit())
        return ScriptedModel.tool_call("add", {"a": a, "b": b})

    return ScriptedModel([step], loop=True)


def build_app(db: Path) -> AgentApp:
    app = AgentApp("bench-evals", auth=False, rate_limit=None, store_url=f"sqlite:///{db}")

    @app.agent(name="calc@v1")
    def v1(ctx: AgentContext) -> ReActAgent:
        return ReActAgent("calc", _model(), toolkit=Toolkit([add]))

    @app.agent(name="calc@v2")
    def v2(ctx: AgentContext) -> ReActAgent:
        return ReActAgent("calc", _model(), toolkit=Toolkit([add]))

    return app


async def experiment(cases: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp) / "e.db")
        await app.startup()
        try:
            records = EvalRecords(app.store)
            data = [
                {
                    "input": f"add {i} and {i + 1}",
                    "expected": str(2 * i + 1),
                    "tool_calls": [{"name": "add"}],
                }
                for i in range(cases)
            ]
            ds = await records.create_dataset("bench", parse_cases(data))
            runner = ExperimentRunner(app.services)
            scorers = [make_scorer("contains"), make_scorer("trajectory"), make_scorer("succeeded")]
            exp = await runner.start(
                ds.id, ExperimentConfig(agent="calc@v1", concurrency=concurrency)
            )
            began = time.perf_counter()
            summary = await runner.run(exp, await records.cases(ds.id), scorers)
            wall = time.perf_counter() - began
        finally:
            await app.shutdown()
    return {
        "cases": cases,
        "concurrency": concurrency,
        "wall_s": wall,
        "pass_rate": summary["pass_rate"],
    }


async def floor(cases: int, concurrency: int) -> float:
    """The same runs straight through the run engine, without the evals layer."""
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp) / "f.db")
        await app.startup()
        try:
            services = app.services
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with gate:
                    session = await services.store.create_session(app="b", agent="calc@v1")
                    handle = await services.executor.start(
                        session, [Msg.user(f"add {i} and {i + 1}")]
                    )
                    await handle.done.wait()

            began = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(cases)))
            return time.perf_counter() - began
        finally:
            await app.shutdown()


async def routing(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp) / "r.db")
        await app.startup()
        try:
            from roost.evals.rollout import Releases

            services = app.services
            router = ReleaseRouter(services.store, services.agents, ttl=60)
            await Releases(services.store, services.agents, router=router).set_policy(
                "calc", {"stable": "v1", "weights": {"v1": 90, "v2": 10}}, "bench"
            )
            await router.policies()  # warm the cache, as a serving replica has it
            principals = [Principal(f"k{i}", "user", f"user{i}", "t1") for i in range(n)]
            began = time.process_time()
            for p in principals:
                await router("calc", p, {})
            pick_cpu = (time.process_time() - began) / n

            async def runs(route: bool) -> float:
                start = time.process_time()
                for p in principals[: n // 4]:
                    name = await router("calc", p, {}) if route else "calc@v1"
                    session = await services.store.create_session(
                        app="b", agent=name, user_id=p.user_id
                    )
                    handle = await services.executor.start(session, [Msg.user("add 2 and 3")])
                    await handle.done.wait()
                return (time.process_time() - start) / (n // 4)

            await runs(False)  # warm-up
            plain, routed = await runs(False), await runs(True)
        finally:
            await app.shutdown()
    return {"pick_us": pick_cpu * 1e6, "run_ms_plain": plain * 1e3, "run_ms_routed": routed * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--routing", type=int, default=2000, help="routing decisions to time")
    args = parser.parse_args()
    exp = asyncio.run(experiment(args.cases, args.concurrency))
    print(
        f"experiment: {exp['cases']} cases at concurrency {exp['concurrency']}: "
        f"{exp['wall_s']:.1f} s ({exp['cases'] / exp['wall_s']:.0f} runs/s), pass rate {exp['pass_rate']}"
    )
    bare = asyncio.run(floor(args.cases, args.concurrency))
    print(f"the same runs without the evals layer: {bare:.1f} s ({args.cases / bare:.0f} runs/s)")
    r = asyncio.run(routing(args.routing))
    share = r["pick_us"] / (r["run_ms_plain"] * 1e3) * 100
    print(
        f"routing: {r['pick_us']:.1f} µs CPU per pick; a run costs {r['run_ms_plain']:.2f} ms CPU "
        f"(routed: {r['run_ms_routed']:.2f} ms); the pick is {share:.2f} % of a run's CPU"
    )


if __name__ == "__main__":
    main()
