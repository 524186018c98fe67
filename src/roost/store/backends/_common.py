"""What both backends share: the SQLite busy timeout, the private database file, and
the store's errors for an unreachable database and an unstorable value."""

from __future__ import annotations

import os
from pathlib import Path

from roost.store.errors import InvalidStoreArgument, StoreUnavailable

BUSY_TIMEOUT_MS = 10_000
"""How long a write waits for another process's write lock before ``store_unavailable``."""


def create_private_file(path: Path) -> None:
    """Create a missing database file owner-only; never open an existing one.

    The database holds prompts and replies, so it is ``0600`` from the start (SQLite gives
    its -wal/-shm files the same mode). An existing file must not be opened here: closing
    *any* descriptor of a file drops every POSIX lock this process holds on it, including
    those of SQLite connections already open on it (docs/decisions/0095).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def unavailable(exc: BaseException) -> StoreUnavailable:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StoreUnavailable(
        f"database unavailable: {text[:300]}",
        hint="check that the database is running and ROOST_DATABASE_URL is right",
    )


def not_storable(reason: object) -> InvalidStoreArgument:
    return InvalidStoreArgument(
        f"a value cannot be stored: {str(reason)[:200]}",
        hint="payloads, metadata and state must be JSON-serializable; ids and names "
        "are at most 64-128 characters",
    )
