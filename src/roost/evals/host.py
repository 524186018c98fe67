"""What the eval and release routes need of ``app.evals`` (:class:`roost.evals.service.Evals`
satisfies it): a protocol, so the route modules do not import the service that adds them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from roost.evals.cases import Case
    from roost.evals.experiment import ExperimentConfig
    from roost.evals.records import EvalRecords, ExperimentRecord
    from roost.evals.rollout import Releases
    from roost.evals.scorers import Scorer
    from roost.server.services import Services


class EvalHost(Protocol):
    releases: Releases | None
    running: dict[str, asyncio.Task[Any]]

    @property
    def services(self) -> Services: ...

    @property
    def records(self) -> EvalRecords: ...

    def build_scorers(
        self, specs: list[Any] | None, cases: list[Case], *, trusted: bool
    ) -> list[Scorer]: ...

    async def run_experiment(
        self,
        dataset_id: str,
        config: ExperimentConfig,
        scorers: list[Scorer],
        *,
        gate: str | None = None,
        experiment: ExperimentRecord | None = None,
    ) -> Any: ...
