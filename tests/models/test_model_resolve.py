"""Model specs → providers, with clear errors for bad specs and missing keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_providers import FakeOpenAIServer
from roost.core import ConfigError, Msg
from roost.core.settings import get_settings
from roost.models import AnthropicChatModel, OpenAIChatModel, resolve_model


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "DEEPSEEK_API_KEY",
        "DASHSCOPE_API_KEY",
        "DASHSCOPE_BASE_URL",
        "OLLAMA_HOST",
        "VLLM_BASE_URL",
        "ROOST_MODEL_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)


def test_hosted_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-o")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-a")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-d")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-q")
    openai = resolve_model("openai:gpt-4o-mini")
    assert isinstance(openai, OpenAIChatModel) and openai.base_url == "https://api.openai.com/v1"
    claude = resolve_model("anthropic:claude-sonnet-4-20250514", max_tokens=1024)
    assert isinstance(claude, AnthropicChatModel) and claude.max_tokens == 1024
    deepseek = resolve_model("deepseek:deepseek-chat")
    assert isinstance(deepseek, OpenAIChatModel)
    assert (deepseek.provider, deepseek.base_url) == ("deepseek", "https://api.deepseek.com/v1")
    qwen = resolve_model("dashscope:qwen-plus")
    assert qwen.provider == "dashscope" and "compatible-mode" in qwen.base_url  # type: ignore[attr-defined]


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_model("deepseek:deepseek-chat")
    assert "DEEPSEEK_API_KEY" in str(info.value)


def test_self_hosted_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    ollama = resolve_model("ollama:qwen2.5:7b")
    assert isinstance(ollama, OpenAIChatModel)
    assert ollama.model_name == "qwen2.5:7b" and ollama.base_url == "http://127.0.0.1:11434/v1"
    vllm = resolve_model("vllm:Qwen/Qwen2.5-7B-Instruct@http://gpu-1:8000/v1")
    assert isinstance(vllm, OpenAIChatModel)
    assert (vllm.model_name, vllm.base_url, vllm.provider) == (
        "Qwen/Qwen2.5-7B-Instruct",
        "http://gpu-1:8000/v1",
        "vllm",
    )
    with pytest.raises(ConfigError):
        resolve_model("vllm:some-model")
    monkeypatch.setenv("VLLM_BASE_URL", "http://gpu-2:8000/v1")
    assert resolve_model("vllm:some-model").base_url == "http://gpu-2:8000/v1"  # type: ignore[attr-defined]


@pytest.mark.parametrize("spec", ["", "   ", "gpt-4o", "openai:", "bedrock:claude", "ftp://x/v1"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_model(spec)
    assert info.value.code == "config_invalid"
    assert info.value.hint


async def test_base_url_spec_and_roost_model_setting(
    openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROOST_MODEL", f"{openai_server.url}#served-model")
    monkeypatch.setenv("ROOST_MODEL_API_KEY", "local-key")
    get_settings.cache_clear()
    model = resolve_model()
    reply = await model.complete([Msg.user("hello")])
    assert reply.msg.text == "echo: hello"
    request = openai_server.requests[0]
    assert request.body["model"] == "served-model"
    assert request.headers["authorization"] == "Bearer local-key"
    assert model.provider == "openai-compatible"


def test_local_specs_build_the_local_model_lazily(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = resolve_model("local:qwen2.5-coder-0.5b")  # checked for installation on first use
    assert (named.provider, named.model_name) == ("local", "qwen2.5-coder-0.5b")
    with pytest.raises(ConfigError):
        resolve_model("local:no-such-model")
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    monkeypatch.setenv("ROOST_LOCAL_MODEL", str(gguf))
    get_settings.cache_clear()
    model = resolve_model(None)  # ROOST_MODEL unset → the local model, not started yet
    assert (model.provider, model.model_name) == ("local", "tiny")


async def test_comma_separated_specs_form_a_fallback_chain(
    openai_server: FakeOpenAIServer,
) -> None:
    from roost.models import FallbackModel

    chain = resolve_model(f"http://127.0.0.1:9/v1#dead, {openai_server.url}#alive", max_retries=0)
    assert isinstance(chain, FallbackModel)
    assert [m.model_name for m in chain.models] == ["dead", "alive"]
    reply = await chain.complete([Msg.user("hi")])
    assert reply.msg.text == "echo: hi"
    assert reply.msg.metadata["answered_by"] == "openai-compatible:alive"
    with pytest.raises(ConfigError):
        resolve_model("openai:gpt-4o,,local")


async def test_local_model_not_installed_falls_back_to_the_next_spec(
    openai_server: FakeOpenAIServer,
) -> None:
    # ROOST_HOME is a fresh directory (autouse fixture): no local model is installed
    chain = resolve_model(f"local,{openai_server.url}#backup")
    reply = await chain.complete([Msg.user("offline?")])
    assert reply.msg.text == "echo: offline?"
    assert reply.msg.metadata["fallback_errors"][0]["code"] == "model_not_installed"
