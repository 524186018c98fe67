"""Time-ordered, prefixed identifiers (``msg_…``, ``run_…``) that sort by creation time."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, rem = divmod(value, 36)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """Return ``prefix_`` + 10 chars of millisecond time + 12 random chars (base36)."""
    ms = time.time_ns() // 1_000_000
    rnd = int.from_bytes(os.urandom(8), "big")
    return f"{prefix}_{_base36(ms, 10)}{_base36(rnd, 12)}"
