"""FallbackModel over real provider servers and the scripted model."""

from __future__ import annotations

import pytest

from fake_providers import Fail, FakeOpenAIServer, Reply
from roost.core import ConfigError, ModelRequestRejected, ModelUnavailable, Msg, TextDelta
from roost.models import FallbackModel, OpenAIChatModel, RetryPolicy, ScriptedModel
from roost.models.scripted import ScriptedReply

NO_RETRY = RetryPolicy(max_retries=0)


def model_for(server: FakeOpenAIServer, name: str) -> OpenAIChatModel:
    return OpenAIChatModel(name, base_url=server.url, api_key="k", retry=NO_RETRY)


async def test_falls_back_when_primary_is_down_and_records_who_answered(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.script(Fail(503, "down"), Reply(text="from backup"))
    chain = FallbackModel(model_for(openai_server, "primary"), model_for(openai_server, "backup"))
    reply = await chain.complete([Msg.user("hi")])
    assert reply.msg.text == "from backup"
    assert reply.msg.metadata["answered_by"] == "openai:backup"
    assert reply.msg.metadata["fallback_errors"][0]["code"] == "model_unavailable"
    assert chain.last_model is chain.models[1]
    assert [r.body["model"] for r in openai_server.requests] == ["primary", "backup"]


async def test_unreachable_primary_falls_back(openai_server: FakeOpenAIServer) -> None:
    dead = OpenAIChatModel("dead", base_url="http://127.0.0.1:9/v1", retry=NO_RETRY)
    chain = FallbackModel(dead, model_for(openai_server, "alive"))
    reply = await chain.complete([Msg.user("ping")])
    assert reply.msg.text == "echo: ping"
    assert reply.msg.metadata["answered_by"] == "openai:alive"


async def test_rejected_request_does_not_fall_back(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Fail(400, "bad request"))
    chain = FallbackModel(model_for(openai_server, "a"), model_for(openai_server, "b"))
    with pytest.raises(ModelRequestRejected):
        await chain.complete([Msg.user("hi")])
    assert len(openai_server.requests) == 1


async def test_failure_after_output_is_not_replayed_on_the_fallback() -> None:
    broken = ScriptedModel(
        [ScriptedReply(text="abcdefgh", error=ModelUnavailable("cut"), error_after_chunks=2)],
        model_name="broken",
    )
    backup = ScriptedModel(["never"], model_name="backup")
    chain = FallbackModel(broken, backup)
    seen: list[str] = []
    with pytest.raises(ModelUnavailable):
        async for event in chain.stream([Msg.user("x")]):
            if isinstance(event, TextDelta):
                seen.append(event.delta)
    assert seen and backup.calls == []


async def test_all_models_failing_raises_the_last_error_with_history(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.script(Fail(500), Fail(502))
    chain = FallbackModel(model_for(openai_server, "a"), model_for(openai_server, "b"))
    with pytest.raises(ModelUnavailable) as info:
        await chain.complete([Msg.user("hi")])
    assert info.value.details["fallback_errors"][0]["model"] == "openai:a"


def test_needs_a_fallback() -> None:
    with pytest.raises(ConfigError):
        FallbackModel(ScriptedModel(["x"]))
