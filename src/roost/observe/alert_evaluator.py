"""In-process alert evaluation: rules over the local registry and usage, with ``for`` state.

Counters only mean something as change over a window, so the evaluator keeps snapshots
of the registry for the longest rule window and computes rate/increase/ratio/quantile
from the oldest snapshot inside the window. Each (rule, label set) goes
inactive → pending → firing → resolved; notifiers hear about firing and resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from roost.observe.alerts import AlertRule, MetricExpr, UsageExpr, compare, format_duration
from roost.observe.metrics import RoostMetrics, Sample
from roost.observe.notifiers import Alert, LogNotifier, Notifier

log = logging.getLogger("roost.alerts")

Labels = tuple[tuple[str, str], ...]
_Snapshot = dict[tuple[str, Labels], float]


class UsageSource(Protocol):
    """Usage aggregates per group over a time range (the store, or the trace store)."""

    async def usage_by(
        self,
        measure: str,
        per: str,
        since: datetime,
        until: datetime,
        currency: str | None = None,
    ) -> dict[str, float]: ...


@dataclass
class AlertState:
    """Where one (rule, labels) instance is; ``since`` is when the condition became true."""

    rule: str
    labels: dict[str, str]
    state: Literal["inactive", "pending", "firing"] = "inactive"
    since: float = 0.0
    fired_at: float | None = None
    value: float = math.nan


@dataclass
class Transition:
    rule: str
    labels: dict[str, str]
    old: str
    new: str
    value: float


@dataclass
class _History:
    snapshots: deque[tuple[float, _Snapshot]] = field(default_factory=deque)

    def add(self, now: float, snap: _Snapshot, keep: float) -> None:
        self.snapshots.append((now, snap))
        while len(self.snapshots) > 2 and self.snapshots[1][0] <= now - keep:
            self.snapshots.popleft()

    def at_or_after(self, ts: float) -> tuple[float, _Snapshot] | None:
        for item in self.snapshots:
            if item[0] >= ts - 1e-9:
                return item
        return None


def _matches(labels: Labels, match: dict[str, str]) -> bool:
    d = dict(labels)
    return all(d.get(k) == v for k, v in match.items())


def _group(labels: Labels, by: tuple[str, ...]) -> Labels:
    d = dict(labels)
    return tuple((k, d.get(k, "")) for k in by)


def _sum_by(
    snap: _Snapshot, name: str, match: dict[str, str], by: tuple[str, ...]
) -> dict[Labels, float]:
    out: dict[Labels, float] = {}
    for (n, labels), value in snap.items():
        if n == name and _matches(labels, match):
            g = _group(labels, by)
            out[g] = out.get(g, 0.0) + value
    return out


def _delta(
    now: _Snapshot, old: _Snapshot, name: str, match: dict[str, str], by: tuple[str, ...]
) -> dict[Labels, float]:
    cur = _sum_by(now, name, match, by)
    before = _sum_by(old, name, match, by)
    return {g: max(0.0, v - before.get(g, 0.0)) for g, v in cur.items()}


def _aggregate(agg: str, values: list[float]) -> float:
    if agg == "max":
        return max(values)
    if agg == "min":
        return min(values)
    if agg == "avg":
        return sum(values) / len(values)
    return sum(values)


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' interpolation over cumulative ``(le, count)`` buckets; NaN if empty."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return buckets[-1][0]


class AlertEvaluator:
    """Evaluates rules every ``interval`` seconds and notifies on state changes."""

    def __init__(
        self,
        rules: Sequence[AlertRule],
        *,
        metrics: RoostMetrics,
        usage: UsageSource | None = None,
        notifiers: Sequence[Notifier] | None = None,
        interval: float = 15.0,
    ) -> None:
        self.rules = list(rules)
        self.metrics = metrics
        self.usage = usage
        self.notifiers: list[Notifier] = (
            list(notifiers) if notifiers is not None else [LogNotifier()]
        )
        self.interval = interval
        self.states: dict[tuple[str, Labels], AlertState] = {}
        self._history = _History()
        self.transitions: deque[tuple[float, Transition]] = deque(maxlen=500)
        """The latest state changes, newest last (this process's, for the console)."""
        self._keep = max((r.window_seconds for r in self.rules), default=300.0) + interval
        self._task: asyncio.Task[None] | None = None

    # -- evaluation -----------------------------------------------------------------------
    def _snapshot(self) -> _Snapshot:
        samples: list[Sample] = self.metrics.samples()
        return {(s.name, s.labels): s.value for s in samples}

    def _metric_values(
        self, e: MetricExpr, window: float, now: float, snap: _Snapshot
    ) -> dict[Labels, float]:
        if e.fn == "value":
            groups: dict[Labels, list[float]] = {}
            for (n, labels), v in snap.items():
                if n == e.metric and _matches(labels, e.match):
                    groups.setdefault(_group(labels, e.by), []).append(v)
            return {g: _aggregate(e.agg, vs) for g, vs in groups.items()}
        base = self._history.at_or_after(now - window)
        if base is None or base[0] >= now:
            return {}  # not enough history yet for a change over the window
        t0, old = base
        if e.fn in ("rate", "increase"):
            delta = _delta(snap, old, e.metric, e.match, e.by)
            if e.fn == "increase":
                return delta
            return {g: v / (now - t0) for g, v in delta.items()}
        if e.fn == "ratio":
            num = _delta(snap, old, e.metric, e.match, e.by)
            den = _delta(snap, old, e.denominator or "", e.denominator_match, e.by)
            return {g: num.get(g, 0.0) / d for g, d in den.items() if d > 0}
        # quantile over bucket increases
        bucket = f"{e.metric}_bucket"
        per_le = _delta(snap, old, bucket, e.match, (*e.by, "le"))
        grouped: dict[Labels, list[tuple[float, float]]] = {}
        for labels, count in per_le.items():
            grouped.setdefault(labels[:-1], []).append((float(labels[-1][1]), count))
        out: dict[Labels, float] = {}
        for g, buckets in grouped.items():
            value = histogram_quantile(e.q or 0.5, buckets)
            if not math.isnan(value):
                out[g] = value
        return out

    async def _usage_values(self, rule: AlertRule, u: UsageExpr, now: float) -> dict[Labels, float]:
        if self.usage is None:
            return {}
        until = datetime.fromtimestamp(now, UTC)
        since = datetime.fromtimestamp(now - rule.window_seconds, UTC)
        values = await self.usage.usage_by(u.measure, u.per, since, until, u.currency)
        top = max(values.values(), default=0.0)
        self.metrics.usage_max.labels(
            u.measure, u.per, format_duration(rule.window_seconds), u.currency or ""
        ).set(top)
        return {((u.per, key),): v for key, v in values.items()}

    async def evaluate_once(self, now: float | None = None) -> list[Transition]:
        """One evaluation round at time ``now`` (wall clock by default)."""
        now = time.time() if now is None else now
        snap = self._snapshot()
        transitions: list[Transition] = []
        to_notify: list[Alert] = []
        for rule in self.rules:
            try:
                if rule.usage is not None:
                    values = await self._usage_values(rule, rule.usage, now)
                else:
                    assert rule.expr is not None
                    values = self._metric_values(rule.expr, rule.window_seconds, now, snap)
            except Exception as exc:
                log.warning("alert rule %s could not be evaluated: %s", rule.name, exc)
                continue
            active = {g: v for g, v in values.items() if compare(v, rule.op, rule.threshold)}
            for g, v in active.items():
                key = (rule.name, g)
                st = self.states.get(key)
                if st is None:
                    st = self.states[key] = AlertState(rule.name, dict(g))
                st.value = v
                if st.state == "inactive":
                    st.since = now
                    new = "firing" if rule.for_seconds <= 0 else "pending"
                    transitions.append(Transition(rule.name, dict(g), "inactive", new, v))
                    st.state = new  # type: ignore[assignment]
                    if new == "firing":
                        st.fired_at = now
                        to_notify.append(self._alert(rule, st, "firing", now))
                elif st.state == "pending" and now - st.since >= rule.for_seconds:
                    transitions.append(Transition(rule.name, dict(g), "pending", "firing", v))
                    st.state, st.fired_at = "firing", now
                    to_notify.append(self._alert(rule, st, "firing", now))
            for key, st in list(self.states.items()):
                if key[0] != rule.name or key[1] in active:
                    continue
                if st.state == "firing":
                    transitions.append(
                        Transition(rule.name, st.labels, "firing", "resolved", st.value)
                    )
                    to_notify.append(self._alert(rule, st, "resolved", now))
                elif st.state == "pending":
                    transitions.append(
                        Transition(rule.name, st.labels, "pending", "inactive", st.value)
                    )
                del self.states[key]
            firing = any(s.state == "firing" for k, s in self.states.items() if k[0] == rule.name)
            self.metrics.alerts_firing.labels(rule.name, rule.severity).set(1 if firing else 0)
        self._history.add(now, snap, self._keep)
        self.transitions.extend((now, tr) for tr in transitions)
        if to_notify:
            await self._notify(to_notify)
        return transitions

    def _alert(
        self, rule: AlertRule, st: AlertState, status: Literal["firing", "resolved"], now: float
    ) -> Alert:
        labels = {**rule.labels, **st.labels}
        return Alert(
            name=rule.name,
            status=status,
            labels=labels,
            value=st.value,
            summary=rule.render_message(st.value, labels),
            severity=rule.severity,
            level=rule.level,
            starts_at=datetime.fromtimestamp(st.fired_at or now, UTC),
            ends_at=datetime.fromtimestamp(now, UTC) if status == "resolved" else None,
            description=rule.description,
        )

    async def _notify(self, alerts: list[Alert]) -> None:
        results = await asyncio.gather(
            *(n.notify(alerts) for n in self.notifiers), return_exceptions=True
        )
        for n, r in zip(self.notifiers, results, strict=True):
            if isinstance(r, BaseException):
                log.warning("alert notifier %s failed: %s", type(n).__name__, r)

    def firing(self) -> list[AlertState]:
        return [s for s in self.states.values() if s.state == "firing"]

    # -- background task ------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            try:
                await self.evaluate_once()
            except Exception as exc:  # keep evaluating; one bad round must not stop alerts
                log.warning("alert evaluation failed: %s", exc)
            await asyncio.sleep(self.interval)

    def start(self) -> asyncio.Task[None]:
        """Run in the background of the current event loop (the app's lifespan)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="roost-alerts")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
