"""OTLP/HTTP and OTLP/gRPC export, checked by receivers that decode the real protobuf."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from roost.agents import ReActAgent
from roost.core import ConfigError, Usage
from roost.models import ScriptedModel, ScriptedReply
from roost.observe import run_context, setup_tracing
from roost.store import Store
from roost.tools import Toolkit, tool

from ._otlp_receivers import GrpcOtlpReceiver, HttpOtlpReceiver


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def _run() -> None:
    model = ScriptedModel(
        [
            ScriptedModel.tool_call("add", {"a": 2, "b": 3}),
            ScriptedReply(
                text="5, mail me at bob@example.com", usage=Usage(input_tokens=12, output_tokens=3)
            ),
        ],
        model_name="gpt-4o-mini",
    )
    agent = ReActAgent("calc", model, toolkit=Toolkit([add]))
    with run_context(run_id="run_otlp", session_id="ses_otlp", user_id="bob", tenant_id="t1"):
        await agent("what is 2+3?")


@pytest.fixture
def http_receiver() -> Iterator[HttpOtlpReceiver]:
    r = HttpOtlpReceiver()
    yield r
    r.close()


@pytest.fixture
def grpc_receiver() -> Iterator[GrpcOtlpReceiver]:
    r = GrpcOtlpReceiver()
    yield r
    r.close()


def _check_genai(spans: list[dict]) -> None:
    by_name = {s["name"]: s for s in spans}
    root = by_name["invoke_agent calc"]
    assert root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert root["attributes"]["gen_ai.agent.name"] == "calc"
    assert root["attributes"]["gen_ai.conversation.id"] == "ses_otlp"
    assert root["attributes"]["roost.run_id"] == "run_otlp"
    assert root["attributes"]["roost.user_id"] == "bob"
    assert root["attributes"]["roost.tenant_id"] == "t1"
    assert root["resource"]["service.name"] == "roost-test"
    chats = [s for s in spans if s["name"] == "chat gpt-4o-mini"]
    assert len(chats) == 2
    assert {c["attributes"]["gen_ai.operation.name"] for c in chats} == {"chat"}
    assert chats[0]["attributes"]["gen_ai.provider.name"] == "scripted"
    assert chats[0]["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
    for c in chats:
        assert c["attributes"]["gen_ai.usage.input_tokens"] > 0
        assert c["attributes"]["gen_ai.usage.output_tokens"] > 0
    tool_span = by_name["execute_tool add"]
    assert tool_span["attributes"]["gen_ai.operation.name"] == "execute_tool"
    assert tool_span["attributes"]["gen_ai.tool.name"] == "add"
    assert tool_span["attributes"]["gen_ai.tool.call.id"]
    assert tool_span["parent"] == root["span_id"]
    assert len({s["trace_id"] for s in spans}) == 1


async def test_otlp_http_receives_genai_spans_without_content(
    http_receiver: HttpOtlpReceiver, store: Store
) -> None:
    provider = setup_tracing(
        store=store, otlp_endpoint=http_receiver.endpoint, service_name="roost-test"
    )
    await _run()
    provider.force_flush()
    assert http_receiver.requests >= 1
    assert http_receiver.content_types[0] == "application/x-protobuf"
    _check_genai(http_receiver.spans)
    # content is off for OTLP by default, on for the embedded store
    assert not [
        e for s in http_receiver.spans for e in s["events"] if e["name"].startswith("gen_ai.")
    ]
    local = await store.spans_for_run("run_otlp")
    assert [e for s in local for e in s.events if e["name"].startswith("gen_ai.")]


async def test_otlp_grpc_receives_genai_spans(grpc_receiver: GrpcOtlpReceiver) -> None:
    provider = setup_tracing(
        otlp_endpoint=grpc_receiver.endpoint, otlp_protocol="grpc", service_name="roost-test"
    )
    await _run()
    provider.force_flush()
    _check_genai(grpc_receiver.spans)


async def test_otlp_content_when_enabled_is_redacted(
    http_receiver: HttpOtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("ROOST_OTLP_ENDPOINT", http_receiver.endpoint)
    provider = setup_tracing(service_name="roost-test")
    await _run()
    provider.force_flush()
    events = [
        e for s in http_receiver.spans for e in s["events"] if e["name"].startswith("gen_ai.")
    ]
    assert events
    text = repr(events)
    assert "what is 2+3?" in text
    assert "bob@example.com" not in text and "[EMAIL]" in text


def test_unknown_otlp_protocol_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        setup_tracing(otlp_endpoint="http://127.0.0.1:1", otlp_protocol="thrift")  # type: ignore[arg-type]
    assert err.value.code == "config_invalid"
    assert "grpc" in (err.value.hint or "")
