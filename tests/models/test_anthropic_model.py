"""AnthropicChatModel against a real Messages-API server on loopback."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from fake_providers import Fail, FakeAnthropicServer, Malformed, Reply, StreamError
from roost.core import (
    ConfigError,
    ImageBlock,
    ModelBadResponse,
    ModelRequestRejected,
    ModelResponse,
    ModelUnavailable,
    Msg,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolCallFinished,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
)
from roost.models import AnthropicChatModel, ModelRequest, RetryPolicy

# every test runs on both HTTP transports: aiohttp (the `fast` extra) and httpx's own
pytestmark = pytest.mark.usefixtures("model_http")

FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
SEARCH = ToolSpec(
    name="search",
    description="Search the web.",
    parameters={"type": "object", "properties": {"q": {"type": "string"}}},
)


def make(server: FakeAnthropicServer, **kw: object) -> AnthropicChatModel:
    kw.setdefault("retry", FAST)
    return AnthropicChatModel(
        "claude-sonnet-4-20250514",
        base_url=server.url,
        api_key="sk-ant-secret",
        **kw,  # type: ignore[arg-type]
    )


async def test_streams_text_with_usage_cost_and_headers(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.script(Reply(text="Bonjour le monde", usage=(1000, 500), cached_tokens=200))
    events = [
        e async for e in make(anthropic_server).stream([Msg.system("Be nice."), Msg.user("hi")])
    ]
    assert "".join(e.delta for e in events if isinstance(e, TextDelta)) == "Bonjour le monde"
    final = events[-1]
    assert isinstance(final, ModelResponse)
    assert final.msg.text == "Bonjour le monde" and final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 1000 and final.usage.cache_read_tokens == 200
    assert final.usage.output_tokens == 500
    # claude-sonnet-4: 3 $/M input, 0.30 $/M cached input, 15 $/M output
    assert final.usage.cost == pytest.approx((800 * 3 + 200 * 0.3 + 500 * 15) / 1e6)
    request = anthropic_server.requests[0]
    assert request.headers["x-api-key"] == "sk-ant-secret"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["system"] == "Be nice."
    assert request.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    ]
    assert request.body["max_tokens"] == 4096 and request.body["stream"] is True


async def test_tool_use_with_split_json_and_tool_choice(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.script(
        Reply(text="Searching.", tool_calls=[("toolu_1", "search", '{"q": "roost agents"}')])
    )
    reply = await make(anthropic_server).complete(
        [Msg.user("find")], tools=[SEARCH], tool_choice="required"
    )
    assert reply.stop_reason == "tool_use"
    assert reply.msg.tool_uses == [
        ToolUseBlock(id="toolu_1", name="search", input={"q": "roost agents"})
    ]
    body = anthropic_server.requests[0].body
    assert body["tools"] == [
        {"name": "search", "description": "Search the web.", "input_schema": SEARCH.parameters}
    ]
    assert body["tool_choice"] == {"type": "any"}


async def test_thinking_is_kept_with_signature_and_sent_back(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.script(
        Reply(thinking="Let me think.", text="42", signature="sig-xyz"), Reply(text="ok")
    )
    model = make(anthropic_server, thinking_budget=2048)
    events = [e async for e in model.stream([Msg.user("meaning?")])]
    assert "".join(e.delta for e in events if isinstance(e, ThinkingDelta)) == "Let me think."
    final = events[-1]
    assert isinstance(final, ModelResponse)
    thinking = [b for b in final.msg.content if isinstance(b, ThinkingBlock)]
    assert thinking == [ThinkingBlock(thinking="Let me think.", signature="sig-xyz")]
    assert anthropic_server.requests[0].body["thinking"] == {
        "type": "enabled",
        "budget_tokens": 2048,
    }
    await model.complete([Msg.user("meaning?"), final.msg, Msg.user("sure?")])
    sent = anthropic_server.requests[1].body["messages"]
    assert sent[1]["content"][0] == {
        "type": "thinking",
        "thinking": "Let me think.",
        "signature": "sig-xyz",
    }


async def test_tool_results_go_in_a_user_turn(anthropic_server: FakeAnthropicServer) -> None:
    history = [
        Msg.user("look"),
        Msg.assistant([ToolUseBlock(id="t1", name="shot", input={})]),
        Msg(
            role="tool",
            content=[
                ToolResultBlock(
                    tool_use_id="t1",
                    content=[
                        TextBlock(text="screenshot"),
                        ImageBlock(data="aGk=", media_type="image/png"),
                    ],
                )
            ],
        ),
        Msg(
            role="tool",
            content=[
                ToolResultBlock(tool_use_id="t2", content=[TextBlock(text="no")], is_error=True)
            ],
        ),
        Msg.user("and?"),
    ]
    await make(anthropic_server).complete(history)
    sent = anthropic_server.requests[0].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    last = sent[2]["content"]
    assert last[0]["type"] == "tool_result" and last[0]["tool_use_id"] == "t1"
    assert last[0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "aGk="},
    }
    assert last[1]["is_error"] is True
    assert last[2] == {"type": "text", "text": "and?"}


async def test_structured_output_uses_a_forced_tool(anthropic_server: FakeAnthropicServer) -> None:
    class Answer(BaseModel):
        value: int

    anthropic_server.script(Reply(tool_calls=[("toolu_9", "Answer", '{"value": 7}')]))
    reply = await make(anthropic_server).complete([Msg.user("7?")], response_format=Answer)
    assert Answer.model_validate_json(reply.msg.text).value == 7
    assert reply.msg.tool_uses == [] and reply.stop_reason == "end_turn"
    body = anthropic_server.requests[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "Answer"}
    assert body["tools"][0]["input_schema"]["properties"]["value"]["type"] == "integer"


async def test_overloaded_529_is_retried_then_succeeds(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.script(Fail(529, "Overloaded"), Reply(text="ok"))
    assert (await make(anthropic_server).complete([Msg.user("hi")])).msg.text == "ok"
    assert len(anthropic_server.requests) == 2


async def test_400_is_rejected_without_retry(anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.script(Fail(400, "messages: roles must alternate"))
    with pytest.raises(ModelRequestRejected) as info:
        await make(anthropic_server).complete([Msg.user("hi")])
    assert "roles must alternate" in info.value.message
    assert len(anthropic_server.requests) == 1


async def test_malformed_event_is_bad_response(anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.script(Malformed("Half a"))
    with pytest.raises(ModelBadResponse) as info:
        await make(anthropic_server).complete([Msg.user("hi")])
    assert info.value.details["partial_text"] == "Half a"


async def test_error_event_mid_stream_is_unavailable(anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.script(StreamError("overloaded_error", "Overloaded", text_before="So"))
    with pytest.raises(ModelUnavailable) as info:
        await make(anthropic_server).complete([Msg.user("hi")])
    assert info.value.details["partial_text"] == "So"
    assert len(anthropic_server.requests) == 1


async def test_tool_call_events_carry_parsed_input(anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.script(Reply(tool_calls=[("toolu_2", "search", json.dumps({"q": "é"}))]))
    events = [e async for e in make(anthropic_server).stream([Msg.user("x")], tools=[SEARCH])]
    assert [e.input for e in events if isinstance(e, ToolCallFinished)] == [{"q": "é"}]


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        AnthropicChatModel("claude-3-5-haiku-latest")
    assert "ANTHROPIC_API_KEY" in str(info.value)
    with pytest.raises(ConfigError):
        AnthropicChatModel("claude", api_key="k", thinking_budget=8000, max_tokens=4096)
    model = AnthropicChatModel("claude", api_key="sk-ant-secret")
    assert "sk-ant-secret" not in repr(model)


def test_structured_output_with_thinking_asks_for_the_tool_instead_of_forcing_it() -> None:
    class Answer(BaseModel):
        value: int

    model = AnthropicChatModel("claude-sonnet-4", api_key="k", thinking_budget=2048)
    body, tool_name = model.build_body(
        [Msg.system("Be exact."), Msg.user("7?")], ModelRequest(response_format=Answer)
    )
    assert tool_name == "Answer"
    assert body["tool_choice"] == {"type": "auto"}
    assert body["system"].startswith("Be exact.") and "'Answer'" in body["system"]
    with pytest.raises(ConfigError):
        schema = {"type": "json_schema", "json_schema": {"schema": {"type": "array"}}}
        model.build_body([Msg.user("x")], ModelRequest(response_format=schema))


async def test_prompt_cache_breakpoints(anthropic_server: FakeAnthropicServer) -> None:
    model = make(anthropic_server, cache_prompt=True)
    await model.complete([Msg.system("Long instructions."), Msg.user("hi")], tools=[SEARCH])
    body = anthropic_server.requests[0].body
    ephemeral = {"type": "ephemeral"}
    assert body["system"] == [
        {"type": "text", "text": "Long instructions.", "cache_control": ephemeral}
    ]
    assert body["tools"][-1]["cache_control"] == ephemeral
    assert body["messages"][-1]["content"][-1]["cache_control"] == ephemeral


def test_message_conversion_merges_turns_and_drops_unsigned_thinking() -> None:
    from roost.core import DataBlock
    from roost.models.anthropic import to_anthropic_messages

    system, turns = to_anthropic_messages(
        [
            Msg.system("A"),
            Msg.user([ImageBlock(url="https://x/cat.png"), DataBlock(data={"k": 1})]),
            Msg.user("second"),
            Msg.assistant([ThinkingBlock(thinking="from another provider"), TextBlock(text="ok")]),
            Msg.system("B"),
        ]
    )
    assert system == "A\n\nB"
    assert turns == [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}},
                {"type": "text", "text": '{"k": 1}'},
                {"type": "text", "text": "second"},
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    ]
