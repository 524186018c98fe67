"""Errors of the governance layer (secrets, data protection, DLP routing)."""

from __future__ import annotations

from roost.core.errors import ConfigError, Forbidden, InvalidRequest, RoostError
from roost.store.errors import SecretNotFound as SecretNotFound


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
