"""Rebuilds the assistant message being streamed, so a flush can persist the partial reply."""

from __future__ import annotations

from typing import Any

from roost.core import Msg, TextBlock, ThinkingBlock, ToolUseBlock


class PartialReply:
    """Text, thinking and finished tool calls of the message identified by ``msg_id``."""

    def __init__(self, msg_id: str, name: str | None) -> None:
        self.msg_id = msg_id
        self.name = name
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.tool_uses: list[ToolUseBlock] = []
        self.dirty = False
        self.saved = False
        """True once any version of it is in the store (a final save must then upsert)."""

    def build(self) -> Msg:
        blocks: list[Any] = []
        if self.thinking:
            blocks.append(ThinkingBlock(thinking="".join(self.thinking)))
        if self.text:
            blocks.append(TextBlock(text="".join(self.text)))
        blocks.extend(self.tool_uses)
        return Msg(id=self.msg_id, role="assistant", name=self.name, content=blocks)

    @property
    def empty(self) -> bool:
        return not (self.text or self.thinking or self.tool_uses)
