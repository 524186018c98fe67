"""JSON logs carry trace/span and run ids from the current span and baggage, never secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from roost.core import ConfigError
from roost.observe import configure_logging, run_context


def _lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line]


def test_json_records_carry_ids_and_are_redacted() -> None:
    buf = io.StringIO()
    handler = configure_logging("INFO", "json", stream=buf, logger="roost.test")
    log = logging.getLogger("roost.test")
    tracer = TracerProvider().get_tracer("t")
    try:
        with (
            run_context(run_id="run_9", session_id="ses_9", user_id="dave"),
            tracer.start_as_current_span("work") as span,
        ):
            log.info(
                "calling with Authorization: Bearer abcdef1234567890xyz",
                extra={"tool": "search"},
            )
            ctx = span.get_span_context()
        log.warning("api_key=sk-live-supersecret")
        log.debug("hidden")
    finally:
        logging.getLogger("roost.test").removeHandler(handler)
    first, second = _lines(buf)
    assert first["trace_id"] == format(ctx.trace_id, "032x")
    assert first["span_id"] == format(ctx.span_id, "016x")
    assert (first["run_id"], first["session_id"], first["user_id"]) == ("run_9", "ses_9", "dave")
    assert (
        first["tool"] == "search" and first["level"] == "info" and first["logger"] == "roost.test"
    )
    assert "abcdef1234567890xyz" not in first["msg"] and "Bearer [REDACTED]" in first["msg"]
    assert "trace_id" not in second and "run_id" not in second
    assert "supersecret" not in second["msg"]


def test_exceptions_are_redacted_and_console_format_works() -> None:
    buf = io.StringIO()
    handler = configure_logging("DEBUG", "console", stream=buf, logger="roost.test2")
    log = logging.getLogger("roost.test2")
    try:
        with run_context(run_id="run_c"):
            try:
                raise ValueError("token ghp_abcdefghijklmnopqrstuvwxyz0123")
            except ValueError:
                log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = buf.getvalue()
    assert "failed" in text and "run_id=run_c" in text
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123" not in text and "ValueError" in text


def test_reconfiguring_replaces_the_handler_and_bad_input_is_rejected() -> None:
    target = logging.getLogger("roost.test3")
    configure_logging("INFO", logger="roost.test3", stream=io.StringIO())
    configure_logging("INFO", logger="roost.test3", stream=io.StringIO())
    assert len(target.handlers) == 1
    target.handlers.clear()
    with pytest.raises(ConfigError):
        configure_logging("LOUD")
    with pytest.raises(ConfigError):
        configure_logging("INFO", "xml")  # type: ignore[arg-type]
    assert trace.get_current_span().get_span_context().is_valid is False
