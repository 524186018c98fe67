"""Opaque keyset-pagination cursors (URL-safe base64 of a small JSON list)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from roost.store.errors import InvalidCursor

MAX_SEQ = 2**63 - 1
"""Sequence numbers are signed 64-bit columns; a larger cursor could not be bound."""


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
        id_.encode()  # a lone surrogate (``"\ud800"``) cannot be bound as a parameter
        at = datetime.fromisoformat(stamp)
        if at.tzinfo is not None:
            at.astimezone(UTC)  # the engines do this; year 1 at +14:00 overflows
        return at, id_
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error) as exc:
        raise InvalidCursor(
            f"malformed cursor {cursor[:40]!r}", hint="pass back the next_cursor you received"
        ) from exc


def decode_seq(cursor: str | int) -> int:
    """Message cursors are the session sequence number, as ASCII digits."""
    try:
        if isinstance(cursor, str) and not (cursor.isascii() and cursor.strip().isdigit()):
            raise ValueError("not decimal digits")
        seq = int(cursor)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor(
            f"malformed message cursor {str(cursor)[:40]!r}",
            hint="pass back the next_cursor of a MessagePage",
        ) from exc
    if not 0 <= seq <= MAX_SEQ:
        raise InvalidCursor(
            f"message cursor must be from 0 to {MAX_SEQ}",
            hint="pass back the next_cursor of a MessagePage",
        )
    return seq
