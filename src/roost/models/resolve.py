"""``resolve_model``: turn a model spec string (``ROOST_MODEL``, CLI flags, app config)
into a :class:`ChatModel`.

Specs: ``openai:<name>``, ``anthropic:<name>``, ``deepseek:<name>``, ``dashscope:<name>``,
``moonshot:<name>``, ``ollama:<name>``, ``vllm:<name>@<base_url>``, a bare base URL
``http(s)://host:port/v1`` (optionally ``#<model>``), ``local`` or ``local:<catalogue-name>``.
Several specs separated by commas form a fallback chain (``openai:gpt-4o-mini,local``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from roost.core import ConfigError, secret_ref
from roost.core.settings import get_settings
from roost.models.base import ChatModel

SPEC_HELP = (
    "use openai:<model>, anthropic:<model>, deepseek:<model>, dashscope:<model>, "
    "moonshot:<model>, ollama:<model>, vllm:<model>@<base_url>, http(s)://host:port/v1#<model>, "
    "local or local:<catalogue-name>"
)


@dataclass(frozen=True)
class _Hosted:
    base_url: str
    key_env: str
    base_env: str | None = None


_HOSTED: dict[str, _Hosted] = {
    "openai": _Hosted("https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "deepseek": _Hosted("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"),
    "dashscope": _Hosted(
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "DASHSCOPE_API_KEY",
        "DASHSCOPE_BASE_URL",
    ),
    "moonshot": _Hosted("https://api.moonshot.cn/v1", "MOONSHOT_API_KEY", "MOONSHOT_BASE_URL"),
}


def resolve_model(spec: str | None = None, **options: Any) -> ChatModel:
    """Build the model a spec names; ``None`` means ``ROOST_MODEL`` or else the local model.

    ``options`` go to the provider's constructor (``timeout``, ``max_retries``,
    ``temperature`` …). Raises ``ConfigError`` for a bad spec or a missing API key.
    """
    if spec is None:
        spec = get_settings().model or "local"
    spec = spec.strip()
    if not spec:
        raise ConfigError("the model spec is empty", hint=SPEC_HELP)
    if "," in spec:
        from roost.models.fallback import FallbackModel

        parts = [p.strip() for p in spec.split(",")]
        if not all(parts):
            raise ConfigError(f"model spec {spec!r} has an empty entry", hint=SPEC_HELP)
        primary, *fallbacks = (resolve_model(p, **options) for p in parts)
        return FallbackModel(primary, *fallbacks)

    if spec.startswith(("http://", "https://")):
        url, _, name = spec.partition("#")
        return _openai(
            name or "default",
            base_url=url,
            provider="openai-compatible",
            api_key=_model_api_key(),
            options=options,
        )

    kind, sep, name = spec.partition(":")
    kind = kind.lower()
    if kind == "local":
        from roost.models.local import LocalModel

        return LocalModel(name or None, **options)
    if not sep or not name:
        raise ConfigError(f"model spec {spec!r} names no model", hint=SPEC_HELP)
    if kind == "anthropic":
        from roost.models.anthropic import ANTHROPIC_BASE_URL, AnthropicChatModel

        key = _require_key("ANTHROPIC_API_KEY", "anthropic")
        base = os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_BASE_URL
        return AnthropicChatModel(name, base_url=base, api_key=key, **options)
    if kind in _HOSTED:
        hosted = _HOSTED[kind]
        base = (os.environ.get(hosted.base_env) if hosted.base_env else None) or hosted.base_url
        key = _require_key(hosted.key_env, kind)
        return _openai(name, base_url=base, provider=kind, api_key=key, options=options)
    if kind == "ollama":
        host = os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"
        if not host.startswith(("http://", "https://")):
            host = f"http://{host}"
        return _openai(
            name,
            base_url=f"{host.rstrip('/')}/v1",
            provider="ollama",
            api_key=None,
            options=options,
        )
    if kind == "vllm":
        model, _, url = name.partition("@")
        url = url or os.environ.get("VLLM_BASE_URL") or ""
        if not model or not url:
            raise ConfigError(
                f"model spec {spec!r} needs a model and a base URL",
                hint="e.g. vllm:Qwen/Qwen2.5-7B-Instruct@http://gpu-1:8000/v1 (or set VLLM_BASE_URL)",
            )
        vllm_key = secret_ref.resolve_optional(os.environ.get("VLLM_API_KEY")) or _model_api_key()
        return _openai(model, base_url=url, provider="vllm", api_key=vllm_key, options=options)
    raise ConfigError(f"unknown model provider {kind!r} in spec {spec!r}", hint=SPEC_HELP)


def _model_api_key() -> str | None:
    """``ROOST_MODEL_API_KEY``: the key of self-hosted OpenAI-compatible servers."""
    key = get_settings().model_api_key
    return secret_ref.resolve(key.get_secret_value()) if key is not None else None


def _require_key(env: str, provider: str) -> str:
    key = os.environ.get(env)
    if not key:
        raise ConfigError(
            f"the {provider} model needs an API key and {env} is not set",
            hint=f"export {env}=… (or choose another model with ROOST_MODEL)",
        )
    return secret_ref.resolve(key)  # ``secret://NAME``: read from the secret store now


def _openai(
    name: str, *, base_url: str, provider: str, api_key: str | None, options: dict[str, Any]
) -> ChatModel:
    from roost.models.openai import OpenAIChatModel

    return OpenAIChatModel(name, base_url=base_url, api_key=api_key, provider=provider, **options)
