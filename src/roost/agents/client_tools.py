"""Client-side tools and client-given output schemas for one run (pass-through mode).

A protocol client (OpenAI's ``tools``, the Responses API's function tools) may hand the
agent tools that the *client* executes. They join the agent's toolkit for one run with
``source="client"``; when the model calls one, the agent ends its reply with the calls
open (``metadata["client_tool_calls"]``) instead of executing them, and the client sends
the results as the next input. Nothing waits for the client (decision 0230): a call the
client never answers is closed with a ``client_tool_unanswered`` error result as soon as
the conversation moves on without it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, RootModel, model_validator

from roost.core import InvalidRequest, Msg, TextBlock, ToolResultBlock, ToolSpec, ToolUseBlock
from roost.tools import Toolkit
from roost.tools.tool import Tool

CLIENT_SOURCE = "client"
PENDING_KEY = "client_tool_calls"


class ClientToolConflict(InvalidRequest):
    """A client tool has the name of one of the agent's own tools."""

    code = "tool_name_conflict"
    status = 400


class PassThroughUnsupported(InvalidRequest):
    """The agent has no toolkit or output model the run options could reach."""

    code = "pass_through_unsupported"
    status = 400


async def _never_run(**_: Any) -> str:  # pragma: no cover - client tools end the reply first
    raise RuntimeError("a client tool is executed by the client")


def client_calls(toolkit: Toolkit, calls: Sequence[ToolUseBlock]) -> list[ToolUseBlock]:
    """The calls among ``calls`` that the client executes."""
    out = []
    for call in calls:
        if call.name in toolkit and toolkit.get(call.name).source == CLIENT_SOURCE:
            out.append(call)
    return out


def handed_off(assistant: Msg, pending: list[ToolUseBlock]) -> Msg:
    """The reply's final message when it stops for the client to run ``pending``."""
    assistant.metadata[PENDING_KEY] = [c.id for c in pending]
    return assistant


class _SchemaOutput(RootModel[Any]):
    """Structured output checked against a client's JSON schema (not a pydantic model)."""

    json_schema: ClassVar[dict[str, Any]] = {"type": "object"}

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return cls.json_schema

    @model_validator(mode="after")
    def _check(self) -> _SchemaOutput:
        import jsonschema  # type: ignore[import-untyped]

        try:
            jsonschema.validate(self.root, self.json_schema)
        except jsonschema.ValidationError as exc:
            raise ValueError(f"does not match the schema: {exc.message}") from None
        except jsonschema.SchemaError as exc:  # the client's schema itself is broken
            raise ValueError(f"the response_format schema is invalid: {exc.message}") from None
        return self


def schema_output_model(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A pydantic model whose schema is ``schema`` and whose validation is JSON Schema's,
    so an agent's structured output (``output_model``) serves a client's schema as is."""
    import jsonschema  # type: ignore[import-untyped]

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidRequest(
            f"response_format schema is not a valid JSON schema: {exc.message}",
            hint="send a JSON Schema (draft 2020-12) in response_format.json_schema.schema",
        ) from None
    safe = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name) or "output"
    return type(safe, (_SchemaOutput,), {"json_schema": schema})


def prepare_run(agent: Any, options: dict[str, Any], inputs: list[Msg]) -> None:
    """Apply a protocol client's per-run options to a freshly built agent.

    ``options``: ``tools`` (ToolSpec dicts the client runs), ``tool_choice`` (``required``
    or a client tool's name) and ``output_schema`` (``{"name", "schema"}``). Agents without a ``toolkit`` / ``output_model`` (generators,
    adapted frameworks) refuse them with 400 rather than ignore them.
    """
    tools = options.get("tools") or []
    schema = options.get("output_schema")
    toolkit = getattr(agent, "toolkit", None)
    if toolkit is None and hasattr(agent, "ctx"):
        return  # an agent reading its AgentContext (a generator) sees them in ctx.metadata
    if tools and not isinstance(toolkit, Toolkit):
        raise PassThroughUnsupported(
            f"agent {agent.name!r} cannot call client-side tools",
            hint="remove 'tools', or serve a ReActAgent",
        )
    if schema is not None and not hasattr(agent, "output_model"):
        raise PassThroughUnsupported(
            f"agent {agent.name!r} has no structured output",
            hint="remove 'response_format', or serve a ReActAgent",
        )
    if isinstance(toolkit, Toolkit):
        _close_unanswered(agent, inputs)
        for raw in tools:
            spec = ToolSpec.model_validate(raw)
            if spec.name in toolkit:
                raise ClientToolConflict(
                    f"client tool {spec.name!r} has the name of one of the agent's own tools",
                    hint=f"rename it; the agent's tools are: {', '.join(toolkit.names)}",
                )
            toolkit.add(
                Tool(
                    name=spec.name,
                    func=_never_run,
                    description=spec.description,
                    parameters=spec.parameters,
                    source=CLIENT_SOURCE,
                )
            )
    if options.get("tool_choice") and hasattr(agent, "tool_choice"):
        agent.tool_choice = options["tool_choice"]  # "required" or a client tool's name
    if schema is not None:
        agent.output_model = schema_output_model(
            str(schema.get("name") or "output"), dict(schema.get("schema") or {"type": "object"})
        )


def _close_unanswered(agent: Any, inputs: list[Msg]) -> None:
    """Close the calls the client left open in the agent's memory when ``inputs`` does not
    answer them: providers refuse a history with a tool call but no result."""
    memory = getattr(agent, "memory", None)
    if memory is None:
        return
    history: list[Msg] = memory.get()
    last = next((m for m in reversed(history) if m.role == "assistant"), None)
    if last is None or PENDING_KEY not in last.metadata:
        return
    answered = {r.tool_use_id for m in history for r in m.tool_results}
    answered |= {r.tool_use_id for m in inputs for r in m.tool_results}
    by_id = {c.id: c for c in last.tool_uses}
    missing = [by_id[i] for i in last.metadata[PENDING_KEY] if i in by_id and i not in answered]
    if not missing:
        return
    memory.add(
        Msg(
            role="tool",
            name=agent.name,
            content=[
                ToolResultBlock(
                    tool_use_id=c.id,
                    name=c.name,
                    content=[TextBlock(text="The client did not return a result for this call.")],
                    is_error=True,
                    code="client_tool_unanswered",
                )
                for c in missing
            ],
        )
    )


def tool_arguments(call: ToolUseBlock) -> str:
    """The call's arguments as the JSON text OpenAI-style clients expect."""
    return call.raw_input if call.raw_input is not None else json.dumps(call.input)
