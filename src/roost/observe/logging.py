"""Structured logs that join traces: each record carries trace/span and run/session/user ids.

Ids come from the current OTel span and baggage (set by :func:`roost.observe.run_context`),
and every message and exception text goes through the redaction hooks, so a bearer token
or API key that reaches a log call never reaches the log.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

from roost.core import ConfigError
from roost.observe.redaction import redact

LogFormat = Literal["json", "console"]

_CONTEXT_FIELDS = {
    "session_id": "roost.session_id",
    "run_id": "roost.run_id",
    "user_id": "roost.user_id",
    "tenant_id": "roost.tenant_id",
}
_STD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_OWN_ATTRS = frozenset({"trace_id", "span_id", *_CONTEXT_FIELDS})


class ContextFilter(logging.Filter):
    """Adds ``trace_id``, ``span_id`` and the run ids to every record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The OTel API loads with the first record, not at ``roost serve`` start (0097).
        from opentelemetry import baggage, trace

        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = format(ctx.trace_id, "032x")
            record.span_id = format(ctx.span_id, "016x")
        else:
            record.trace_id = record.span_id = None
        for field, key in _CONTEXT_FIELDS.items():
            if getattr(record, field, None) is None:
                value = baggage.get_baggage(key)
                setattr(record, field, None if value is None else str(value))
        return True


def _message(record: logging.LogRecord) -> str:
    try:
        return redact(record.getMessage(), "logs")
    except Exception:  # a bad %-format must not lose the record
        return redact(str(record.msg), "logs")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra=`` fields are kept (redacted if strings)."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _message(record),
        }
        for field in ("trace_id", "span_id", *_CONTEXT_FIELDS):
            value = getattr(record, field, None)
            if value is not None:
                body[field] = value
        for key, value in record.__dict__.items():
            if key in _STD_ATTRS or key in _OWN_ATTRS or key.startswith("_"):
                continue
            body[key] = redact(value, "logs") if isinstance(value, str) else value
        if record.exc_info:
            body["exc"] = redact(self.formatException(record.exc_info), "logs")
        return json.dumps(body, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the ids that are set."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        ids = " ".join(
            f"{field}={getattr(record, field)}"
            for field in ("run_id", "session_id", "user_id", "trace_id")
            if getattr(record, field, None)
        )
        line = f"{ts} {record.levelname:<7} {record.name}: {_message(record)}"
        if ids:
            line += f"  [{ids}]"
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info), "logs")
        return line


class _RoostHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marker type so a second ``configure_logging`` replaces, not duplicates, the handler."""


def configure_logging(
    level: str | int = "INFO",
    fmt: LogFormat = "json",
    *,
    stream: IO[str] | None = None,
    logger: str = "",
) -> logging.Handler:
    """Send logs of ``logger`` (root by default) to ``stream`` (stderr) as JSON or console text."""
    if fmt not in ("json", "console"):
        raise ConfigError(f"unknown log format {fmt!r}", hint="use 'json' or 'console'")
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise ConfigError(
                f"unknown log level {level!r}", hint="use DEBUG, INFO, WARNING or ERROR"
            )
        level = resolved
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if isinstance(h, _RoostHandler)]:
        target.removeHandler(old)
    handler = _RoostHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    target.addHandler(handler)
    target.setLevel(level)
    return handler
