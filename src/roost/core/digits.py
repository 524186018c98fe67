"""Non-negative integers written as ASCII digits: query parameters, cursors, event ids."""

from __future__ import annotations

MAX_INT64 = 2**63 - 1
"""Sequence numbers and ids are signed 64-bit columns; a larger value cannot be bound."""


def parse_digits(raw: str, hi: int = MAX_INT64) -> int | None:
    """``raw`` as an integer from 0 to ``hi``; None for anything else (sign, spaces, …).

    ``str.isdigit`` alone also accepts digits such as "²" or "٣", which ``int`` refuses
    or reads as other numbers, and ``int`` raises on a digit string over 4,300 long: the
    length is checked first."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(hi)):
        return None
    value = int(raw)
    return value if value <= hi else None


def digits_pattern(hi: int = MAX_INT64) -> str:
    """The regular expression of exactly the strings :func:`parse_digits` accepts (an
    OpenAPI ``pattern`` for a header, which travels as text)."""
    top = str(hi)
    n = len(top)
    options = [f"[0-9]{{1,{n - 1}}}"] if n > 1 else []
    for i, digit in enumerate(top):  # as long as ``top``: at most it, digit by digit
        if digit != "0":
            options.append(f"{top[:i]}[0-{int(digit) - 1}][0-9]{{{n - i - 1}}}")
    options.append(top)
    return "^(" + "|".join(options) + ")$"
