"""OpenAI chat messages to Roost ``Msg`` and back, shared by the OpenAI-style routes.

Nothing the client sends is dropped silently: text, images (``image_url``), audio
(``input_audio``), assistant ``tool_calls`` and ``tool`` results become content blocks;
a part of another type is refused with 400 ``unsupported_parameter``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from roost.agents.client_tools import PENDING_KEY, tool_arguments
from roost.core import (
    AudioBlock,
    ImageBlock,
    Msg,
    RoostError,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)


class UnsupportedParameter(RoostError):
    """A request option this endpoint does not provide, which the client would rely on."""

    code = "unsupported_parameter"
    status = 400

    def __init__(self, param: str, message: str = "", hint: str | None = None) -> None:
        super().__init__(message or param, hint=hint or f"remove {param!r} from the request")
        self.param = param

    def to_dict(self) -> dict[str, Any]:
        # ``param`` and ``type`` as OpenAI sends them: SDKs expose them on the exception
        # (``openai.BadRequestError.param``)
        return {**super().to_dict(), "param": self.param, "type": "invalid_request_error"}


def media_block(url: str, kind: str) -> ImageBlock | AudioBlock:
    """An image from an ``https:``/``data:`` URL; data URLs are kept inline as base64."""
    cls = ImageBlock if kind == "image" else AudioBlock
    if url.startswith("data:") and ";base64," in url.split(",", 1)[0] + ",":
        head, data = url[5:].split(";base64,", 1)
        return cls(data=data, media_type=head or None)
    if url.startswith("data:"):  # not base64: the model gets the URL as it is
        return cls(url=url)
    if not url.startswith(("https://", "http://")):
        raise UnsupportedParameter(
            "messages",
            f"{kind} URL {url[:40]!r} is neither http(s) nor a base64 data URL",
            hint="send an https URL or data:<type>;base64,<bytes>",
        )
    return cls(url=url)


def _parts(content: Any, role: str) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextBlock(text=content)] if content else []
    blocks: list[Any] = []
    for raw in content:
        part = raw.model_dump(exclude_none=True) if isinstance(raw, BaseModel) else raw
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text", "refusal"):
            blocks.append(TextBlock(text=str(part.get("text", part.get("refusal", "")))))
        elif kind in ("image_url", "input_image"):
            ref = part.get("image_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
            if not isinstance(url, str):
                raise UnsupportedParameter("messages", "an image_url part without a url")
            blocks.append(media_block(url, "image"))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            blocks.append(
                AudioBlock(data=audio.get("data"), media_type=f"audio/{audio.get('format', 'wav')}")
            )
        else:
            raise UnsupportedParameter(
                "messages",
                f"content parts of type {kind!r} are not supported in {role} messages",
                hint="send text, image_url or input_audio parts",
            )
    return blocks


def _tool_calls(raw: list[dict[str, Any]] | None) -> list[ToolUseBlock]:
    out = []
    for call in raw or []:
        fn = call.get("function") or {}
        args = fn.get("arguments") or "{}"
        try:
            parsed = json.loads(args)
        except ValueError:
            parsed = None
        out.append(
            ToolUseBlock(
                id=str(call.get("id") or ""),
                name=str(fn.get("name") or ""),
                input=parsed if isinstance(parsed, dict) else {},
                raw_input=None if isinstance(parsed, dict) else args,
            )
        )
    return out


def to_msgs(messages: list[Any]) -> list[Msg]:
    """The client's messages as Roost messages; consecutive tool results share one."""
    out: list[Msg] = []
    for m in messages:
        role = {"developer": "system", "function": "tool"}.get(m.role, m.role)
        if role == "tool":
            result = ToolResultBlock(
                tool_use_id=m.tool_call_id or m.name or "",
                name=m.name,
                content=_parts(m.content, "tool"),
            )
            if out and out[-1].role == "tool":
                out[-1].content.append(result)
            else:
                out.append(Msg(role="tool", content=[result]))
        elif role == "assistant":
            calls = _tool_calls([c.model_dump() for c in m.tool_calls or []])
            out.append(
                Msg(role="assistant", content=[*_parts(m.content, role), *calls], name=m.name)
            )
        else:
            out.append(Msg(role=role, content=_parts(m.content, role), name=m.name))
    return out


def new_inputs(msgs: list[Msg]) -> list[Msg]:
    """What is new in a resent history: the messages after the last assistant one."""
    for i in range(len(msgs) - 1, -1, -1):
        if msgs[i].role == "assistant":
            return msgs[i + 1 :] or [msgs[-1]]
    return msgs


def pending_calls(final: Msg | dict[str, Any] | None) -> list[ToolUseBlock]:
    """The tool calls a reply handed to the client (``client_tools.handed_off``)."""
    if final is None:
        return []
    msg = final if isinstance(final, Msg) else Msg.model_validate(final)
    wanted = set(msg.metadata.get(PENDING_KEY) or ())
    return [c for c in msg.tool_uses if c.id in wanted]


def openai_tool_calls(calls: list[ToolUseBlock]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": tool_arguments(c)},
        }
        for c in calls
    ]


def client_tool_specs(tools: list[Any] | None, functions: list[Any] | None) -> list[dict[str, Any]]:
    """OpenAI ``tools`` (and legacy ``functions``) as ToolSpec dicts."""
    specs = []
    for raw in tools or []:
        tool = _plain(raw)
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
            raise UnsupportedParameter(
                "tools",
                f"tools of type {kind!r} are not supported: only function tools pass through",
            )
        fn = tool.get("function", tool)  # Responses API tools are flat
        specs.append(_spec(fn))
    specs.extend(_spec(_plain(fn)) for fn in functions or [])
    return specs


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True)
    return value


def _spec(fn: Any) -> dict[str, Any]:
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise UnsupportedParameter("tools", "every function tool needs a name")
    return {
        "name": fn["name"],
        "description": str(fn.get("description") or ""),
        "parameters": fn.get("parameters") or {"type": "object", "properties": {}},
    }


def output_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """``response_format`` as the agent's structured-output schema, ``None`` for text."""
    fmt = _plain(response_format) or {}
    kind = fmt.get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"name": "json_object", "schema": {"type": "object"}}
    if kind == "json_schema":
        inner = fmt.get("json_schema") or fmt  # chat nests it; Responses' text.format not
        schema = inner.get("schema")
        if not isinstance(schema, dict):
            raise UnsupportedParameter(
                "response_format", "response_format json_schema needs a 'schema' object"
            )
        return {"name": str(inner.get("name") or "output"), "schema": schema}
    raise UnsupportedParameter(
        "response_format", f"response_format of type {kind!r} is not supported"
    )
