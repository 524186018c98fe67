"""Content blocks: the parts of a :class:`~roost.core.msg.Msg`.

Blocks are pydantic models discriminated by ``type`` so any message JSON round-trips.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Block(BaseModel):
    # defer_build: validators are built on first use, not at import (idle server memory,
    # docs/decisions/0097); a process only pays for the models it uses.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class TextBlock(_Block):
    type: Literal["text"] = "text"
    text: str


class ThinkingBlock(_Block):
    """Model reasoning; ``signature`` is kept so providers that sign it accept it back."""

    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str | None = None


class ToolUseBlock(_Block):
    """A tool call requested by the model (``id`` pairs it with its result)."""

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    raw_input: str | None = None
    """The arguments text as the model produced it when it was not valid JSON."""


class _MediaBlock(_Block):
    url: str | None = None
    data: str | None = None
    """Base64-encoded bytes when the media is inline."""
    media_type: str | None = None

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str) -> Any:
        return cls(data=base64.b64encode(raw).decode("ascii"), media_type=media_type)

    def to_bytes(self) -> bytes:
        if self.data is None:
            raise ValueError("block has no inline data")
        return base64.b64decode(self.data)

    def as_data_url(self) -> str:
        if self.url:
            return self.url
        return f"data:{self.media_type or 'application/octet-stream'};base64,{self.data}"


class ImageBlock(_MediaBlock):
    type: Literal["image"] = "image"


class AudioBlock(_MediaBlock):
    type: Literal["audio"] = "audio"


class DataBlock(_Block):
    """Structured data (a JSON value), e.g. a tool's typed return or structured output."""

    type: Literal["data"] = "data"
    data: Any = None
    """JSON ``null`` is a value too: stored without it (``exclude_none``), read back as None."""
    mime_type: str = "application/json"


ToolResultStatus = Literal["success", "error", "interrupted", "rejected"]


class ToolResultBlock(_Block):
    """The result of a tool call; ``is_error`` results are shown to the model as errors."""

    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    name: str | None = None
    content: list[TextBlock | ImageBlock | AudioBlock | DataBlock] = Field(default_factory=list)
    is_error: bool = False
    status: ToolResultStatus = "success"
    code: str | None = None
    """Stable error code when ``is_error`` (``tool_timeout``, ``tool_arguments_invalid`` …)."""

    @property
    def text(self) -> str:
        parts: list[str] = []
        for block in self.content:
            if isinstance(block, TextBlock):
                parts.append(block.text)
            elif isinstance(block, DataBlock):
                import json

                parts.append(json.dumps(block.data, ensure_ascii=False, default=str))
            else:
                parts.append(f"[{block.type}]")
        return "\n".join(parts)


ContentBlock = Annotated[
    TextBlock
    | ThinkingBlock
    | ToolUseBlock
    | ToolResultBlock
    | ImageBlock
    | AudioBlock
    | DataBlock,
    Field(discriminator="type"),
]
