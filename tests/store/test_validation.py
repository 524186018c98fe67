"""Bad input gets a typed error with a stable code on every backend, never a driver error."""

from __future__ import annotations

import pytest

from roost.core import InvalidRequest, Msg
from roost.store import InvalidStoreArgument, RunExists, Store


async def test_too_long_values_are_rejected_the_same_on_every_backend(store: Store) -> None:
    with pytest.raises(InvalidStoreArgument) as info:
        await store.create_session(app="x" * 129)
    assert info.value.code == "invalid_store_argument" and isinstance(info.value, InvalidRequest)
    s = await store.create_session(app="demo")
    with pytest.raises(InvalidStoreArgument):
        await store.append_messages(s.id, [Msg(id="m" * 65, role="user", content="hi")])
    with pytest.raises(InvalidStoreArgument):
        await store.save_state(s.id, "a" * 129, {})
    run = await store.create_run(session_id=s.id, status="running")
    with pytest.raises(InvalidStoreArgument):
        await store.append_events(run.id, [(0, "t" * 65, {})])
    with pytest.raises(RunExists):
        await store.create_run(session_id=s.id, run_id=run.id)


async def test_values_that_are_not_json_are_rejected(store: Store) -> None:
    s = await store.create_session(app="demo")
    run = await store.create_run(session_id=s.id, status="running")
    with pytest.raises(InvalidStoreArgument) as info:
        await store.append_events(run.id, [(0, "x", {"obj": object()})])
    assert "JSON" in (info.value.hint or "")
    assert await store.last_event_seq(run.id) == -1


async def test_nul_characters_in_text_round_trip(store: Store) -> None:
    s = await store.create_session(app="demo", metadata={"note": "a\x00b"})
    await store.append_messages(s.id, [Msg.user("before\x00after")])
    assert (await store.list_messages(s.id)).items[0].text == "before\x00after"
    assert (await store.get_session(s.id)).metadata == {"note": "a\x00b"}


async def test_bad_limits_are_rejected(store: Store) -> None:
    s = await store.create_session(app="demo")
    for bad in (0, -1, 10_001):
        with pytest.raises(InvalidStoreArgument):
            await store.list_messages(s.id, limit=bad)
    with pytest.raises(InvalidStoreArgument):
        await store.list_runs(status="exploded")  # type: ignore[arg-type]
