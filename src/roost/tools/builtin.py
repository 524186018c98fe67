"""Small built-in tools that are safe anywhere (no I/O): a calculator and the clock."""

from __future__ import annotations

import ast
import datetime as _dt
import math
import operator
from collections.abc import Callable
from typing import Any

from roost.core import ToolArgumentsInvalid
from roost.tools.tool import Tool, tool

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "log": math.log,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
}
_CONSTS = {"pi": math.pi, "e": math.e}


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 1000:
            raise ValueError("exponent too large")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name) and node.id in _CONSTS:
        return _CONSTS[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCS
        and not node.keywords
    ):
        return _FUNCS[node.func.id](*(_eval(a) for a in node.args))
    raise ValueError(f"unsupported expression: {ast.unparse(node)}")


@tool
def calculator(expression: str) -> str:
    """Evaluate one arithmetic expression exactly and return the number. Pass exactly
    the arithmetic the question asks for, nothing more.

    Args:
        expression: The user's arithmetic written with numbers, + - * / // % **,
            parentheses, sqrt, abs, round, min, max, log, exp, sin, cos, tan, pi, e.
            Keep the user's parentheses: "(2 + 3) * 4" is not "2 + 3 * 4".
    """
    try:
        value = _eval(ast.parse(expression.replace("^", "**"), mode="eval"))
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError) as exc:
        raise ToolArgumentsInvalid(
            f"cannot evaluate {expression!r}: {exc}", hint="use plain arithmetic"
        ) from None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, float):
        # 12 significant digits: 3.5 * 4.2 is 14.7, not binary noise (14.700000000000001)
        return format(value, ".12g")
    return str(value)


@tool
def current_time(timezone: str = "UTC") -> str:
    """The current date and time (ISO 8601). Only for questions about the date or time
    now; never needed for other questions.

    Args:
        timezone: "UTC" or "local".
    """
    now = _dt.datetime.now(_dt.UTC if timezone.upper() == "UTC" else None)
    return (
        now.astimezone().isoformat(timespec="seconds")
        if timezone != "UTC"
        else now.isoformat(timespec="seconds")
    )


def builtin_tools() -> list[Tool]:
    return [calculator, current_time]
