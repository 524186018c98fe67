"""Compact JSON text, encoded once: the wire and the store share one encoding of an event.

:func:`dumps` is pydantic-core's ``to_json`` (public API, ~2.5x faster here than
``json.dumps`` for an event envelope). :class:`JSONText` marks a string that already *is*
JSON, so a layer that received it (the store, writing a JSON column) passes it through
instead of encoding it again.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json


class JSONText(str):
    """A string holding a JSON document (written as it is where JSON is expected)."""

    __slots__ = ()


def dumps(obj: Any) -> str:
    """``json.dumps(obj, separators=(",", ":"), ensure_ascii=False)``, faster. A value that
    is not JSON (an object, a cycle) raises ``ValueError``."""
    return to_json(obj).decode()


def encode(value: Any) -> str:
    """JSON for a JSON column: a :class:`JSONText` as it is, anything else compact (the
    store's engines use this as their ``json_serializer``: metadata and agent states
    come from users, and a cyclic one fails with ``ValueError``, as ``json.dumps`` does)."""
    if type(value) is JSONText:
        return value
    return to_json(value).decode()
