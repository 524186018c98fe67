"""What a run leaves in the audit trail: started, each model call (model, provider,
prompt and completion digests, usage, cost), each tool call (argument and result
digests; the sandbox when the tool ran in one), each knowledge retrieval (knowledge
base, document, version, chunk), finished. These are also an answer's lineage
(:mod:`roost.govern.audit.lineage`): digests, so they outlive the session's content.

The engine calls :class:`RunAuditor` with what it sees and commits the entries in the
same transaction as the run's own writes (``Store.create_run(also=...)``,
``Store.flush_run(also=...)``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from roost.core import jsontext
from roost.govern.audit.actor import Actor, current_actor
from roost.govern.audit.entry import AuditEntry, digest
from roost.govern.audit.log import AuditLog

ContentPolicy = Callable[[str | None], bool]
"""Whether a tenant's audit records also keep (redacted) content."""

_SANDBOX_TOOLS = ("run_python", "run_shell", "browser", "file", "computer")


def _provider(model: str | None) -> str | None:
    if not model:
        return None
    head, sep, _ = model.partition(":")
    return head if sep else None


class RunAuditor:
    """Turns what a run does into audit entries."""

    def __init__(self, log: AuditLog, *, content: ContentPolicy | None = None) -> None:
        self.log = log
        self.content = content or (lambda tenant: False)

    def body(self, entries: Sequence[AuditEntry]) -> Callable[[Any], object]:
        return self.log.body(entries)

    @staticmethod
    def actor() -> Actor | None:
        return current_actor.get()

    def _base(self, run: Any, actor: Actor | None) -> dict[str, Any]:
        return {
            "tenant_id": run.tenant_id,
            "user_id": run.user_id,
            "key_id": actor.key_id if actor else None,
            "client": actor.client if actor else None,
            "trace_id": actor.trace_id if actor else None,
            "run_id": run.id,
            "session_id": run.session_id,
        }

    def _content(self, run: Any, detail: dict[str, Any], key: str, value: Any) -> None:
        if self.content(run.tenant_id):
            from roost.observe.redaction import redact_value

            detail[key] = redact_value(value)

    def started(
        self, run: Any, agent: str, inputs: Sequence[Any], actor: Actor | None, background: bool
    ) -> AuditEntry:
        payload = [m.model_dump(mode="json", exclude_none=True) for m in inputs]
        detail: dict[str, Any] = {"agent": agent, "input_digest": digest(payload)}
        if background:
            detail["background"] = True
        self._content(run, detail, "input", payload)
        return AuditEntry(
            "run.started",
            resource_type="run",
            resource_id=run.id,
            message_id=inputs[-1].id if inputs else None,
            detail=detail,
            **self._base(run, actor),
        )

    def model_call(
        self,
        run: Any,
        actor: Actor | None,
        msg: Any,
        model: str | None,
        usage: Any,
        stop_reason: str | None,
        context: str,
    ) -> AuditEntry:
        completion = msg.model_dump(mode="json", exclude_none=True, exclude={"id", "created_at"})
        detail: dict[str, Any] = {
            "model": model,
            "provider": _provider(model),
            "prompt_digest": context,
            "completion_digest": digest(completion),
            "usage": usage.model_dump(exclude_none=True) if usage is not None else None,
            "stop_reason": stop_reason,
        }
        if usage is not None and usage.cost is not None:
            detail["cost"] = {"amount": usage.cost, "currency": usage.currency}
        self._content(run, detail, "completion", completion)
        return AuditEntry(
            "model.call",
            resource_type="model",
            resource_id=model,
            message_id=msg.id,
            detail=detail,
            **self._base(run, actor),
        )

    def tool_call(
        self,
        run: Any,
        actor: Actor | None,
        call_id: str,
        name: str,
        arguments: Any,
        result: Any,
        sandbox: str | None,
    ) -> AuditEntry:
        block = result.model_dump(mode="json", exclude_none=True)
        is_error = bool(block.get("is_error"))
        detail: dict[str, Any] = {
            "name": name,
            "call_id": call_id,
            "args_digest": digest(arguments if arguments is not None else {}),
            "result_digest": digest(block.get("content", block)),
        }
        if sandbox is not None or name in _SANDBOX_TOOLS:
            detail["sandbox"] = sandbox or True
        self._content(run, detail, "arguments", arguments)
        self._content(run, detail, "result", block.get("content"))
        return AuditEntry(
            "sandbox.call" if "sandbox" in detail else "tool.call",
            outcome="error" if is_error else "ok",
            resource_type="tool",
            resource_id=name,
            detail=detail,
            **self._base(run, actor),
        )

    def knowledge(
        self, run: Any, actor: Actor | None, query: str, citations: Sequence[Any]
    ) -> AuditEntry:
        chunks = [
            {
                "knowledge_base": c.get("kb_id"),
                "document": c.get("document_id"),
                "version": c.get("version"),
                "chunk": c.get("chunk_id"),
                "source": c.get("source"),
                "score": c.get("score"),
            }
            for c in citations
        ]
        bases = sorted({str(c["knowledge_base"]) for c in chunks if c["knowledge_base"]})
        detail: dict[str, Any] = {"query_digest": digest(query), "chunks": chunks}
        self._content(run, detail, "query", query)
        return AuditEntry(
            "knowledge.access",
            resource_type="knowledge_base",
            resource_id=",".join(bases) or None,
            detail=detail,
            **self._base(run, actor),
        )

    def finished(
        self,
        run: Any,
        actor: Actor | None,
        status: str,
        final: Any,
        usage: Any,
        model: str | None,
        error: tuple[str, str] | None,
    ) -> AuditEntry:
        detail: dict[str, Any] = {"status": status, "model": model}
        if usage is not None:
            detail["usage"] = usage.model_dump(exclude_none=True)
        if final is not None:
            payload = final.model_dump(mode="json", exclude_none=True, exclude={"created_at"})
            detail["output_digest"] = digest(payload)
        if error is not None:
            detail["error_code"] = error[0]
        return AuditEntry(
            "run.finished",
            outcome="ok" if status == "succeeded" else "failed",
            resource_type="run",
            resource_id=run.id,
            message_id=final.id if final is not None else None,
            detail=detail,
            **self._base(run, actor),
        )


class Context:
    """A running digest of what the run put before its model: the inputs, then every
    completion and tool result, so each model call's ``prompt_digest`` names the run's
    context at that call (the system prompt and earlier turns are the agent's, decision
    0200)."""

    def __init__(self, inputs: Sequence[Any]) -> None:
        self._h = hashlib.sha256()
        for m in inputs:
            self.add(m.model_dump(mode="json", exclude_none=True, exclude={"created_at"}))

    def add(self, value: Any) -> None:
        self._h.update(jsontext.encode(value).encode())
        self._h.update(b"\n")

    def digest(self) -> str:
        return "sha256:" + self._h.copy().hexdigest()
