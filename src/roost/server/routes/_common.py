"""Helpers shared by the route modules: access-checked loads and record → body conversion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from roost.core import NotFound
from roost.core.jsontext import dumps
from roost.server.auth import Principal
from roost.server.schemas import RunError, RunOut, SessionOut
from roost.store import RunNotFound, SessionNotFound

if TYPE_CHECKING:
    from datetime import datetime

    from roost.core import Msg
    from roost.server.services import Services
    from roost.store import RunRecord, SessionRecord


PAGE_BYTES = 1_000_000
"""A listing page stops at about this many bytes of JSON, whatever its ``limit``: a page
of large messages (or sessions with large metadata) continues on the next one."""
_REFILLS = 8
"""Store pages read at most for one page of a listing (a shorter page still has its
``next_cursor``)."""


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


async def load_session(services: Services, principal: Principal, session_id: str) -> SessionRecord:
    """The session if it exists and the caller may see it; otherwise 404 (never 403,
    so ids of other users' sessions are not confirmed)."""
    try:
        session = await services.sessions.get(session_id)
    except NotFound:
        session = None
    if session is None or not principal.can_access(session.user_id, session.tenant_id):
        raise SessionNotFound(
            f"no session {session_id!r}", hint="create one with POST /v1/sessions"
        )
    return session


async def owned_sessions(
    services: Services, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[SessionRecord], str | None]:
    """A page of the sessions ``principal`` may see, and the cursor after it.

    The store filters by (tenant, user); each item is checked again with
    :meth:`Principal.can_access` (the store reads a ``None`` tenant as "any"), and the
    page is refilled, a bounded number of times, when items were dropped."""
    user_id, tenant_id = principal.listing_filter()
    items: list[SessionRecord] = []
    for _ in range(_REFILLS):
        page = await services.store.list_sessions(
            user_id=user_id, tenant_id=tenant_id, limit=limit - len(items), cursor=cursor
        )
        items += [s for s in page.items if principal.can_access(s.user_id, s.tenant_id)]
        cursor = page.next_cursor
        if cursor is None or len(items) >= limit:
            break
    return items, cursor


async def load_run(services: Services, principal: Principal, run_id: str) -> RunRecord:
    try:
        run = await services.store.get_run(run_id)
    except NotFound:
        run = None
    if run is None or not principal.can_access(run.user_id, run.tenant_id):
        raise RunNotFound(f"no run {run_id!r}")
    return run


def fitting(encoded: list[str]) -> int:
    """How many of the leading items fit in :data:`PAGE_BYTES` (at least one)."""
    total = 0
    for i, item in enumerate(encoded):
        total += len(item) + 1
        if total > PAGE_BYTES and i > 0:
            return i
    return len(encoded)


def page_body(encoded: list[str], **fields: Any) -> str:
    """``{"data": [items…], **fields}`` from the items' JSON, encoded once."""
    tail = "".join(f",{dumps(k)}:{dumps(v)}" for k, v in fields.items())
    return '{"data":[' + ",".join(encoded) + "]" + tail + "}"


def session_out(session: SessionRecord) -> SessionOut:
    return SessionOut(
        id=session.id,
        agent=session.agent,
        user_id=session.user_id,
        tenant_id=session.tenant_id,
        metadata=dict(session.metadata or {}),
        created_at=_ts(session.created_at),
        updated_at=_ts(session.updated_at),
    )


def run_out(run: RunRecord, output: Msg | None = None) -> RunOut:
    from roost.core import Usage

    usage = None
    if run.input_tokens or run.output_tokens or run.cost is not None:
        usage = Usage(
            input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
            cost=run.cost,
            currency=run.currency,
        )
    error = None
    if run.error_code:
        error = RunError(code=run.error_code, message=run.error_message or run.error_code)
    return RunOut(
        id=run.id,
        session_id=run.session_id,
        agent=run.agent,
        status=run.status,
        error=error,
        usage=usage,
        model=run.model,
        output=output,
        created_at=_ts(run.created_at),
        finished_at=_ts(run.finished_at),
    )
