"""Typed errors with stable string codes.

Every error Roost raises on purpose is a :class:`RoostError`; its ``code`` is part of
the public contract (HTTP bodies, stream events, CLI messages), its ``status`` is the
HTTP status the server maps it to, and ``hint`` says what to do next.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RoostError(Exception):
    """Base of all Roost errors; ``code`` is stable, ``message`` is for humans."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str = "", *, hint: str | None = None, **details: Any) -> None:
        self.message = message or self.__class__.__doc__ or self.code
        self.hint = hint
        self.details = details
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        if self.details:
            body["details"] = self.details
        return body

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


# --- configuration / input -------------------------------------------------------------
class ConfigError(RoostError):
    """The configuration is invalid."""

    code = "config_invalid"
    status = 400


class InvalidRequest(RoostError):
    """The request is malformed."""

    code = "invalid_request"
    status = 422


class NotFound(RoostError):
    """The requested resource does not exist."""

    code = "not_found"
    status = 404


class Conflict(RoostError):
    """The request conflicts with the current state."""

    code = "conflict"
    status = 409


class Unauthorized(RoostError):
    """Missing or invalid credentials."""

    code = "unauthorized"
    status = 401


class Forbidden(RoostError):
    """The credentials do not allow this action."""

    code = "forbidden"
    status = 403


class RateLimited(RoostError):
    """Too many requests."""

    code = "rate_limited"
    status = 429
    retryable = True


class PayloadTooLarge(RoostError):
    """The request body is larger than allowed."""

    code = "payload_too_large"
    status = 413


class SessionBusy(Conflict):
    """The session already has a run in progress."""

    code = "session_busy"


# --- models ----------------------------------------------------------------------------
class ModelError(RoostError):
    """The model provider failed."""

    code = "model_error"
    status = 502


class ModelRateLimited(ModelError):
    """The model provider answered 429 (rate limited)."""

    code = "model_rate_limited"
    retryable = True


class ModelUnavailable(ModelError):
    """The model provider is unreachable or answered 5xx."""

    code = "model_unavailable"
    status = 503
    retryable = True


class ModelTimeout(ModelError):
    """The model provider did not answer in time."""

    code = "model_timeout"
    status = 504
    retryable = True


class ModelBadResponse(ModelError):
    """The model provider sent a response Roost cannot parse (e.g. a malformed chunk)."""

    code = "model_bad_response"


class ModelRequestRejected(ModelError):
    """The model provider rejected the request (4xx other than 429)."""

    code = "model_request_rejected"
    status = 400


class ModelNotInstalled(ModelError):
    """The local model file is not installed."""

    code = "model_not_installed"
    status = 503


class ModelInstallError(RoostError):
    """Installing a local model failed."""

    code = "model_install_failed"


class ChecksumMismatch(ModelInstallError):
    """A downloaded or assembled file does not match its expected sha256."""

    code = "checksum_mismatch"


# --- tools -----------------------------------------------------------------------------
class ToolError(RoostError):
    """A tool failed."""

    code = "tool_failed"
    status = 500


class ToolNotFound(ToolError):
    """The model asked for a tool that is not registered."""

    code = "tool_not_found"
    status = 404


class ToolArgumentsInvalid(ToolError):
    """The arguments for a tool failed validation."""

    code = "tool_arguments_invalid"
    status = 422


class ToolTimeout(ToolError):
    """A tool exceeded its timeout."""

    code = "tool_timeout"
    status = 504


class ToolRejected(ToolError):
    """A tool call that required approval was rejected."""

    code = "tool_rejected"
    status = 403


class ApprovalNotFound(NotFound):
    """No pending approval with that call id."""

    code = "approval_not_found"


# --- agents ----------------------------------------------------------------------------
class AgentInterrupted(RoostError):
    """The reply was interrupted."""

    code = "interrupted"
    status = 499


class MaxIterationsReached(RoostError):
    """The agent hit max_iters without a final answer."""

    code = "max_iterations"
    status = 500


class StructuredOutputError(RoostError):
    """The model's answer did not validate against the requested output model."""

    code = "structured_output_invalid"
    status = 502


class StateVersionError(RoostError):
    """A saved state dict has a version this Roost cannot load."""

    code = "state_version_unsupported"
    status = 400


# --- sandbox ---------------------------------------------------------------------------
class SandboxError(RoostError):
    """The sandbox failed."""

    code = "sandbox_error"


class SandboxTimeout(SandboxError):
    """A sandbox call exceeded its timeout."""

    code = "sandbox_timeout"
    status = 504


class SandboxUnavailable(SandboxError):
    """The sandbox backend cannot run on this host."""

    code = "sandbox_unavailable"
    status = 503


def error_from_dict(body: dict[str, Any]) -> RoostError:
    """Rebuild a typed error from ``{"code", "message"}`` (used by clients)."""
    code = body.get("code", "internal_error")
    cls = {c.code: c for c in _all_subclasses(RoostError)}.get(code, RoostError)
    err = cls(str(body.get("message", code)), hint=body.get("hint"))
    if cls is RoostError:
        err.code = code  # type: ignore[misc]
    return err


def _all_subclasses(cls: type[RoostError]) -> list[type[RoostError]]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out
