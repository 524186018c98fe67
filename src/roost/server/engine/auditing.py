"""The run engine's side of the audit trail: which events become audit entries. The
entries wait on the run's handle and commit with the run's next write (recorder)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roost.core import KnowledgeRetrieved, ModelResponse, ToolCallFinished, ToolResultEvent
from roost.govern.audit.runs import Context

if TYPE_CHECKING:
    from roost.core import Event
    from roost.govern.audit.runs import RunAuditor
    from roost.server.engine.handle import RunHandle


@dataclass
class RunAuditState:
    context: Context
    arguments: dict[str, Any] = field(default_factory=dict)


def state(h: RunHandle) -> RunAuditState:
    if h.audit_state is None:
        h.audit_state = RunAuditState(Context(h.inputs))
    return h.audit_state  # type: ignore[no-any-return]


def note_event(auditor: RunAuditor, h: RunHandle, event: Event) -> None:
    """Queue the audit entry of ``event`` on the run, if it makes one."""
    if isinstance(event, ModelResponse):
        st = state(h)
        h.audit.append(
            auditor.model_call(
                h.info,
                h.actor,
                event.msg,
                event.model or h.model,
                event.usage,
                event.stop_reason,
                event.prompt_digest or st.context.digest(),
            )
        )
        st.context.add(event.msg.model_dump(mode="json", exclude_none=True, exclude={"created_at"}))
    elif isinstance(event, ToolCallFinished):
        state(h).arguments[event.call_id] = event.input
    elif isinstance(event, ToolResultEvent):
        st = state(h)
        h.audit.append(
            auditor.tool_call(
                h.info,
                h.actor,
                event.call_id,
                event.name,
                st.arguments.pop(event.call_id, None),
                event.result,
                None,
            )
        )
        st.context.add(event.result.model_dump(mode="json", exclude_none=True))
    elif isinstance(event, KnowledgeRetrieved):
        h.audit.append(auditor.knowledge(h.info, h.actor, event.query, event.citations))
