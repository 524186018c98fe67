"""Time-ordered, prefixed identifiers (``msg_…``, ``run_…``) that sort by creation time."""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    """``prefix_`` + 11 hex digits of milliseconds + 16 random hex digits.

    Fixed width, so ids of one prefix sort by creation time as plain strings.
    """
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{os.urandom(8).hex()}"
