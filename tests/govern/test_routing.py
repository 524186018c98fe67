"""Privacy routing: sensitive prompts and confidential tenants reach only private models;
the decision is an event of the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_providers import FakeOpenAIServer
from roost.agents import ReActAgent
from roost.core import ErrorEvent, Msg, PolicyApplied
from roost.govern.dlp import DlpPolicy, Redactor
from roost.govern.routing import PrivacyRouter, is_private
from roost.models import ScriptedModel
from roost.models.fallback import FallbackModel
from roost.models.openai import OpenAIChatModel


@pytest.fixture
def public() -> Iterator[tuple[FakeOpenAIServer, OpenAIChatModel]]:
    with FakeOpenAIServer() as server:
        model = OpenAIChatModel("gpt-public", base_url=server.url, api_key="k")
        model.private = False  # type: ignore[attr-defined]  # loopback, but stands for a public API
        yield server, model


async def _events(agent: ReActAgent, text: str) -> list[object]:
    return [e async for e in agent.reply(Msg.user(text))]


async def test_sensitive_prompt_is_rerouted_to_the_private_model(
    public: tuple[FakeOpenAIServer, OpenAIChatModel],
) -> None:
    server, model = public
    local = ScriptedModel([ScriptedModel.text("handled on-premise")], model_name="qwen-local")
    agent = ReActAgent("a", PrivacyRouter(FallbackModel(model, local)))
    events = await _events(agent, "我的身份证号是11010519491231002X，帮我查社保")
    decision = next(e for e in events if isinstance(e, PolicyApplied))
    assert (decision.action, decision.reason, decision.kinds) == (
        "rerouted",
        "sensitive_data",
        ["cn_id"],
    )
    assert decision.model == "scripted:qwen-local" and decision.avoided == "openai:gpt-public"
    assert server.requests == []  # nothing reached the public endpoint
    assert events[-1].msg.text == "handled on-premise"  # type: ignore[attr-defined]


async def test_clean_prompt_goes_to_the_public_model(
    public: tuple[FakeOpenAIServer, OpenAIChatModel],
) -> None:
    server, model = public
    agent = ReActAgent("a", PrivacyRouter(model, ScriptedModel([ScriptedModel.text("x")])))
    events = await _events(agent, "summarise the release notes")
    assert not any(isinstance(e, PolicyApplied) for e in events)
    assert len(server.requests) == 1


async def test_confidential_tenant_without_private_model_is_refused(
    public: tuple[FakeOpenAIServer, OpenAIChatModel],
) -> None:
    server, model = public
    agent = ReActAgent("a", PrivacyRouter(model, confidential=True))
    events = await _events(agent, "hello")
    decision = next(e for e in events if isinstance(e, PolicyApplied))
    assert (decision.action, decision.reason) == ("refused", "confidential_tenant")
    error = next(e for e in events if isinstance(e, ErrorEvent))
    assert error.code == "prompt_blocked_by_policy"
    assert server.requests == []


async def test_mask_policy_sends_the_redacted_prompt(
    public: tuple[FakeOpenAIServer, OpenAIChatModel],
) -> None:
    server, model = public
    redactor = Redactor(DlpPolicy.from_document({"actions": {"prompts": "mask"}}))
    agent = ReActAgent("a", PrivacyRouter(model, redactor=redactor))
    events = await _events(agent, "call 13812345678 about the invoice")
    assert next(e for e in events if isinstance(e, PolicyApplied)).action == "redacted"
    sent = str(server.requests[0].body)
    assert "13812345678" not in sent and "138****5678" in sent


def test_which_models_are_private() -> None:
    assert is_private(ScriptedModel([]))
    assert is_private(OpenAIChatModel("m", base_url="http://10.0.0.5:8000/v1", api_key="k"))
    assert is_private(OpenAIChatModel("m", base_url="http://vllm.ai.svc:8000/v1", api_key="k"))
    assert not is_private(OpenAIChatModel("m", base_url="https://api.deepseek.com/v1", api_key="k"))
