"""An embedder from its spec: ``local`` or ``openai:MODEL`` (what knowledge bases record)."""

from __future__ import annotations

from roost.knowledge.embedders import Embedder, OpenAIEmbedder


def resolve_embedder(
    spec: str, *, base_url: str | None = None, api_key: str | None = None
) -> Embedder:
    """``local`` (or ``local:all-MiniLM-L6-v2``) → the offline ONNX embedder;
    ``openai:MODEL`` → an OpenAI-compatible endpoint at ``base_url``."""
    from roost.core import ConfigError

    if spec in ("local", "local:all-MiniLM-L6-v2"):
        from roost.knowledge.local_embedder import OnnxEmbedder

        return OnnxEmbedder()
    if spec.startswith("openai:"):
        if not base_url:
            raise ConfigError(
                f"embedder {spec!r} needs the endpoint's base URL",
                hint="pass --base-url http://host:port/v1 (or ROOST_EMBEDDINGS_BASE_URL)",
            )
        return OpenAIEmbedder(spec.removeprefix("openai:"), base_url=base_url, api_key=api_key)
    raise ConfigError(
        f"unknown embedder {spec!r}", hint="use 'local' or 'openai:MODEL' with a base URL"
    )
