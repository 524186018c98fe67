"""``Msg``: one message of a conversation, made of content blocks."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roost.core.blocks import (
    ContentBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from roost.core.ids import new_id
from roost.core.usage import Usage

Role = Literal["system", "user", "assistant", "tool"]


class Msg(BaseModel):
    """A message. ``content`` accepts a plain string as a shortcut for one text block."""

    model_config = ConfigDict(defer_build=True)  # validator built on first use (0097)
    id: str = Field(default_factory=lambda: new_id("msg"))
    role: Role
    name: str | None = None
    content: list[ContentBlock] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    usage: Usage | None = None
    created_at: float = Field(default_factory=time.time)

    @field_validator("content", mode="before")
    @classmethod
    def _text_shortcut(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [TextBlock(text=value)]
        return value

    # -- constructors -------------------------------------------------------------------
    # A string becomes its text block here rather than in the validator: half the cost of
    # a message (the validator's call back into Python, then the block validated again).
    @classmethod
    def user(cls, content: str | list[Any], name: str | None = None, **kw: Any) -> Msg:
        blocks = [TextBlock(text=content)] if isinstance(content, str) else content
        return cls(role="user", content=blocks, name=name, **kw)

    @classmethod
    def assistant(cls, content: str | list[Any], name: str | None = None, **kw: Any) -> Msg:
        blocks = [TextBlock(text=content)] if isinstance(content, str) else content
        return cls(role="assistant", content=blocks, name=name, **kw)

    @classmethod
    def system(cls, content: str, **kw: Any) -> Msg:
        blocks = [TextBlock(text=content)] if isinstance(content, str) else content
        return cls(role="system", content=blocks, **kw)

    # -- views --------------------------------------------------------------------------
    @property
    def text(self) -> str:
        """Concatenated text blocks (what a human would read)."""
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def thinking(self) -> str:
        return "".join(b.thinking for b in self.content if isinstance(b, ThinkingBlock))

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [b for b in self.content if isinstance(b, ToolUseBlock)]

    @property
    def tool_results(self) -> list[ToolResultBlock]:
        return [b for b in self.content if isinstance(b, ToolResultBlock)]

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Msg:
        return cls.model_validate_json(raw)
