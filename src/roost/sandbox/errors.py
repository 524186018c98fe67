"""Sandbox-layer errors; every one has a stable ``code`` (the core defines
``SandboxError``, ``SandboxTimeout`` and ``SandboxUnavailable``)."""

from __future__ import annotations

from roost.core import SandboxError, SandboxTimeout, SandboxUnavailable


class SandboxPathInvalid(SandboxError):
    """The path is absolute, contains '..', or resolves outside the sandbox workdir."""

    code = "sandbox_path_invalid"
    status = 400


class SandboxFileNotFound(SandboxError):
    """No such file or directory in the sandbox workdir."""

    code = "sandbox_file_not_found"
    status = 404


class SandboxFileTooLarge(SandboxError):
    """The file is larger than the sandbox's ``max_file_mb`` limit."""

    code = "sandbox_file_too_large"
    status = 413


class SandboxQuotaExceeded(SandboxError):
    """The sandbox workdir is full (``disk_mb`` limit)."""

    code = "sandbox_quota_exceeded"
    status = 507


class SandboxClosed(SandboxError):
    """The sandbox was closed (released, reaped or killed); acquire a new one."""

    code = "sandbox_closed"
    status = 409


class SandboxDead(SandboxError):
    """The sandbox died and could not be restarted."""

    code = "sandbox_dead"
    status = 503
    retryable = True


class SandboxBackendUnknown(SandboxError):
    """No sandbox backend is registered under that name."""

    code = "sandbox_backend_unknown"
    status = 400


class SandboxPoolExhausted(SandboxError):
    """The sandbox manager is at its ``max_sandboxes`` limit."""

    code = "sandbox_pool_exhausted"
    status = 503
    retryable = True


class SandboxProtocolError(SandboxError):
    """The in-sandbox kernel sent a malformed or oversized frame."""

    code = "sandbox_protocol_error"
    status = 502


__all__ = [
    "SandboxBackendUnknown",
    "SandboxClosed",
    "SandboxDead",
    "SandboxError",
    "SandboxFileNotFound",
    "SandboxFileTooLarge",
    "SandboxPathInvalid",
    "SandboxPoolExhausted",
    "SandboxProtocolError",
    "SandboxQuotaExceeded",
    "SandboxTimeout",
    "SandboxUnavailable",
]
