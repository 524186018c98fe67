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
