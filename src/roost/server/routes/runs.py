"""``/v1/sessions/{id}/runs`` and ``/v1/runs/{id}``: start, stream, join, cancel, approve."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import InvalidRequest, Msg, error_from_dict
from roost.core.digits import MAX_INT64, digits_pattern, parse_digits
from roost.server._http import field_errors, json_response, parse_body
from roost.server.auth import Principal
from roost.server.openapi import NON_BLANK, SEQ, SSE_EVENTS, header, query
from roost.server.router import Doc, api_route
from roost.server.routes._common import load_run, load_session, run_out
from roost.server.schemas import ApprovalDecision, MessageIn, RunCreate, RunOut
from roost.server.sse import KEEPALIVE, EventStreamResponse, LastFrames, sse_frame

if TYPE_CHECKING:
    from roost.server.services import Services

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
TERMINAL_TYPES = frozenset({"run.completed", "run.failed", "run.canceled"})


def input_messages(raw: str | dict[str, Any] | list[dict[str, Any]]) -> list[Msg]:
    """``input`` as messages: text → one user message; objects are :class:`MessageIn`
    (``role`` defaults to user), so a list item and a lone object are checked alike."""
    if isinstance(raw, str):
        if not raw.strip():
            raise InvalidRequest(
                "input is empty",
                fields=[{"field": "input", "message": "must not be empty", "type": "empty"}],
            )
        return [Msg.user(raw)]
    items = [raw] if isinstance(raw, dict) else raw
    if not items:
        raise InvalidRequest(
            "input is an empty list",
            fields=[{"field": "input", "message": "must not be empty", "type": "empty"}],
        )
    msgs = []
    for i, item in enumerate(items):
        prefix = f"input.{i}" if isinstance(raw, list) else "input"
        try:
            msgs.append(MessageIn.model_validate(item, strict=True).to_msg())
        except ValidationError as exc:
            fields = [
                {**f, "field": prefix if f["field"] == "body" else f"{prefix}.{f['field']}"}
                for f in field_errors(exc)
            ]
            raise InvalidRequest(
                f"invalid message in input: {fields[0]['field']}: {fields[0]['message']}",
                fields=fields,
            ) from None
    return msgs


def sse_response(
    services: Services, run_id: str, after_seq: int, headers: dict[str, str]
) -> Response:
    async def body() -> AsyncIterator[bytes]:
        async with contextlib.aclosing(services.executor.follow(run_id, after_seq)) as batches:
            async for batch in batches:
                if not batch:
                    yield KEEPALIVE
                    continue
                frames = b"".join([sse_frame(seq, type_, text) for seq, type_, text in batch])
                if batch[-1][1] in TERMINAL_TYPES:
                    # nothing follows a terminal event, not even a keepalive
                    yield LastFrames(frames)
                    return
                yield frames

    return EventStreamResponse(body(), {**SSE_HEADERS, **headers})


def last_event_id(request: Request) -> int:
    """The resume point: ``Last-Event-ID`` (what an EventSource sends when it reconnects
    to the URL it was given, ``?after=`` included) else ``?after=``; both are checked."""
    point = 0
    for field, raw in (
        ("after", request.query_params.get("after")),
        ("Last-Event-ID", request.headers.get("last-event-id")),
    ):
        if raw is None:
            continue
        value = parse_digits(raw)
        if value is None:
            raise InvalidRequest(
                f"{field} must be the integer id of an event you received (0 to {MAX_INT64})",
                fields=[
                    {"field": field, "message": f"integer 0..{MAX_INT64}", "type": "int_range"}
                ],
            )
        point = value
    return point


async def start_run(
    services: Services, request: Request, principal: Principal, session_id: str
) -> Response:
    session = await load_session(services, principal, session_id)
    body = await parse_body(request, RunCreate)
    inputs = input_messages(body.input)
    handle = await services.executor.start(
        session, inputs, metadata=body.metadata, background=body.background
    )
    headers = {"x-run-id": handle.id, "x-session-id": session.id}
    if body.background:
        run = await services.store.get_run(handle.id)
        return json_response(run_out(run), status=202, headers=headers)
    if body.stream:
        return sse_response(services, handle.id, 0, headers)
    await handle.done.wait()
    run = await services.store.get_run(handle.id)
    if run.status == "failed":
        err = error_from_dict(
            {
                "code": run.error_code or "internal_error",
                "message": run.error_message or "the run failed",
            }
        )
        err.details["run_id"] = run.id
        raise err
    return json_response(run_out(run, handle.final), headers=headers)


async def _stored_output(services: Services, run_id: str) -> Msg | None:
    """The final message, from the run's terminal event (the last one stored)."""
    last = await services.store.last_event_seq(run_id)
    events = await services.store.list_events(run_id, after_seq=last - 1) if last > 0 else []
    if events and "output" in events[-1].payload:
        return Msg.model_validate(events[-1].payload["output"])
    return None


def routes(services: Services) -> list[BaseRoute]:
    async def create_run(request: Request, principal: Principal) -> Response:
        return await start_run(services, request, principal, request.path_params["session_id"])

    async def create_run_by_header(request: Request, principal: Principal) -> Response:
        session_id = request.headers.get("x-session-id")
        if not session_id:
            raise InvalidRequest(
                "missing X-Session-ID header",
                hint="use POST /v1/sessions/{id}/runs or send X-Session-ID",
                fields=[{"field": "X-Session-ID", "message": "required", "type": "missing"}],
            )
        return await start_run(services, request, principal, session_id)

    async def get_run(request: Request, principal: Principal) -> Response:
        run = await load_run(services, principal, request.path_params["run_id"])
        handle = services.executor.active.get(run.id)
        output = handle.final if handle is not None else None
        if output is None and run.status in ("succeeded", "canceled"):
            output = await _stored_output(services, run.id)
        if not principal.allows("content.read"):  # operators: the run, not what was said
            output = None
        return json_response(run_out(run, output))

    async def run_events(request: Request, principal: Principal) -> Response:
        run = await load_run(services, principal, request.path_params["run_id"])
        after = last_event_id(request)
        return sse_response(
            services, run.id, after, {"x-run-id": run.id, "x-session-id": run.session_id or ""}
        )

    async def cancel_run(request: Request, principal: Principal) -> Response:
        run = await load_run(services, principal, request.path_params["run_id"])
        state = await services.executor.cancel(run.id, reason="canceled")
        return json_response({"id": run.id, "status": state}, status=202)

    async def decide(request: Request, principal: Principal) -> Response:
        run = await load_run(services, principal, request.path_params["run_id"])
        body = await parse_body(request, ApprovalDecision)
        call_id = request.path_params["call_id"]
        await services.executor.decide(run.id, call_id, body.approve, body.reason)
        return json_response(
            {"run_id": run.id, "call_id": call_id, "approved": body.approve}, status=202
        )

    def start_doc(summary: str, *params: dict[str, Any]) -> Doc:
        return Doc(
            summary,
            body=RunCreate,
            response="sse",
            codes={"202": RunOut},
            params=params,
            errors={
                "404": "session_not_found (or not yours), agent_not_found",
                "409": "session_busy (busy_policy reject)",
            },
            permission="runs.write",
            quota="run",
        )

    session_header = header("X-Session-ID", "the session to run in", NON_BLANK, required=True)
    resume = (
        query("after", "events after this id (both given: they must agree)", SEQ),
        header(
            "Last-Event-ID",
            "the id of the last event received (wins over ?after=)",
            {"type": "string", "pattern": digits_pattern()},
        ),
    )
    accepted = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "status": {"type": "string"}},
    }
    return [
        api_route(
            "/v1/sessions/{session_id}/runs",
            create_run,
            ["POST"],
            start_doc("Start a run: SSE, the run when it ends (stream=false), 202 (background)"),
        ),
        api_route(
            "/v1/runs",
            create_run_by_header,
            ["POST"],
            start_doc("Start a run in the session named by X-Session-ID", session_header),
        ),
        api_route(
            "/v1/runs/{run_id}",
            get_run,
            ["GET"],
            Doc("Get a run", response=RunOut, permission="runs.read"),
        ),
        api_route(
            "/v1/runs/{run_id}/events",
            run_events,
            ["GET"],
            Doc(
                "Join or resume a run's stream",
                response=SSE_EVENTS,
                params=resume,
                permission="content.read",
            ),
        ),
        api_route(
            "/v1/runs/{run_id}/cancel",
            cancel_run,
            ["POST"],
            Doc(
                "Interrupt a run",
                status=202,
                response=accepted,
                errors={"409": "run_not_active (it already finished)"},
                permission="runs.write",
            ),
        ),
        api_route(
            "/v1/runs/{run_id}/approvals/{call_id}",
            decide,
            ["POST"],
            Doc(
                "Approve or reject a paused tool call",
                body=ApprovalDecision,
                status=202,
                response={"type": "object"},
                errors={"409": "run_not_active"},
                permission="runs.write",
            ),
        ),
    ]
