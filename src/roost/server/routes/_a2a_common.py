"""What the A2A route and its SDK bridge share: task owners and A2A parts as messages."""

from __future__ import annotations

import json
from typing import Any

from roost.core import Msg
from roost.server.auth import Principal


def owner_of(principal: Principal) -> str:
    """The A2A task owner: tasks are visible to the principal that created them."""
    if principal.is_admin:
        return "admin"
    return f"user\0{principal.tenant_id or ''}\0{principal.user_id or principal.key_id}"


def text_of(parts: Any) -> str:
    """The text parts of an A2A message, joined (data parts as JSON)."""
    from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]

    out = []
    for part in parts:
        which = part.WhichOneof("content")
        if which == "text":
            out.append(part.text)
        elif which == "data":
            out.append(json.dumps(MessageToDict(part.data)))
        elif which == "url":
            out.append(part.url)
    return "\n".join(out)


def input_msg(message: Any) -> Msg:
    """An A2A user message as a Roost message (files by URL become image blocks when
    they are images, other parts text)."""
    from roost.core import ImageBlock, TextBlock

    blocks: list[Any] = []
    for part in message.parts:
        which = part.WhichOneof("content")
        if which == "url" and part.media_type.startswith("image/"):
            blocks.append(ImageBlock(url=part.url, media_type=part.media_type))
        elif which == "raw" and part.media_type.startswith("image/"):
            blocks.append(ImageBlock.from_bytes(part.raw, part.media_type))
        else:
            text = text_of([part])
            if text:
                blocks.append(TextBlock(text=text))
    return Msg.user(blocks or "")
