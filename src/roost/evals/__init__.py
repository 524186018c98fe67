"""Evaluation, replay and gray release: change an agent without fear (issue 23).

Datasets of cases (files, the API, real traffic), scorers, experiments run through the
app's run engine with their traces, comparisons and CI gates, deterministic replay of a
stored run, and release policies that split traffic between versions of an agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost._lazy import lazy_names

if TYPE_CHECKING:
    from roost.evals.cases import Case, ExpectedCall, load_cases, parse_cases
    from roost.evals.experiment import ExperimentConfig, ExperimentRunner
    from roost.evals.records import EvalRecords, ReleaseRecords
    from roost.evals.scorers import Outcome, Score, Scorer, make_scorer
    from roost.evals.service import Evals, enable_evals

__all__ = [
    "Case",
    "EvalRecords",
    "Evals",
    "ExpectedCall",
    "ExperimentConfig",
    "ExperimentRunner",
    "Outcome",
    "ReleaseRecords",
    "Score",
    "Scorer",
    "enable_evals",
    "load_cases",
    "make_scorer",
    "parse_cases",
]

__getattr__ = lazy_names(
    __name__,
    {
        "Case": "roost.evals.cases",
        "ExpectedCall": "roost.evals.cases",
        "load_cases": "roost.evals.cases",
        "parse_cases": "roost.evals.cases",
        "ExperimentConfig": "roost.evals.experiment",
        "ExperimentRunner": "roost.evals.experiment",
        "EvalRecords": "roost.evals.records",
        "ReleaseRecords": "roost.evals.records",
        "Outcome": "roost.evals.scorers",
        "Score": "roost.evals.scorers",
        "Scorer": "roost.evals.scorers",
        "make_scorer": "roost.evals.scorers",
        "Evals": "roost.evals.service",
        "enable_evals": "roost.evals.service",
    },
)
