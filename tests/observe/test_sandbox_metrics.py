"""A real SandboxManager (unsafe-process backend, real subprocesses) metered by observe."""

from __future__ import annotations

import pytest

from roost.observe import RoostMetrics, instrument_sandbox_manager
from roost.observe.metrics import value_of
from roost.sandbox.errors import SandboxPoolExhausted
from roost.sandbox.manager import SandboxManager


async def test_acquires_are_counted_by_result_and_pool_size_is_exported(
    metrics: RoostMetrics,
) -> None:
    async with SandboxManager(backend="unsafe-process", pool_size=1, max_sandboxes=2) as manager:
        instrument_sandbox_manager(manager, metrics)
        instrument_sandbox_manager(manager, metrics)  # idempotent: counted once below
        await manager.start()
        first = await manager.acquire("ses_a")
        again = await manager.acquire("ses_a")
        assert again is first
        await manager.acquire("ses_b")
        with pytest.raises(SandboxPoolExhausted):
            await manager.acquire("ses_c")
        s = metrics.samples()
        assert value_of(s, "roost_sandbox_acquires_total", type="base", result="warm") == 1
        assert value_of(s, "roost_sandbox_acquires_total", type="base", result="reused") == 1
        assert value_of(s, "roost_sandbox_acquires_total", type="base", result="exhausted") == 1
        assert value_of(s, "roost_sandbox_acquires_total", type="base") == 4
        pool = [x for x in s if x.name == "roost_sandbox_pool_size"]
        assert pool and pool[0].label("type") == "base"
