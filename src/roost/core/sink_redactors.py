"""Redactors per sink registered by upper layers (roost.govern's DLP policy) and applied
by roost.observe to what goes to logs and traces. Kept here, in the core, so the server
can register them at start without loading roost.observe before it is used."""

from __future__ import annotations

import threading
from collections.abc import Callable

Redactor = Callable[[str], str]
_lock = threading.Lock()
_by_sink: dict[str, list[Redactor]] = {}


def register(sink: str, redactor: Redactor) -> None:
    with _lock:
        chain = _by_sink.setdefault(sink, [])
        if redactor not in chain:
            chain.append(redactor)


def unregister(redactor: Redactor) -> None:
    with _lock:
        for chain in _by_sink.values():
            if redactor in chain:
                chain.remove(redactor)


def clear() -> None:
    with _lock:
        _by_sink.clear()


def redactors(sink: str) -> list[Redactor]:
    """The chain of ``sink`` (a copy: safe to iterate while others register)."""
    chain = _by_sink.get(sink)
    return list(chain) if chain else []
