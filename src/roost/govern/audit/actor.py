"""Who acts in the current request: the key, the address, the trace. Set once by the
server's middleware after authentication, read by whatever records an audit entry in
that request (and by the tasks it starts, which inherit the context)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    key_id: str | None = None
    user_id: str | None = None
    tenant_id: str | None = None
    client: str | None = None
    trace_id: str | None = None
    role: str | None = None


current_actor: ContextVar[Actor | None] = ContextVar("roost_audit_actor", default=None)


def trace_id_from(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` header, if well formed."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    if len(parts) >= 4 and len(parts[1]) == 32 and all(c in "0123456789abcdef" for c in parts[1]):
        return parts[1]
    return None
