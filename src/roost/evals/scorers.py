"""Scorers: a case and what the agent did → a :class:`Score`.

A scorer is any callable ``(case, outcome) -> Score | bool | float`` (sync or async):
custom scorers are plain Python functions. The built-in ones are made from specs
(``{"type": "contains", "value": "Paris"}``) so the API, the CLI and files share them.
A scorer that cannot score (a judge that answers garbage) raises ``ScorerFailed``; the
experiment counts that as a scorer *error*, apart from failed cases.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from roost.evals.cases import Case
from roost.evals.errors import ScorerFailed, ScorerInvalid
from roost.evals.score import Outcome, Score

__all__ = ["BUILTIN", "Outcome", "Score", "ScoreFn", "Scorer", "default_scorers", "make_scorer"]


ScoreFn = Callable[[Case, Outcome], "Score | bool | float | Awaitable[Score | bool | float]"]


@dataclass
class Scorer:
    """A named scorer; ``fn`` may be sync or async and return a Score, bool or number."""

    name: str
    fn: ScoreFn
    threshold: float = 1.0
    """A numeric result passes at or above it."""

    async def score(self, case: Case, outcome: Outcome) -> Score:
        try:
            result = self.fn(case, outcome)
            if inspect.isawaitable(result):
                result = await result
        except ScorerFailed as exc:
            return Score(self.name, False, 0.0, error=exc.message)
        except Exception as exc:  # a custom scorer's bug is its error, not the case's
            return Score(self.name, False, 0.0, error=f"{type(exc).__name__}: {exc}"[:300])
        if isinstance(result, Score):
            result.name = self.name
            return result
        if isinstance(result, bool):
            return Score(self.name, result, 1.0 if result else 0.0)
        if isinstance(result, int | float):
            return Score(self.name, float(result) >= self.threshold, float(result))
        return Score(self.name, False, 0.0, error=f"returned {type(result).__name__}")


def _expected(case: Case, spec: dict[str, Any]) -> str:
    value = spec.get("value", case.expected)
    if value is None:
        raise ScorerFailed("the case has no expected value")
    return str(value)


def exact(spec: dict[str, Any]) -> ScoreFn:
    fold = bool(spec.get("ignore_case", False))

    def fn(case: Case, out: Outcome) -> bool:
        want, got = _expected(case, spec).strip(), out.output.strip()
        return want.casefold() == got.casefold() if fold else want == got

    return fn


def contains(spec: dict[str, Any]) -> ScoreFn:
    """Every value (``value``, a list in ``values``, or the case's expected/facts) is in
    the output."""
    fold = bool(spec.get("ignore_case", True))

    def fn(case: Case, out: Outcome) -> Score:
        wanted = spec.get("values") or ([spec["value"]] if "value" in spec else None)
        wanted = wanted or ([case.expected] if case.expected else case.facts)
        if not wanted:
            return Score("", True, 1.0, "nothing expected")
        text = out.output.casefold() if fold else out.output
        missing = [w for w in wanted if (str(w).casefold() if fold else str(w)) not in text]
        value = 1 - len(missing) / len(wanted)
        return Score("", not missing, value, f"missing: {missing}" if missing else "")

    return fn


def regex(spec: dict[str, Any]) -> ScoreFn:
    try:
        pattern = re.compile(str(spec["pattern"]), re.S | (re.I if spec.get("ignore_case") else 0))
    except KeyError:
        raise ScorerInvalid("a regex scorer needs 'pattern'") from None
    except re.error as exc:
        raise ScorerInvalid(f"bad regex: {exc}") from None
    return lambda case, out: pattern.search(out.output) is not None


_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?")


def numeric(spec: dict[str, Any]) -> ScoreFn:
    """The last number in the output is within ``tolerance`` (absolute) or ``relative``
    of the expected number."""
    tol = float(spec.get("tolerance", 0.0))
    rel = float(spec.get("relative", 0.0))

    def fn(case: Case, out: Outcome) -> Score:
        try:
            want = float(_expected(case, spec))
        except ValueError:
            raise ScorerFailed("the expected value is not a number") from None
        found = _NUMBER.findall(out.output.replace(",", ""))
        if not found:
            return Score("", False, 0.0, "no number in the output")
        got = float(found[-1])
        ok = abs(got - want) <= max(tol, rel * abs(want))
        return Score("", ok, 1.0 if ok else 0.0, f"got {got}, expected {want}")

    return fn


def json_schema(spec: dict[str, Any]) -> ScoreFn:
    """The output (or its first fenced JSON block) parses and matches ``schema``."""
    import jsonschema

    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise ScorerInvalid("a json_schema scorer needs 'schema' (an object)")
    try:
        validator = jsonschema.Draft202012Validator(schema)
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ScorerInvalid(f"invalid JSON schema: {exc.message}") from None

    def fn(case: Case, out: Outcome) -> Score:
        text = out.output.strip()
        fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
        try:
            data = json.loads(fenced.group(1) if fenced else text)
        except json.JSONDecodeError:
            return Score("", False, 0.0, "the output is not JSON")
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            return Score("", False, 0.0, errors[0].message[:200])
        return Score("", True, 1.0)

    return fn


def _matches(want: dict[str, Any], got: dict[str, Any]) -> bool:
    if want["name"] != got.get("name"):
        return False
    args = want.get("arguments")
    if args is None:
        return True
    have = got.get("arguments") or {}
    return all(have.get(k) == v for k, v in args.items())


def trajectory(spec: dict[str, Any]) -> ScoreFn:
    """The expected tool calls (the case's ``tool_calls``) were made: in order, unless
    ``ordered`` is false; extra calls fail only with ``strict``."""
    ordered = bool(spec.get("ordered", True))
    strict = bool(spec.get("strict", False))

    def fn(case: Case, out: Outcome) -> Score:
        wanted = [c.model_dump() for c in case.tool_calls] or spec.get("calls") or []
        got = list(out.tool_calls)
        matched = 0
        if ordered:
            i = 0
            for call in got:
                if i < len(wanted) and _matches(wanted[i], call):
                    i += 1
            matched = i
        else:
            left = list(got)
            for want in wanted:
                hit = next((c for c in left if _matches(want, c)), None)
                if hit is not None:
                    left.remove(hit)
                    matched += 1
        ok = matched == len(wanted) and (not strict or len(got) == len(wanted))
        value = matched / len(wanted) if wanted else (1.0 if not got or not strict else 0.0)
        names = [c.get("name") for c in got]
        return Score("", ok, value, "" if ok else f"called {names}")

    return fn


def latency(spec: dict[str, Any]) -> ScoreFn:
    budget = float(spec.get("max_ms", 0) or 0)
    if budget <= 0:
        raise ScorerInvalid("a latency scorer needs 'max_ms' > 0")
    return lambda case, out: Score(
        "", out.latency_ms <= budget, out.latency_ms, f"{out.latency_ms:.0f} ms"
    )


def cost(spec: dict[str, Any]) -> ScoreFn:
    budget = spec.get("max_cost")
    if budget is None:
        raise ScorerInvalid("a cost scorer needs 'max_cost'")

    def fn(case: Case, out: Outcome) -> Score:
        spent = out.cost or 0.0
        return Score("", spent <= float(budget), spent, f"cost {spent:g}")

    return fn


def succeeded(spec: dict[str, Any]) -> ScoreFn:
    return lambda case, out: out.status == "succeeded"


def custom(spec: dict[str, Any]) -> ScoreFn:
    """``{"type": "custom", "function": "package.module:function"}``."""
    target = str(spec.get("function", ""))
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise ScorerInvalid("a custom scorer needs 'function': 'module:function'")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ScorerInvalid(f"cannot load {target}: {exc}") from None
    if not callable(fn):
        raise ScorerInvalid(f"{target} is not callable")
    return fn  # type: ignore[no-any-return]


BUILTIN: dict[str, Callable[[dict[str, Any]], ScoreFn]] = {
    "exact": exact,
    "contains": contains,
    "regex": regex,
    "numeric": numeric,
    "json_schema": json_schema,
    "trajectory": trajectory,
    "latency": latency,
    "cost": cost,
    "succeeded": succeeded,
    "custom": custom,
}


def make_scorer(spec: dict[str, Any] | str, *, judge_model: Any = None) -> Scorer:
    """A scorer from a spec (``"contains"`` or ``{"type": ..., "name": ..., ...}``)."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ScorerInvalid("a scorer spec is an object with a 'type'", hint=_KINDS)
    kind = spec["type"]
    name = str(spec.get("name") or kind)
    if kind == "judge":
        from roost.evals.judge import Judge

        rubric = spec.get("rubric")
        if not isinstance(rubric, str) or not rubric.strip():
            raise ScorerInvalid("a judge scorer needs a 'rubric'")
        model = spec.get("model_object") or judge_model
        if model is None:
            from roost.models.resolve import resolve_model

            model = resolve_model(spec.get("model"))
        threshold = float(spec.get("threshold", 0.5))
        return Scorer(name, Judge(model, rubric, threshold), threshold)
    factory = BUILTIN.get(kind)
    if factory is None:
        raise ScorerInvalid(f"unknown scorer {kind!r}", hint=_KINDS)
    return Scorer(name, factory(spec), float(spec.get("threshold", 1.0)))


_KINDS = "scorers: " + ", ".join([*BUILTIN, "judge"])


def default_scorers(cases: list[Case]) -> list[Scorer]:
    """What to check when nothing is said: the run succeeded; the expected output is
    contained; the expected tool calls were made."""
    scorers = [make_scorer("succeeded")]
    if any(c.expected or c.facts for c in cases):
        scorers.append(make_scorer("contains"))
    if any(c.tool_calls for c in cases):
        scorers.append(make_scorer("trajectory"))
    return scorers
