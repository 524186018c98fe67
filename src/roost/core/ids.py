"""Time-ordered, prefixed identifiers (``msg_…``, ``run_…``) that sort by creation time."""

from __future__ import annotations

import os
import time

_IDS_PER_READ = 128
_random_parts: list[str] = []
"""16-hex-digit random suffixes read ahead from the OS CSPRNG, taken with ``pop()``."""

# a forked child must not hand out the suffixes its parent also holds
os.register_at_fork(after_in_child=_random_parts.clear)


def _random_part() -> str:
    """8 random bytes as hex. Read in blocks of ``_IDS_PER_READ``: one ``getrandom`` call
    (a syscall that also releases the GIL) per id was a visible cost per streamed run.
    ``list.pop``/``extend`` are atomic, so threads never share a suffix."""
    while True:
        try:
            return _random_parts.pop()
        except IndexError:
            block = os.urandom(8 * _IDS_PER_READ).hex()
            _random_parts.extend([block[i : i + 16] for i in range(0, len(block), 16)])


def new_id(prefix: str) -> str:
    """``prefix_`` + 11 hex digits of milliseconds + 16 random hex digits.

    Fixed width, so ids of one prefix sort by creation time as plain strings.
    """
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{_random_part()}"
