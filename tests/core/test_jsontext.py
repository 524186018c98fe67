"""Compact JSON encoded once, and text that already is JSON passed through."""

from __future__ import annotations

import json

import pytest

from roost.core.jsontext import JSONText, dumps, encode


@pytest.mark.parametrize(
    "value", [{"a": [1, "ü", None, True, 1.5]}, [], 'plain "quoted"\n', None, 3, {"k": {}}]
)
def test_dumps_is_compact_json_with_unicode_kept(value: object) -> None:
    assert dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_dumps_refuses_what_json_refuses() -> None:
    with pytest.raises(ValueError, match="serialize"):
        dumps({"x": object()})


def test_json_text_is_not_encoded_again() -> None:
    text = JSONText('{"seq":1}')
    assert encode(text) is text
    assert encode('{"seq":1}') == '"{\\"seq\\":1}"'  # a plain string is a JSON string
    assert encode({"seq": 1}) == '{"seq":1}'


def test_a_cyclic_value_for_a_json_column_fails_as_json_dumps_does() -> None:
    cyclic: dict[str, object] = {"k": 1}
    cyclic["self"] = cyclic
    with pytest.raises(ValueError, match="Circular reference"):
        encode(cyclic)
    assert encode({"k": [1, {"x": None}]}) == '{"k":[1,{"x":null}]}'
