"""Opaque keyset-pagination cursors (URL-safe base64 of a small JSON list)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from roost.store.errors import InvalidCursor


def encode(created_at: datetime, id_: str) -> str:
    raw = json.dumps([created_at.isoformat(), id_], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value: Any = json.loads(base64.urlsafe_b64decode(padded.encode()))
        stamp, id_ = value
        if not isinstance(stamp, str) or not isinstance(id_, str):
            raise ValueError("cursor fields")
        return datetime.fromisoformat(stamp), id_
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidCursor(
            f"malformed cursor {cursor[:40]!r}", hint="pass back the next_cursor you received"
        ) from exc


def decode_seq(cursor: str | int) -> int:
    """Message cursors are the session sequence number, as text."""
    try:
        seq = int(cursor)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor(
            f"malformed message cursor {str(cursor)[:40]!r}",
            hint="pass back the next_cursor of a MessagePage",
        ) from exc
    if seq < 0:
        raise InvalidCursor(f"message cursor must be >= 0, got {seq}")
    return seq
