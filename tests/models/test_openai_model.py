"""OpenAIChatModel against a real OpenAI-protocol server on loopback."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import BaseModel

from fake_providers import (
    AppServer,
    Drop,
    Fail,
    FakeOpenAIServer,
    Malformed,
    Reply,
    Stall,
    StreamError,
    Whole,
)
from roost.core import (
    ConfigError,
    DataBlock,
    ImageBlock,
    ModelBadResponse,
    ModelRateLimited,
    ModelRequestRejected,
    ModelResponse,
    ModelTimeout,
    ModelUnavailable,
    Msg,
    TextBlock,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    UsageEvent,
)
from roost.models import OpenAIChatModel, RetryPolicy

# every test runs on both HTTP transports: aiohttp (the `fast` extra) and httpx's own
pytestmark = pytest.mark.usefixtures("model_http")

FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
WEATHER = ToolSpec(
    name="get_weather",
    description="Weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def make(server: FakeOpenAIServer, **kw: object) -> OpenAIChatModel:
    kw.setdefault("retry", FAST)
    return OpenAIChatModel("gpt-4o-mini", base_url=server.url, api_key="sk-test-secret", **kw)  # type: ignore[arg-type]


async def test_streams_text_and_final_message_with_usage_and_cost(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.script(Reply(text="Hello there, friend!", usage=(1000, 2000)))
    model = make(openai_server)
    events = [e async for e in model.stream([Msg.user("hi")])]
    deltas = [e.delta for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and "".join(deltas) == "Hello there, friend!"
    final = events[-1]
    assert isinstance(final, ModelResponse)
    assert final.msg.text == "Hello there, friend!"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 1000 and final.usage.output_tokens == 2000
    # gpt-4o-mini: 0.15 $/M input, 0.60 $/M output
    assert final.usage.cost == pytest.approx(0.00015 + 0.0012)
    assert final.usage.currency == "USD"
    assert final.msg.metadata["provider"] == "openai"
    assert sum(isinstance(e, UsageEvent) for e in events) == 1
    body = openai_server.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert openai_server.requests[0].headers["authorization"] == "Bearer sk-test-secret"


async def test_tool_call_arguments_split_across_chunks_are_assembled(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.script(
        Reply(
            text="Let me check.",
            tool_calls=[
                ("call_1", "get_weather", '{"city": "Paris"}'),
                ("call_2", "get_weather", '{"city": "Hangzhou"}'),
            ],
            chunk_size=4,
        )
    )
    model = make(openai_server)
    events = [
        e
        async for e in model.stream(
            [Msg.user("weather?")], tools=[WEATHER], tool_choice="get_weather"
        )
    ]
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(e.call_id, e.name) for e in started] == [
        ("call_1", "get_weather"),
        ("call_2", "get_weather"),
    ]
    assert sum(isinstance(e, ToolCallDelta) for e in events) >= 8
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [e.input for e in finished] == [{"city": "Paris"}, {"city": "Hangzhou"}]
    final = events[-1]
    assert isinstance(final, ModelResponse) and final.stop_reason == "tool_use"
    assert [b.input for b in final.msg.tool_uses] == [{"city": "Paris"}, {"city": "Hangzhou"}]
    body = openai_server.requests[0].body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city.",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


async def test_history_with_tool_calls_results_and_images_is_converted(
    openai_server: FakeOpenAIServer,
) -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    history = [
        Msg.system("Be brief."),
        Msg.user(
            [
                TextBlock(text="What is in this picture?"),
                ImageBlock.from_bytes(png, "image/png"),
                ImageBlock(url="https://example.com/cat.jpg"),
            ]
        ),
        Msg.assistant(
            [
                TextBlock(text="Checking."),
                ToolUseBlock(id="c1", name="describe", input={"n": 1}),
                ToolUseBlock(id="c2", name="chart", input={}),
            ]
        ),
        Msg(
            role="tool",
            content=[
                ToolResultBlock(
                    tool_use_id="c1",
                    name="describe",
                    content=[DataBlock(data={"animal": "cat"})],
                ),
                ToolResultBlock(
                    tool_use_id="c2",
                    name="chart",
                    content=[TextBlock(text="see chart"), ImageBlock.from_bytes(png, "image/png")],
                    is_error=False,
                ),
            ],
        ),
        Msg(
            role="tool",
            content=[
                ToolResultBlock(
                    tool_use_id="c3",
                    content=[TextBlock(text="boom")],
                    is_error=True,
                    code="tool_timeout",
                )
            ],
        ),
    ]
    await make(openai_server).complete(history)
    sent = openai_server.requests[0].body["messages"]
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["content"] == [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": data_url}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    assert sent[2]["role"] == "assistant" and sent[2]["content"] == "Checking."
    assert [c["id"] for c in sent[2]["tool_calls"]] == ["c1", "c2"]
    assert json.loads(sent[2]["tool_calls"][0]["function"]["arguments"]) == {"n": 1}
    assert sent[3] == {"role": "tool", "tool_call_id": "c1", "content": '{"animal": "cat"}'}
    assert sent[4]["role"] == "tool" and sent[4]["tool_call_id"] == "c2"
    assert sent[4]["content"].startswith("see chart")
    # the tool's image follows as a user message, since tool messages carry only text
    assert sent[5]["role"] == "user"
    assert {"type": "image_url", "image_url": {"url": data_url}} in sent[5]["content"]
    assert sent[6] == {
        "role": "tool",
        "tool_call_id": "c3",
        "content": "Error (tool_timeout): boom",
    }


async def test_response_format_from_pydantic_class_and_json_object(
    openai_server: FakeOpenAIServer,
) -> None:
    class City(BaseModel):
        name: str
        population: int

    openai_server.script(Reply(text='{"name": "Paris", "population": 2100000}'), Reply(text="{}"))
    model = make(openai_server)
    reply = await model.complete([Msg.user("a city")], response_format=City)
    assert City.model_validate_json(reply.msg.text).name == "Paris"
    fmt = openai_server.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "City"
    assert fmt["json_schema"]["schema"]["properties"]["population"]["type"] == "integer"
    await model.complete([Msg.user("x")], response_format={"type": "json_object"})
    assert openai_server.requests[1].body["response_format"] == {"type": "json_object"}


async def test_reasoning_content_becomes_thinking(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply(thinking="2+2 is 4.", text="4"))
    events = [e async for e in make(openai_server).stream([Msg.user("2+2?")])]
    assert "".join(e.delta for e in events if isinstance(e, ThinkingDelta)) == "2+2 is 4."
    final = events[-1]
    assert isinstance(final, ModelResponse)
    assert final.msg.thinking == "2+2 is 4." and final.msg.text == "4"


async def test_missing_usage_is_estimated_and_marked(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply(text="x" * 40, usage=None))
    reply = await make(openai_server).complete([Msg.user("y" * 400)])
    assert reply.usage.output_tokens == 10
    assert reply.usage.input_tokens > 100
    assert reply.msg.metadata["usage_estimated"] is True


async def test_rate_limit_with_retry_after_is_retried(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Fail(429, "slow down", retry_after=0.3), Reply(text="ok"))
    reply = await make(openai_server).complete([Msg.user("hi")])
    assert reply.msg.text == "ok"
    first, second = openai_server.requests
    assert second.at - first.at >= 0.25  # waited as the server asked


async def test_persistent_500_raises_typed_error_after_retries(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.script(*[Fail(500, "kaput")] * 3)
    with pytest.raises(ModelUnavailable) as info:
        await make(openai_server).complete([Msg.user("hi")])
    assert len(openai_server.requests) == 3
    assert info.value.code == "model_unavailable"
    assert "kaput" in info.value.message
    assert info.value.details["attempts"] == 3


async def test_400_is_not_retried(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Fail(400, "bad tool schema"), Reply(text="never"))
    with pytest.raises(ModelRequestRejected) as info:
        await make(openai_server).complete([Msg.user("hi")])
    assert len(openai_server.requests) == 1
    assert info.value.code == "model_request_rejected"
    assert "bad tool schema" in str(info.value)


async def test_429_exhausted_is_rate_limited(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(*[Fail(429, retry_after=0)] * 3)
    with pytest.raises(ModelRateLimited):
        await make(openai_server).complete([Msg.user("hi")])
    assert len(openai_server.requests) == 3


async def test_malformed_chunk_is_bad_response_with_partial_text(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.script(Malformed("Partial answer"))
    events = []
    with pytest.raises(ModelBadResponse) as info:
        async for event in make(openai_server).stream([Msg.user("hi")]):
            events.append(event)
    assert info.value.code == "model_bad_response"
    assert info.value.details["partial_text"] == "Partial answer"
    assert [e.delta for e in events if isinstance(e, TextDelta)] == ["Partial answer"]
    assert len(openai_server.requests) == 1  # output was already yielded: no retry


async def test_stream_cut_after_output_is_not_retried(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Drop("half"), Reply(text="whole"))
    with pytest.raises(ModelUnavailable) as info:
        await make(openai_server).complete([Msg.user("hi")])
    assert info.value.details["partial_text"] == "half"
    assert len(openai_server.requests) == 1


async def test_error_event_in_stream_is_typed(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(
        StreamError(kind="rate_limit_exceeded", message="too many", text_before="ab")
    )
    with pytest.raises(ModelRateLimited) as info:
        await make(openai_server).complete([Msg.user("hi")])
    assert info.value.details["partial_text"] == "ab"


async def test_error_event_before_output_is_retried(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(StreamError(kind="server_error"), Reply(text="fine"))
    assert (await make(openai_server).complete([Msg.user("hi")])).msg.text == "fine"
    assert len(openai_server.requests) == 2


async def test_timeout_raises_model_timeout(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Stall(3.0), Stall(3.0))
    model = make(openai_server, timeout=0.3, retry=RetryPolicy(max_retries=1, base_delay=0.01))
    with pytest.raises(ModelTimeout) as info:
        await model.complete([Msg.user("hi")])
    assert info.value.code == "model_timeout"
    assert len(openai_server.requests) == 2  # a timeout before any output is retried


async def test_unreachable_server_is_unavailable() -> None:
    model = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", retry=RetryPolicy(max_retries=0))
    with pytest.raises(ModelUnavailable) as info:
        await model.complete([Msg.user("hi")])
    assert "127.0.0.1:9" in info.value.message


async def test_api_key_never_leaks(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Fail(401, "Incorrect API key provided: sk-test-secret"))
    model = make(openai_server)
    assert "sk-test-secret" not in repr(model)
    with pytest.raises(ModelRequestRejected) as info:
        await model.complete([Msg.user("hi")])
    assert "sk-test-secret" not in str(info.value)
    assert "sk-test-secret" not in json.dumps(info.value.to_dict())
    assert "***" in info.value.message


def test_openai_without_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        OpenAIChatModel("gpt-4o")
    assert "OPENAI_API_KEY" in str(info.value)
    with pytest.raises(ConfigError):
        OpenAIChatModel("m", base_url="localhost:8000")


async def test_options_and_provider_name_pass_through(openai_server: FakeOpenAIServer) -> None:
    model = OpenAIChatModel(
        "qwen2.5-7b-instruct",
        base_url=openai_server.url,
        provider="vllm",
        temperature=0.2,
        max_tokens=64,
    )
    reply = await model.complete([Msg.user("hi")], temperature=0.9, seed=7)
    body = openai_server.requests[0].body
    assert body["temperature"] == 0.9 and body["max_tokens"] == 64 and body["seed"] == 7
    assert "authorization" not in openai_server.requests[0].headers
    assert model.provider == "vllm" and reply.msg.metadata["provider"] == "vllm"
    assert reply.usage.cost == 0.0  # self-hosted: no per-token bill


async def test_model_reused_across_event_loops(openai_server: FakeOpenAIServer) -> None:
    import asyncio
    import threading

    model = make(openai_server)
    assert (await model.complete([Msg.user("one")])).msg.text == "echo: one"
    out: list[str] = []

    def other_loop() -> None:
        out.append(asyncio.run(model.complete([Msg.user("two")])).msg.text)

    thread = threading.Thread(target=other_loop)
    thread.start()
    thread.join()
    assert out == ["echo: two"]
    await model.aclose()


async def test_server_answering_without_streaming_is_understood(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.script(
        Whole(
            Reply(
                text="Calling.",
                thinking="hmm",
                tool_calls=[("call_9", "get_weather", '{"city": "Oslo"}')],
                usage=(30, 5),
            )
        )
    )
    events = [e async for e in make(openai_server).stream([Msg.user("x")], tools=[WEATHER])]
    final = events[-1]
    assert isinstance(final, ModelResponse)
    assert final.msg.text == "Calling." and final.msg.thinking == "hmm"
    assert final.msg.tool_uses == [
        ToolUseBlock(id="call_9", name="get_weather", input={"city": "Oslo"})
    ]
    assert final.stop_reason == "tool_use" and final.usage.input_tokens == 30
    assert any(isinstance(e, ToolCallFinished) for e in events)


async def test_invalid_tool_arguments_are_kept_raw(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply(tool_calls=[("c1", "get_weather", '{"city": "Par')]))
    reply = await make(openai_server).complete([Msg.user("x")], tools=[WEATHER])
    (call,) = reply.msg.tool_uses
    assert call.input == {} and call.raw_input == '{"city": "Par'
    # sent back verbatim so the model sees what it produced
    await make(openai_server).complete([Msg.user("x"), reply.msg])
    sent = openai_server.requests[1].body["messages"][1]
    assert sent["tool_calls"][0]["function"]["arguments"] == '{"city": "Par'


async def test_consumer_stopping_early_closes_the_stream_cleanly(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.script(Reply(text="a long answer " * 20, delay=0.02))
    model = make(openai_server)
    stream = model.stream([Msg.user("hi")])
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    # the model (and its connection pool) keeps working after an abandoned stream
    assert (await model.complete([Msg.user("again")])).msg.text == "echo: again"


async def test_server_hanging_mid_stream_is_a_timeout_with_partial_text(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.script(
        Reply(text="abcdefghij", chunk_size=2, stall_after_chunks=2, stall_seconds=5.0)
    )
    model = make(openai_server, timeout=1.5)  # generous: the machine running tests is loaded
    with pytest.raises(ModelTimeout) as info:
        await model.complete([Msg.user("hi")])
    assert info.value.details["partial_text"] == "abcd"
    assert len(openai_server.requests) == 1


def test_audio_input_becomes_an_input_audio_part() -> None:
    from roost.core import AudioBlock
    from roost.models.openai import to_openai_messages

    sent = to_openai_messages(
        [
            Msg.user(
                [TextBlock(text="transcribe"), AudioBlock(data="UklGRg==", media_type="audio/wav")]
            )
        ]
    )
    assert sent[0]["content"][1] == {
        "type": "input_audio",
        "input_audio": {"data": "UklGRg==", "format": "wav"},
    }


async def test_base_url_pointing_at_a_web_page_is_a_clear_bad_response() -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def page(request: object) -> HTMLResponse:
        return HTMLResponse("<html>console</html>")

    app = Starlette(routes=[Route("/{path:path}", page, methods=["GET", "POST"])])
    with AppServer(app) as server:
        model = OpenAIChatModel("m", base_url=server.base, retry=FAST)
        with pytest.raises(ModelBadResponse) as info:
            await model.complete([Msg.user("hi")])
        assert "text/html" in info.value.message and "/v1" in (info.value.hint or "")
