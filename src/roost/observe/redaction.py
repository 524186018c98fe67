"""Redaction hooks applied to span content and log messages before they leave the process.

A redactor is any ``str -> str`` callable. The default one masks bearer tokens, API keys
of common providers, JWTs, ``key=value`` secrets and e-mail addresses; users add their
own with :func:`add_redactor` (e.g. customer ids). Redactors run in registration order.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from roost.core import sink_redactors

Redactor = Callable[[str], str]

MASK = "[REDACTED]"

_Rule = tuple[tuple[str, ...], re.Pattern[str], str]
"""(lower-case trigger substrings, pattern, replacement): a pattern runs only when one of
its triggers occurs in the text, so clean text costs one ``lower()`` and a few ``in``."""

_PATTERNS: list[_Rule] = [
    # Authorization headers and bearer tokens
    (
        ("bearer", "basic", "token"),
        re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"),
        r"\1 " + MASK,
    ),
    # JSON Web Tokens
    (
        ("eyj",),
        re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),
        MASK,
    ),
    # Provider keys: OpenAI/Anthropic/DeepSeek (sk-…), GitHub, Slack, AWS, Google
    (("sk-",), re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"), MASK),
    (("gh",), re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), MASK),
    (("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    (("akia", "asia"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (("aiza",), re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), MASK),
    # key=value / "key": "value" secrets
    (
        ("key", "secret", "passw", "token"),
        re.compile(
            r"(?i)([\"']?(?:api[_-]?key|apikey|secret|password|passwd|access[_-]?token|"
            r"auth[_-]?token|client[_-]?secret|private[_-]?key)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"',;}]{4,}"
        ),
        r"\1" + MASK,
    ),
    # e-mail addresses
    (("@",), re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "[EMAIL]"),
]


def default_redactor(text: str) -> str:
    """Mask bearer tokens, provider API keys, JWTs, ``key=value`` secrets and e-mails."""
    lower = text.lower()
    for triggers, pattern, repl in _PATTERNS:
        if any(t in lower for t in triggers):
            text = pattern.sub(repl, text)
    return text


Sink = str
"""Where text goes: ``logs`` or ``traces`` here (roost.govern's DLP policy names more)."""
SINKS: tuple[Sink, ...] = ("logs", "traces")

_lock = threading.Lock()
_redactors: list[Redactor] = [default_redactor]


def add_redactor(redactor: Redactor, *, sinks: Sequence[Sink] | None = None) -> Redactor:
    """Register a redactor (usable as a decorator); it runs after the existing ones,
    on every sink or only on ``sinks`` (roost.govern registers its DLP policy so)."""
    if sinks is not None:
        for sink in sinks:
            sink_redactors.register(sink, redactor)
        return redactor
    with _lock:
        if redactor not in _redactors:
            _redactors.append(redactor)
    return redactor


def remove_redactor(redactor: Redactor) -> None:
    """Unregister a redactor; removing the default one disables the built-in patterns."""
    sink_redactors.unregister(redactor)
    with _lock:
        if redactor in _redactors:
            _redactors.remove(redactor)


def reset_redactors() -> None:
    """Back to the default redactor only."""
    sink_redactors.clear()
    with _lock:
        _redactors[:] = [default_redactor]


def redact(text: str, sink: Sink | None = None) -> str:
    """Apply every registered redactor to ``text`` (and those of ``sink``)."""
    for redactor in list(_redactors):
        text = redactor(text)
    if sink is not None:
        for redactor in sink_redactors.redactors(sink):
            text = redactor(text)
    return text


def redact_value(value: Any, sink: Sink | None = None) -> Any:
    """Redact strings inside an attribute value (str, sequence of str, or mapping)."""
    if isinstance(value, str):
        return redact(value, sink)
    if isinstance(value, Mapping):
        return {k: redact_value(v, sink) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return (
            type(value)(redact_value(v, sink) for v in value)
            if isinstance(value, tuple)
            else [redact_value(v, sink) for v in value]
        )
    return value
