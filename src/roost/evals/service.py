"""``enable_evals(app)``: evaluation, replay and gray release on an ``AgentApp``.

The server sits below evals in the layer order, so this plugs in from the outside, as
``roost.observe.instrument_app`` does: it adds the ``/v1/evals`` and ``/v1/releases``
routes to ``app.extra_routes``, sets the release router on the app's agents at start-up,
and runs the canary guard as a background task. ``roost serve`` calls it for every app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roost.core import ConfigError
from roost.evals.cases import Case
from roost.evals.compare import Comparison, GateCheck, compare, evaluate_gate
from roost.evals.experiment import ExperimentConfig, ExperimentRunner, Progress
from roost.evals.records import EvalRecords, ExperimentRecord
from roost.evals.release import ReleaseRouter
from roost.evals.rollout import Releases, guard_loop
from roost.evals.scorers import ScoreFn, Scorer, default_scorers, make_scorer

if TYPE_CHECKING:
    from roost.server import AgentApp
    from roost.server.services import Services

log = logging.getLogger("roost.evals")


@dataclass
class ExperimentOutcome:
    experiment: ExperimentRecord
    summary: dict[str, Any]
    comparison: Comparison | None = None
    gate: list[GateCheck] | None = None

    @property
    def gate_passed(self) -> bool:
        return all(check.passed for check in self.gate or [])


@dataclass
class Evals:
    """What ``enable_evals`` attached (``app.evals``): the runner, the release operations,
    the scorers the app registered for API callers."""

    app: Any
    guard_interval: float = 5.0
    release_ttl: float = 2.0
    scorers: dict[str, ScoreFn] = field(default_factory=dict)
    router: ReleaseRouter | None = None
    releases: Releases | None = None
    running: dict[str, asyncio.Task[Any]] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        services: Services = self.app.services
        return services

    @property
    def records(self) -> EvalRecords:
        return EvalRecords(self.services.store)

    def scorer(self, name: str) -> Callable[[ScoreFn], ScoreFn]:
        """Register a custom scorer API callers may name: ``{"type": "custom", "name": …}``."""

        def register(fn: ScoreFn) -> ScoreFn:
            self.scorers[name] = fn
            return fn

        return register

    def build_scorers(
        self, specs: list[Any] | None, cases: list[Case], *, trusted: bool
    ) -> list[Scorer]:
        """Scorers from specs. Untrusted callers (the API without an admin key) may name
        the app's registered custom scorers but not import code or pick a judge model."""
        if not specs:
            return default_scorers(cases)
        out = []
        for spec in specs:
            if isinstance(spec, dict) and spec.get("type") == "custom" and "function" not in spec:
                name = str(spec.get("name", ""))
                if name not in self.scorers:
                    from roost.evals.errors import ScorerInvalid

                    raise ScorerInvalid(
                        f"no registered scorer {name!r}",
                        hint="known: " + (", ".join(self.scorers) or "none (app.evals.scorer)"),
                    )
                out.append(Scorer(name, self.scorers[name], float(spec.get("threshold", 1.0))))
                continue
            if (
                not trusted
                and isinstance(spec, dict)
                and (
                    spec.get("type") == "custom"
                    or (spec.get("type") == "judge" and spec.get("model"))
                )
            ):
                from roost.core import Forbidden

                raise Forbidden(
                    "importing scorer code or choosing a judge model needs an admin key",
                    hint="register the scorer in the app (app.evals.scorer) and name it",
                )
            out.append(make_scorer(spec))
        return out

    async def start(self) -> None:
        services = self.services
        self.router = ReleaseRouter(services.store, services.agents, ttl=self.release_ttl)
        services.agents.router = self.router
        observability = getattr(self.app, "observability", None)
        notifiers = list(getattr(observability, "notifiers", []) or [])
        self.releases = Releases(
            services.store, services.agents, router=self.router, notifiers=notifiers
        )
        if self.guard_interval > 0:
            services.spawn(guard_loop(self.releases, self.guard_interval))

    async def run_experiment(
        self,
        dataset_id: str,
        config: ExperimentConfig,
        scorers: list[Scorer],
        *,
        gate: str | None = None,
        user_id: str | None = None,
        tenant_id: str | None = None,
        progress: Progress | None = None,
        experiment: ExperimentRecord | None = None,
    ) -> ExperimentOutcome:
        """Run, then compare with the baseline and check the gate (both stored in the
        experiment's summary)."""
        runner = ExperimentRunner(self.services)
        records = self.records
        if experiment is None:
            experiment = await runner.start(
                dataset_id, config, user_id=user_id, tenant_id=tenant_id
            )
        cases = await records.cases(dataset_id)
        summary = await runner.run(experiment, cases, scorers, progress=progress)
        comparison = None
        if config.baseline:
            base = await records.get_experiment(config.baseline)
            comparison = compare(
                base.id,
                await records.results(base.id),
                experiment.id,
                await records.results(experiment.id),
            )
            summary["comparison"] = {
                k: v for k, v in comparison.as_dict().items() if k not in ("improved", "regressed")
            }
        checks = evaluate_gate(gate, summary, comparison) if gate else None
        if checks is not None:
            summary["gate"] = {
                "passed": all(c.passed for c in checks),
                "checks": [c.as_dict() for c in checks],
            }
        if comparison is not None or checks is not None:
            await records.finish_experiment(experiment.id, "succeeded", summary)
        experiment = await records.get_experiment(experiment.id)
        return ExperimentOutcome(experiment, summary, comparison, checks)


def enable_evals(
    app: AgentApp,
    *,
    guard_interval: float = 5.0,
    release_ttl: float = 2.0,
) -> Evals:
    """Add evaluation, replay and gray release to ``app`` (idempotent); returns ``app.evals``.

    ``guard_interval``: seconds between canary guard checks (0 turns the guard off);
    ``release_ttl``: how long a replica caches release policies.
    """
    existing = getattr(app, "evals", None)
    if isinstance(existing, Evals):
        return existing
    if getattr(app, "_services", None) is not None:
        raise ConfigError("enable_evals() must be called before the app starts")
    from roost.evals.api import routes as eval_routes
    from roost.evals.release_api import routes as release_routes

    evals = Evals(app, guard_interval=guard_interval, release_ttl=release_ttl)
    app.evals = evals  # type: ignore[attr-defined]
    app.extra_routes.extend(eval_routes(evals))
    app.extra_routes.extend(release_routes(evals))
    app.on_startup(evals.start)
    return evals
