"""Release operations: status with per-version metrics, weights, promote, rollback,
and the canary guard that rolls back on its own.

Every change is stored with an event in the same commit (``release_events``: who, what,
the policy's new revision), so the history of a release is its audit trail. The guard
measures each version's runs in its window — error rate, p95 latency, cost per
conversation — and the latest experiment's pass rate, and when a rule fires sends every
new session back to stable, raises an alert through the app's notifiers and records the
event (decision 0223).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from roost.evals.errors import ReleaseNotFound, ReleasePolicyInvalid
from roost.evals.records import EvalRecords, ReleaseRecords
from roost.evals.release import GuardRule, ReleasePolicy, ReleaseRouter, parse_policy, versions_of
from roost.evals.stats import percentile
from roost.store import Store
from roost.store.rows import stamp

log = logging.getLogger("roost.evals.release")

_OPS = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}


class Releases:
    """The release operations of one app (its store, its registered agents)."""

    def __init__(
        self,
        store: Store,
        registered: Iterable[str],
        *,
        router: ReleaseRouter | None = None,
        notifiers: Sequence[Any] = (),
    ) -> None:
        self.store = store
        self.registered = list(registered)
        self.records = ReleaseRecords(store)
        self.evals = EvalRecords(store)
        self.router = router
        self.notifiers = list(notifiers)

    def _changed(self) -> None:
        if self.router is not None:
            self.router.invalidate()

    async def policy(self, agent: str) -> tuple[ReleasePolicy, int]:
        found = await self.records.get_policy(agent)
        if found is None:
            known = versions_of(agent, self.registered)
            if not known:
                raise ReleaseNotFound(f"no versioned agent {agent!r}", hint="name@version agents")
            return ReleasePolicy(stable=known[0]), 0
        return ReleasePolicy.model_validate(found[0]), found[1]

    async def set_policy(self, agent: str, data: Any, actor: str | None) -> int:
        policy = parse_policy(agent, data, self.registered)
        revision = await self.records.put_policy(
            agent, _dump(policy), kind="policy_set", actor=actor, detail={"policy": _dump(policy)}
        )
        self._changed()
        return revision

    async def set_weights(self, agent: str, weights: dict[str, float], actor: str | None) -> int:
        policy, _ = await self.policy(agent)
        data = {**_dump(policy), "weights": weights, "status": "active"}
        new = parse_policy(agent, data, self.registered)
        revision = await self.records.put_policy(
            agent,
            _dump(new),
            kind="weights_set",
            actor=actor,
            detail={"from": policy.weights, "to": new.weights},
        )
        self._changed()
        return revision

    async def promote(self, agent: str, version: str | None, actor: str | None) -> int:
        """``version`` (default: the guarded canary) becomes stable with all traffic."""
        policy, _ = await self.policy(agent)
        target = version or (policy.guard.canary if policy.guard else None)
        if target is None:
            raise ReleasePolicyInvalid("which version?", hint="name the version to promote")
        new = parse_policy(
            agent,
            {
                "stable": target,
                "weights": {target: 100},
                "header": policy.header,
                "status": "promoted",
            },
            self.registered,
        )
        revision = await self.records.put_policy(
            agent,
            _dump(new),
            kind="promoted",
            actor=actor,
            detail={"from": policy.stable, "to": target},
        )
        self._changed()
        return revision

    async def rollback(
        self,
        agent: str,
        actor: str | None,
        *,
        kind: str = "rolled_back",
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Every new session on the stable version; lists and guard kept for the record."""
        policy, _ = await self.policy(agent)
        data = {
            **_dump(policy),
            "weights": {policy.stable: 100},
            "users": {},
            "tenants": {},
            "status": "rolled_back",
        }
        new = parse_policy(agent, data, self.registered)
        revision = await self.records.put_policy(
            agent,
            _dump(new),
            kind=kind,
            actor=actor,
            detail={"from": policy.weights, **(detail or {})},
        )
        self._changed()
        return revision

    # -- measuring ---------------------------------------------------------------------
    async def version_metrics(self, agent: str, version: str, window_s: float) -> dict[str, Any]:
        since = datetime.now(UTC) - timedelta(seconds=window_s)
        rows = await self.evals.runs_of(f"{agent}@{version}", since)
        finished = [r for r in rows if r["status"] in ("succeeded", "failed", "canceled")]
        failed = sum(1 for r in finished if r["status"] == "failed")
        latencies = []
        for r in finished:
            start, end = stamp(r["started_at"]), stamp(r["finished_at"])
            if start is not None and end is not None:
                latencies.append((end - start).total_seconds() * 1000)
        sessions = {r["session_id"] for r in rows}
        costs = [float(r["cost"]) for r in rows if r["cost"] is not None]
        experiments = await self.evals.list_experiments(limit=50)
        scored = [
            e for e in experiments if e.agent == f"{agent}@{version}" and e.status == "succeeded"
        ]
        return {
            "runs": len(rows),
            "finished": len(finished),
            "failed": failed,
            "sessions": len(sessions),
            "error_rate": failed / len(finished) if finished else None,
            "p95_latency_ms": percentile(latencies, 95),
            "cost_per_session": (sum(costs) / len(sessions)) if costs and sessions else None,
            "eval_pass_rate": scored[0].summary.get("pass_rate") if scored else None,
        }

    async def status(self, agent: str, window_s: float | None = None) -> dict[str, Any]:
        policy, revision = await self.policy(agent)
        window = window_s or (policy.guard.window_s if policy.guard else 3600.0)
        versions = versions_of(agent, self.registered)
        metrics = {v: await self.version_metrics(agent, v, window) for v in versions}
        events = await self.records.events(agent, limit=20)
        return {
            "agent": agent,
            "revision": revision,
            "policy": _dump(policy),
            "versions": versions,
            "window_s": window,
            "metrics": metrics,
            "events": [
                {
                    "kind": e.kind,
                    "actor": e.actor,
                    "detail": e.detail,
                    "at": e.created_at.timestamp(),
                }
                for e in events
            ],
        }

    async def check_guards(self) -> list[dict[str, Any]]:
        """One pass over every guarded, active policy; the rollbacks it made."""
        fired = []
        for agent, (data, _rev) in (await self.records.all_policies()).items():
            try:
                policy = ReleasePolicy.model_validate(data)
            except ValueError:
                continue
            guard = policy.guard
            if guard is None or policy.status != "active" or guard.canary == policy.stable:
                continue
            canary = await self.version_metrics(agent, guard.canary, guard.window_s)
            if canary["finished"] < guard.min_runs:
                continue
            stable = None
            for rule in guard.rules:
                value = canary.get(rule.metric)
                if value is None:
                    continue
                if rule.relative:
                    if stable is None:
                        stable = await self.version_metrics(agent, policy.stable, guard.window_s)
                    base = stable.get(rule.metric)
                    if base is None:
                        continue
                    value = value - base
                if _OPS[rule.op](float(value), rule.threshold):
                    detail = {"rule": rule.model_dump(), "value": value, "canary": guard.canary}
                    await self.rollback(agent, "guard", kind="guard_rollback", detail=detail)
                    await self._alert(agent, guard.canary, rule, float(value))
                    fired.append({"agent": agent, **detail})
                    break
        return fired

    async def _alert(self, agent: str, canary: str, rule: GuardRule, value: float) -> None:
        log.warning(
            "release guard: %s@%s %s=%g %s %g: rolled back to stable",
            agent,
            canary,
            rule.metric,
            value,
            rule.op,
            rule.threshold,
        )
        if not self.notifiers:
            return
        from roost.observe.notifiers import Alert

        alert = Alert(
            name="ReleaseGuardRollback",
            status="firing",
            labels={"agent": agent, "version": canary, "metric": rule.metric},
            value=value,
            summary=f"{agent}@{canary}: {rule.metric} {value:g} {rule.op} {rule.threshold:g}; "
            "traffic sent back to the stable version",
            severity="critical",
            level="service",
            starts_at=datetime.now(UTC),
        )
        for notifier in self.notifiers:
            try:
                await notifier.notify([alert])
            except Exception:
                log.exception("release guard: notifier %r failed", notifier)


def _dump(policy: ReleasePolicy) -> dict[str, Any]:
    return policy.model_dump(mode="json", exclude_none=True)


async def guard_loop(releases: Releases, interval: float) -> None:
    """Check the guards every ``interval`` seconds until cancelled."""
    while True:
        try:
            await releases.check_guards()
        except Exception as exc:  # the database may be briefly away: try again next time
            log.warning("release guard check failed: %s", exc)
        await asyncio.sleep(interval)
