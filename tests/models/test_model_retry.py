"""Retry policy arithmetic and HTTP status → typed error mapping."""

from __future__ import annotations

import email.utils
import time

from roost.core import ModelRateLimited, ModelRequestRejected, ModelUnavailable
from roost.models import RetryPolicy
from roost.models.retry import error_for_status, is_retryable, parse_retry_after


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, jitter=0.5)
    for attempt, full in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        for _ in range(50):
            assert full * 0.5 <= policy.delay(attempt) <= full
    assert RetryPolicy(jitter=0.0).delay(1) == 1.0


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=30.0)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(0, retry_after=600.0) == 30.0


def test_retry_after_header_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    future = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 <= (parse_retry_after({"retry-after": future}) or 0) <= 21
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_status_mapping_and_provider_veto() -> None:
    limited = error_for_status(429, "slow", {"retry-after": "2"}, provider="p")
    assert isinstance(limited, ModelRateLimited) and limited.details["retry_after"] == 2.0
    assert is_retryable(limited)
    assert isinstance(error_for_status(503, "", {}, provider="p"), ModelUnavailable)
    assert isinstance(error_for_status(529, "", {}, provider="p"), ModelUnavailable)
    rejected = error_for_status(401, "bad key", {}, provider="p")
    assert isinstance(rejected, ModelRequestRejected) and not is_retryable(rejected)
    assert "API key" in (rejected.hint or "")
    vetoed = error_for_status(500, "", {"x-should-retry": "false"}, provider="p")
    assert not is_retryable(vetoed)
    forced = error_for_status(409, "", {"x-should-retry": "true"}, provider="p")
    assert is_retryable(forced)
