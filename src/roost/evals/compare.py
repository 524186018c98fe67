"""Two experiments case by case (what got better, what got worse), and CI gates.

A case's verdict in an experiment is its pass rate over its repetitions; it *regressed*
when the baseline passed it more often than the candidate (and *improved* the other way
round). A gate is a comma-separated list of ``metric op number`` checks, e.g.
``pass_rate>=0.9,regressions==0,p95_latency_ms<=2000,scorer.contains>=0.8``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from roost.evals.errors import GateInvalid
from roost.evals.records import ResultRecord

_OPS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}
_CHECK = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass
class CaseChange:
    case_id: str
    input: str
    baseline: float
    candidate: float
    baseline_output: str = ""
    candidate_output: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "input": self.input,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "baseline_output": self.baseline_output,
            "candidate_output": self.candidate_output,
        }


@dataclass
class Comparison:
    baseline: str
    candidate: str
    improved: list[CaseChange] = field(default_factory=list)
    regressed: list[CaseChange] = field(default_factory=list)
    unchanged: int = 0
    only_baseline: int = 0
    only_candidate: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "improvements": len(self.improved),
            "regressions": len(self.regressed),
            "unchanged": self.unchanged,
            "only_baseline": self.only_baseline,
            "only_candidate": self.only_candidate,
            "improved": [c.as_dict() for c in self.improved],
            "regressed": [c.as_dict() for c in self.regressed],
        }


def _by_case(results: list[ResultRecord]) -> dict[str, list[ResultRecord]]:
    grouped: dict[str, list[ResultRecord]] = defaultdict(list)
    for r in results:
        grouped[r.case_id].append(r)
    return grouped


def _rate(rows: list[ResultRecord]) -> float:
    return sum(1 for r in rows if r.status == "passed") / len(rows)


def compare(
    baseline_id: str,
    baseline: list[ResultRecord],
    candidate_id: str,
    candidate: list[ResultRecord],
) -> Comparison:
    """Cases are matched by id (a dataset's cases keep theirs across experiments)."""
    base, cand = _by_case(baseline), _by_case(candidate)
    out = Comparison(baseline_id, candidate_id)
    out.only_baseline = len(base.keys() - cand.keys())
    out.only_candidate = len(cand.keys() - base.keys())
    for case_id in sorted(base.keys() & cand.keys()):
        b, c = _rate(base[case_id]), _rate(cand[case_id])
        change = CaseChange(
            case_id,
            str(cand[case_id][0].body.get("input", "")),
            b,
            c,
            str(base[case_id][0].body.get("output", ""))[:500],
            str(cand[case_id][0].body.get("output", ""))[:500],
        )
        if c > b:
            out.improved.append(change)
        elif c < b:
            out.regressed.append(change)
        else:
            out.unchanged += 1
    return out


@dataclass
class GateCheck:
    metric: str
    op: str
    threshold: float
    value: float | None
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": f"{self.metric}{self.op}{self.threshold:g}",
            "value": self.value,
            "passed": self.passed,
        }


GATE_METRICS = (
    "pass_rate",
    "pass_rate_low",
    "errors",
    "failed",
    "passed",
    "runs",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "cost",
    "mean_cost",
    "regressions",
    "improvements",
)
"""What a gate may check, besides ``scorer.NAME`` (that scorer's pass rate)."""


def parse_gate(text: str) -> list[tuple[str, str, float]]:
    checks = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _CHECK.match(part)
        if match is None:
            raise GateInvalid(
                f"cannot read gate check {part!r}",
                hint="write metric op number, e.g. pass_rate>=0.9,regressions==0",
            )
        metric = match.group(1)
        if metric not in GATE_METRICS and not metric.startswith("scorer."):
            raise GateInvalid(
                f"unknown gate metric {metric!r}",
                hint="known: " + ", ".join(GATE_METRICS) + ", scorer.NAME",
            )
        checks.append((metric, match.group(2), float(match.group(3))))
    if not checks:
        raise GateInvalid("the gate is empty", hint="e.g. pass_rate>=0.9")
    return checks


def metrics(summary: dict[str, Any], comparison: Comparison | None) -> dict[str, float | None]:
    """What a gate may check: summary figures, per-scorer pass rates, comparison counts."""
    lat, cost = summary.get("latency_ms") or {}, summary.get("cost") or {}
    found: dict[str, float | None] = {
        "pass_rate": summary.get("pass_rate"),
        "pass_rate_low": (summary.get("ci95") or [None])[0],
        "errors": summary.get("errors"),
        "failed": summary.get("failed"),
        "passed": summary.get("passed"),
        "runs": summary.get("runs"),
        "p50_latency_ms": lat.get("p50"),
        "p95_latency_ms": lat.get("p95"),
        "p99_latency_ms": lat.get("p99"),
        "cost": cost.get("total"),
        "mean_cost": cost.get("mean"),
    }
    for name, per in (summary.get("scorers") or {}).items():
        found[f"scorer.{name}"] = per.get("pass_rate")
    if comparison is not None:
        found["regressions"] = len(comparison.regressed)
        found["improvements"] = len(comparison.improved)
    return found


def evaluate_gate(
    text: str, summary: dict[str, Any], comparison: Comparison | None = None
) -> list[GateCheck]:
    """Every check of the gate; a metric the experiment lacks fails its check (a gate on
    ``regressions`` without a baseline cannot pass silently)."""
    known = metrics(summary, comparison)
    checks = []
    for metric, op, threshold in parse_gate(text):
        value = known.get(metric)
        ok = value is not None and bool(_OPS[op](float(value), threshold))
        checks.append(GateCheck(metric, op, threshold, None if value is None else float(value), ok))
    return checks
