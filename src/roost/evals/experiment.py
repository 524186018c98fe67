"""Experiments: a dataset run against one agent version, every case scored.

Each case runs through the app's own run engine in a session of its own, so its run,
events, usage and trace are stored like any other run (tagged ``eval`` in the run's
metadata). Cases run ``concurrency`` at a time, each ``repetitions`` times (for models
that are not deterministic); ``seed`` fixes the order and is handed to the agent in
``ctx.metadata["eval"]["seed"]``. A case that crashes the agent is a failed case; a
scorer that cannot score is an error; neither stops the experiment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from roost.core import RoostError
from roost.core.retry import retry_transient
from roost.evals.cases import Case
from roost.evals.records import EvalRecords, ExperimentRecord, ResultRecord
from roost.evals.scorers import Outcome, Scorer
from roost.evals.stats import spread, wilson

if TYPE_CHECKING:
    from roost.server.services import Services

log = logging.getLogger("roost.evals")

_TERMINAL = {"run.completed": "succeeded", "run.failed": "failed", "run.canceled": "canceled"}
_BATCH = 200
"""Results stored per commit."""

Progress = Callable[[int, int], None]


@dataclass
class ExperimentConfig:
    agent: str
    concurrency: int = 4
    repetitions: int = 1
    seed: int | None = None
    scorers: list[Any] | None = None
    """Scorer specs as given (stored with the experiment)."""
    timeout_s: float = 300.0
    baseline: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "concurrency": self.concurrency,
            "repetitions": self.repetitions,
            "seed": self.seed,
            "scorers": self.scorers,
            "timeout_s": self.timeout_s,
            "baseline": self.baseline,
        }


class ExperimentRunner:
    """Runs experiments on a started app's services."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.records = EvalRecords(services.store)

    async def start(
        self,
        dataset_id: str,
        config: ExperimentConfig,
        *,
        user_id: str | None = None,
        tenant_id: str | None = None,
    ) -> ExperimentRecord:
        """Create the experiment record (status ``running``); :meth:`run` fills it."""
        self.services.agents.spec(config.agent)  # an unknown agent is refused up front
        return await self.records.create_experiment(
            dataset_id, config.agent, config.as_dict(), user_id=user_id, tenant_id=tenant_id
        )

    async def run(
        self,
        experiment: ExperimentRecord,
        cases: list[Case],
        scorers: list[Scorer],
        *,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Run every case × repetition, store the results, return the summary."""
        cfg = experiment.config
        reps = max(1, int(cfg.get("repetitions") or 1))
        order = [(case, r) for case in cases for r in range(reps)]
        seed = cfg.get("seed")
        if seed is not None:
            random.Random(seed).shuffle(order)
        sem = asyncio.Semaphore(max(1, int(cfg.get("concurrency") or 1)))
        results: list[ResultRecord] = []
        pending: list[ResultRecord] = []
        done = 0
        started = time.perf_counter()

        async def one(case: Case, rep: int) -> None:
            nonlocal done
            async with sem:
                record = await self._run_case(experiment, case, rep, scorers)
            results.append(record)
            pending.append(record)
            done += 1
            if progress is not None:
                progress(done, len(order))
            if len(pending) >= _BATCH:
                batch = pending[:]
                pending.clear()
                await self.records.save_results(batch)

        status = "succeeded"
        try:
            await asyncio.gather(*(one(c, r) for c, r in order))
        except asyncio.CancelledError:
            status = "canceled"  # the server shut down, or the caller gave up
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            await self.records.save_results(pending)
            summary = summarize(results, [s.name for s in scorers])
            summary["duration_s"] = round(time.perf_counter() - started, 3)
            await self.records.finish_experiment(experiment.id, status, summary)
        return summary

    async def _run_case(
        self, experiment: ExperimentRecord, case: Case, rep: int, scorers: list[Scorer]
    ) -> ResultRecord:
        try:
            outcome = await self._execute(experiment, case, rep)
        except RoostError as exc:  # the run could not even start: the case errs
            outcome = Outcome(output="", status="error", error=f"{exc.code}: {exc.message}")
        scores = [await s.score(case, outcome) for s in scorers]
        if outcome.status == "error":
            status = "error"
        elif outcome.status != "succeeded" or any(not s.passed and not s.error for s in scores):
            status = "failed"
        elif any(s.error for s in scores):
            status = "error"
        else:
            status = "passed"
        body = {
            "input": case.text[:500],
            "output": outcome.output[:4000],
            "run_status": outcome.status,
            "session_id": outcome.session_id,
            "tool_calls": outcome.tool_calls,
            "latency_ms": round(outcome.latency_ms, 2),
            "cost": outcome.cost,
            "tokens": [outcome.input_tokens, outcome.output_tokens],
            "error": outcome.error,
            "scores": [s.as_dict() for s in scores],
            "tags": case.tags,
        }
        return ResultRecord(experiment.id, case.id, rep, outcome.run_id, status, body)

    async def _execute(self, experiment: ExperimentRecord, case: Case, rep: int) -> Outcome:
        services = self.services
        cfg = experiment.config
        eval_meta = {"experiment": experiment.id, "case": case.id, "repetition": rep}
        if cfg.get("seed") is not None:
            eval_meta["seed"] = cfg["seed"]
        session = await retry_transient(
            lambda: services.store.create_session(
                app=services.config.name,
                agent=experiment.agent,
                user_id=experiment.user_id,
                tenant_id=experiment.tenant_id,
                metadata={"eval": eval_meta},
            )
        )
        services.sessions.remember(session, fresh=True)
        # fresh ids (a message id is unique in the store); blocks are shared, not copied
        inputs = [m.model_copy(update={"id": _fresh_id()}) for m in case.messages]
        began = time.perf_counter()
        handle = await services.executor.start(session, inputs, metadata={"eval": eval_meta})
        try:
            await asyncio.wait_for(handle.done.wait(), float(cfg.get("timeout_s") or 300))
        except TimeoutError:
            await services.executor.cancel(handle.id, reason="eval_timeout")
            await handle.done.wait()
        latency = (time.perf_counter() - began) * 1000
        status, calls = "succeeded", []
        for _seq, kind, text in handle.events:
            if kind in _TERMINAL:
                status = _TERMINAL[kind]
            elif kind == "tool_call.finished":
                data = json.loads(text)
                calls.append({"name": data.get("name"), "arguments": data.get("input") or {}})
        usage = handle.usage
        error = f"{handle.error[0]}: {handle.error[1]}" if handle.error else None
        return Outcome(
            output=handle.final.text if handle.final is not None else "",
            status=status,
            tool_calls=calls,
            latency_ms=latency,
            cost=usage.cost if usage is not None else None,
            input_tokens=usage.input_tokens if usage is not None else 0,
            output_tokens=usage.output_tokens if usage is not None else 0,
            error=error,
            run_id=handle.id,
            session_id=session.id,
        )


def _fresh_id() -> str:
    from roost.core import new_id

    return new_id("msg")


def summarize(results: list[ResultRecord], scorer_names: list[str]) -> dict[str, Any]:
    """Pass rates with 95 % intervals (overall and per scorer), latency and cost spread."""
    total = len(results)
    passed = sum(1 for r in results if r.status == "passed")
    failed = sum(1 for r in results if r.status == "failed")
    errors = sum(1 for r in results if r.status == "error")
    per: dict[str, dict[str, Any]] = {}
    for name in scorer_names:
        scores = [s for r in results for s in r.body.get("scores", []) if s.get("name") == name]
        ok = sum(1 for s in scores if s.get("passed"))
        err = sum(1 for s in scores if s.get("error"))
        judged = len(scores) - err
        per[name] = {
            "passed": ok,
            "failed": judged - ok,
            "errors": err,
            "pass_rate": ok / judged if judged else None,
            "ci95": list(wilson(ok, judged)),
            "mean": (sum(float(s.get("value", 0)) for s in scores) / len(scores))
            if scores
            else None,
        }
    latencies = [float(r.body.get("latency_ms") or 0) for r in results]
    costs = [float(r.body["cost"]) for r in results if r.body.get("cost") is not None]
    judged_total = total - errors
    return {
        "runs": total,
        "cases": len({r.case_id for r in results}),
        "passed": passed,
        "failed": failed,
        "errors": errors,
        "pass_rate": passed / judged_total if judged_total else None,
        "ci95": list(wilson(passed, judged_total)),
        "scorers": per,
        "latency_ms": spread(latencies),
        "cost": {"total": sum(costs) if costs else None, **spread(costs)},
        "tokens": sum(sum(r.body.get("tokens") or [0, 0]) for r in results),
    }
