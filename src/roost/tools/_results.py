"""Turn whatever a tool returned into a :class:`ToolResultBlock`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from roost.core import (
    AudioBlock,
    DataBlock,
    ImageBlock,
    RoostError,
    TextBlock,
    ToolResultBlock,
)

_Part = TextBlock | ImageBlock | AudioBlock | DataBlock


def _parts(value: Any) -> list[_Part]:
    if value is None:
        return []
    if isinstance(value, TextBlock | ImageBlock | AudioBlock | DataBlock):
        return [value]
    if isinstance(value, str):
        return [TextBlock(text=value)]
    if isinstance(value, bytes):
        return [TextBlock(text=value.decode("utf-8", errors="replace"))]
    if isinstance(value, BaseModel):
        return [DataBlock(data=value.model_dump(mode="json"))]
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, TextBlock | ImageBlock | AudioBlock | DataBlock) for v in value)
    ):
        return list(value)
    if isinstance(value, dict | list | tuple | int | float | bool):
        return [DataBlock(data=value)]
    return [TextBlock(text=str(value))]


def success(call_id: str, name: str, value: Any) -> ToolResultBlock:
    if isinstance(value, ToolResultBlock):
        return value.model_copy(update={"tool_use_id": call_id, "name": name})
    return ToolResultBlock(tool_use_id=call_id, name=name, content=_parts(value))


def failure(
    call_id: str,
    name: str,
    error: RoostError,
    *,
    status: str = "error",
) -> ToolResultBlock:
    text = error.message if not error.hint else f"{error.message}. {error.hint}."
    return ToolResultBlock(
        tool_use_id=call_id,
        name=name,
        content=[TextBlock(text=f"Error ({error.code}): {text}")],
        is_error=True,
        status=status,  # type: ignore[arg-type]
        code=error.code,
    )


def interrupted(call_id: str, name: str, reason: str = "interrupted") -> ToolResultBlock:
    return ToolResultBlock(
        tool_use_id=call_id,
        name=name,
        content=[TextBlock(text=f"The tool call was interrupted ({reason}) before it finished.")],
        is_error=True,
        status="interrupted",
        code="interrupted",
    )
