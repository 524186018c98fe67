"""Sandbox bindings on every backend: ``Store.sandbox_bindings`` is the sandbox layer's
``SandboxBindingStore`` (the store does not import the sandbox layer; the record type
lives in ``roost.core``)."""

from __future__ import annotations

from roost.core.sandbox_binding import SandboxBinding
from roost.sandbox import SandboxBindingStore
from roost.store import Store


async def test_bindings_are_put_found_touched_and_removed(store: Store) -> None:
    bindings = store.sandbox_bindings
    assert isinstance(bindings, SandboxBindingStore)
    old = SandboxBinding(
        sandbox_id="sbx_a", session_id="s", backend="bwrap", owner="h:1:x", created_at=1.0
    )
    new = SandboxBinding(
        sandbox_id="sbx_b",
        session_id="s",
        backend="bwrap",
        owner="h:2:y",
        created_at=2.0,
        detail={"workdir": "/w", "cgroups": ["/a", "/b"]},
    )
    await bindings.put(old)
    await bindings.put(new)
    found = await bindings.find("s", "base")  # the newest of the session's
    assert found == new
    assert await bindings.find("s", "browser") is None
    assert [b.sandbox_id for b in await bindings.list_bindings()] == ["sbx_a", "sbx_b"]
    assert [b.sandbox_id for b in await bindings.list_bindings(owner="h:1:x")] == ["sbx_a"]
    await bindings.touch("sbx_a", 123.5)
    touched = await bindings.get("sbx_a")
    assert touched is not None and touched.last_used_at == 123.5
    await bindings.put(old.model_copy(update={"session_id": "s2"}))  # replaces it
    assert [b.sandbox_id for b in await bindings.list_bindings()] == ["sbx_a", "sbx_b"]
    assert (await bindings.find("s2", "base")) is not None
    await bindings.remove("sbx_a")
    await bindings.remove("sbx_missing")  # nothing to do
    assert await bindings.get("sbx_a") is None
