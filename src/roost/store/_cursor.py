"""Opaque keyset-pagination cursors (URL-safe base64 of a small JSON list)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from roost.core.digits import MAX_INT64, parse_digits
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
    if isinstance(cursor, str):
        seq = parse_digits(cursor)
    else:
        seq = cursor if type(cursor) is int and 0 <= cursor <= MAX_INT64 else None
    if seq is None:
        raise InvalidCursor(
            f"malformed message cursor {str(cursor)[:40]!r}: digits for 0 to {MAX_INT64}",
            hint="pass back the next_cursor of a MessagePage",
        )
    return seq
