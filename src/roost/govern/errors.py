"""Typed errors of the governance layer: tenants, roles and quotas; secrets, data
protection and DLP routing (stable codes the server maps to HTTP)."""

from __future__ import annotations

from roost.core.errors import ConfigError, Forbidden, InvalidRequest, RateLimited, RoostError
from roost.store.errors import SecretNotFound as SecretNotFound


class QuotaExceeded(RateLimited):
    """A rate or spending quota is used up until it resets (runs per minute, tokens or
    cost per day or month); ``details`` say which, its limit, what was used and when it
    resets (``resets_at``, ``retry_after``)."""

    code = "quota_exceeded"


class QuotaLimitReached(Forbidden):
    """A quota on what one holds at once (open sessions, sandboxes) is reached; it frees
    up when something is deleted, not with time."""

    code = "quota_limit_reached"


class DecryptionFailed(RoostError):
    """A sealed value did not open: altered, moved, or the wrong master key."""

    code = "decryption_failed"
    status = 500


class MasterKeyUnavailable(ConfigError):
    """No master key is configured, or it does not hold the key a value was wrapped by."""

    code = "master_key_unavailable"
    status = 500


class InvalidSecretName(InvalidRequest):
    """Secret names are 1-200 characters from A-Z a-z 0-9 _ . / : -."""

    code = "invalid_secret_name"


class PromptBlocked(Forbidden):
    """The data protection policy forbids sending this prompt to any model at hand."""

    code = "prompt_blocked_by_policy"
