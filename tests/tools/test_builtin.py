"""The built-in tools every app may offer (roost.tools.builtin)."""

from __future__ import annotations

import pytest

from roost.core import ToolUseBlock
from roost.tools import Toolkit
from roost.tools.builtin import builtin_tools


async def _calculate(expression: str) -> tuple[str, bool]:
    toolkit = Toolkit(builtin_tools())
    call = ToolUseBlock(id="c", name="calculator", input={"expression": expression})
    results = [r async for r in toolkit.execute(call)]
    return results[-1].text, bool(results[-1].is_error)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("48 * 76", "3648"),
        ("(17 + 8) * 12", "300"),
        ("3.5 * 4.2", "14.7"),  # not 14.700000000000001
        ("0.1 + 0.2", "0.3"),
        ("10 / 4", "2.5"),
        ("2 ^ 16", "65536"),
        ("sqrt(2209)", "47"),
        ("1 / 3", "0.333333333333"),
        ("10 ** 20", "100000000000000000000"),
    ],
)
async def test_the_calculator_returns_the_number_a_person_would_write(
    expression: str, value: str
) -> None:
    assert await _calculate(expression) == (value, False)


@pytest.mark.parametrize("expression", ["1 / 0", "__import__('os')", "2 +", "x * 3"])
async def test_the_calculator_refuses_what_it_cannot_evaluate_as_an_error(expression: str) -> None:
    text, failed = await _calculate(expression)
    assert failed and text
