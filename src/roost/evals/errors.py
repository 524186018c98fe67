"""Typed errors of evaluation and gray release (stable codes, HTTP statuses, hints)."""

from __future__ import annotations

from roost.core import Conflict, InvalidRequest, NotFound, RoostError


class DatasetInvalid(InvalidRequest):
    """A dataset file or case that cannot be read: says which line and what to fix."""

    code = "eval_dataset_invalid"


class DatasetNotFound(NotFound):
    code = "eval_dataset_not_found"


class ExperimentNotFound(NotFound):
    code = "eval_experiment_not_found"


class ScorerInvalid(InvalidRequest):
    """A scorer spec that names an unknown kind or misses its parameters."""

    code = "eval_scorer_invalid"


class ScorerFailed(RoostError):
    """A scorer could not score (a judge that answered garbage): counted apart from fails."""

    code = "eval_scorer_error"
    status = 502


class GateInvalid(InvalidRequest):
    code = "eval_gate_invalid"


class ReleasePolicyInvalid(InvalidRequest):
    """Weights that do not add up to 100, an unknown version, a malformed rule."""

    code = "release_policy_invalid"


class ReleaseNotFound(NotFound):
    code = "release_not_found"


class ReplayImpossible(Conflict):
    """The run cannot be replayed (still running, or its events are gone)."""

    code = "replay_impossible"
