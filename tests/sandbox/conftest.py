"""Fixtures for the sandbox core tests: real bubblewrap sandboxes on this host."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from roost.sandbox import BwrapSandbox, SandboxLimits, SandboxSpec

SandboxFactory = Callable[..., Awaitable[BwrapSandbox]]


@pytest.fixture
async def make_sandbox() -> AsyncIterator[SandboxFactory]:
    """Start bwrap sandboxes with optional limits; all are closed after the test."""
    made: list[BwrapSandbox] = []

    async def make(network: bool = False, **limits: int | float) -> BwrapSandbox:
        spec = SandboxSpec(network=network, limits=SandboxLimits(**limits))  # type: ignore[arg-type]
        sandbox = BwrapSandbox(spec)
        made.append(sandbox)
        await sandbox.start()
        return sandbox

    yield make
    for sandbox in made:
        await sandbox.close()


@pytest.fixture
async def sandbox(make_sandbox: SandboxFactory) -> BwrapSandbox:
    return await make_sandbox()
