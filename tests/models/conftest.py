"""Fake provider servers (real HTTP on 127.0.0.1) for the model tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_providers import FakeAnthropicServer, FakeOpenAIServer


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture(params=["aiohttp", "httpx"])
def model_http(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a provider test on aiohttp (the default with the ``fast`` extra) and on httpx's
    own transport (``ROOST_MODEL_HTTP=httpx``): their typed errors must be the same."""
    from roost.core.settings import get_settings

    param: str = request.param
    monkeypatch.setenv("ROOST_MODEL_HTTP", param)
    get_settings.cache_clear()
    return param
