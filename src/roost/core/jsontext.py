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


_PLAIN = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_MAKE = getattr(json.encoder, "c_make_encoder", None)


def _c_encoder(markers: dict[int, Any] | None) -> Callable[[Any, int], Any]:
    assert _MAKE is not None
    return _MAKE(  # type: ignore[no-any-return]
        markers, _PLAIN.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )


def _compact_encoder() -> Callable[[Any], str]:
    """Compact JSON (``ensure_ascii=False``) with CPython's C encoder built once.

    No cycle check: for data Roost builds itself (event envelopes: fields, ids, numbers).
    Other Pythons get the plain encoder.
    """
    if _MAKE is None:  # pragma: no cover - CPython always has it
        return _PLAIN.encode
    encode = _c_encoder(None)
    join = "".join
    return lambda obj: join(encode(obj, 0))


dumps = _compact_encoder()
"""``json.dumps(obj, separators=(",", ":"), ensure_ascii=False)``, faster; no cycle
check, so only for data Roost builds itself."""


def encode(value: Any) -> str:
    """JSON for a JSON column: a :class:`JSONText` as it is, anything else compact with
    a cycle check (the store's engines use this as their ``json_serializer``: metadata
    and agent states come from users, and a cyclic one must fail as ``json.dumps`` does,
    with ``ValueError``, not with a ``RecursionError``)."""
    if type(value) is JSONText:
        return value
    if _MAKE is None:  # pragma: no cover
        return _PLAIN.encode(value)
    return "".join(_c_encoder({})(value, 0))
