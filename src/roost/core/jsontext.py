"""Compact JSON text, encoded once: the wire and the store share one encoding of an event.

``json.dumps`` builds a new C encoder on every call, which was most of the cost of
encoding a small object (a text delta, a stored event). :func:`dumps` builds it once.
:class:`JSONText` marks a string that already *is* JSON, so a layer that received it (the
store, writing a JSON column) passes it through instead of encoding it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class JSONText(str):
    """A string holding a JSON document (written as it is where JSON is expected)."""

    __slots__ = ()


def _compact_encoder() -> Callable[[Any], str]:
    """Compact JSON (``ensure_ascii=False``) with CPython's C encoder built once.

    No cycle check: callers pass plain JSON data (event fields, ids, numbers, lists).
    Other Pythons get the plain encoder.
    """
    plain = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return plain.encode
    encode = make(
        None, plain.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    join = "".join
    return lambda obj: join(encode(obj, 0))


dumps = _compact_encoder()
"""``json.dumps(obj, separators=(",", ":"), ensure_ascii=False)``, faster."""


def encode(value: Any) -> str:
    """JSON for a JSON column: a :class:`JSONText` as it is, anything else through
    :func:`dumps` (the store's engines use this as their ``json_serializer``)."""
    if type(value) is JSONText:
        return value
    return dumps(value)
