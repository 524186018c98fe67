from __future__ import annotations

import pytest

from roost.core import Msg, NotFound
from roost.store import (
    InvalidCursor,
    InvalidStoreArgument,
    RunNotFound,
    SessionExists,
    SessionNotFound,
    Store,
)


async def test_create_and_get_session_round_trips_fields(store: Store) -> None:
    created = await store.create_session(
        app="demo", agent="helper", user_id="u1", tenant_id="t1", metadata={"k": [1, "x"]}
    )
    got = await store.get_session(created.id)
    assert got == created
    assert got.id.startswith("ses_")
    assert got.metadata == {"k": [1, "x"]}
    assert got.created_at.tzinfo is not None


async def test_get_unknown_session_raises_session_not_found(store: Store) -> None:
    with pytest.raises(SessionNotFound) as info:
        await store.get_session("ses_missing")
    assert info.value.code == "session_not_found"
    assert isinstance(info.value, NotFound) and info.value.status == 404


async def test_client_chosen_session_id_is_unique_and_validated(store: Store) -> None:
    await store.create_session(app="demo", session_id="chat-42")
    with pytest.raises(SessionExists):
        await store.create_session(app="demo", session_id="chat-42")
    with pytest.raises(InvalidStoreArgument):
        await store.create_session(app="demo", session_id="bad id; drop table")


async def test_update_session_changes_only_given_fields(store: Store) -> None:
    s = await store.create_session(app="demo", metadata={"a": 1})
    updated = await store.update_session(s.id, title="Trip planning")
    assert updated.title == "Trip planning"
    assert updated.metadata == {"a": 1}
    assert updated.updated_at >= s.updated_at


async def test_list_sessions_pages_newest_first_with_filters(store: Store) -> None:
    ids = [(await store.create_session(app="demo", user_id="u1")).id for _ in range(5)]
    await store.create_session(app="demo", user_id="u2")
    page1 = await store.list_sessions(user_id="u1", limit=2)
    page2 = await store.list_sessions(user_id="u1", limit=2, cursor=page1.next_cursor)
    page3 = await store.list_sessions(user_id="u1", limit=2, cursor=page2.next_cursor)
    seen = [s.id for p in (page1, page2, page3) for s in p.items]
    assert seen == list(reversed(ids))
    assert page3.next_cursor is None
    with pytest.raises(InvalidCursor):
        await store.list_sessions(cursor="not-a-cursor")


async def test_delete_session_cascades_to_messages_states_runs_and_events(store: Store) -> None:
    s = await store.create_session(app="demo")
    keep = await store.create_session(app="demo")
    run = await store.create_run(session_id=s.id, status="running")
    user = Msg.user("hello")
    await store.append_messages(s.id, [user], run_id=run.id)
    await store.append_messages(keep.id, [Msg.user("stays")])
    await store.save_state(s.id, "helper", {"memory": [1]})
    await store.append_events(run.id, [(0, "reply.started", {"msg_id": "m"})])

    await store.delete_session(s.id)

    with pytest.raises(SessionNotFound):
        await store.get_session(s.id)
    with pytest.raises(RunNotFound):
        await store.get_run(run.id)
    with pytest.raises(RunNotFound):
        await store.list_events(run.id)
    with pytest.raises(NotFound):
        await store.get_message(user.id)
    assert await store.load_state(s.id, "helper") is None
    assert [m.text for m in (await store.list_messages(keep.id)).items] == ["stays"]
    with pytest.raises(SessionNotFound):
        await store.delete_session(s.id)


async def test_agent_state_is_versioned_and_checked(store: Store) -> None:
    s = await store.create_session(app="demo")
    assert await store.load_state(s.id, "helper") is None
    assert await store.save_state(s.id, "helper", {"memory": ["a"]}) == 1
    assert await store.save_state(s.id, "helper", {"memory": ["a", "b"]}) == 2
    assert await store.load_state(s.id, "helper") == {"memory": ["a", "b"]}
    assert await store.save_state(s.id, "other", {"x": 1}, expected_version=0) == 1
    from roost.store import StateVersionConflict

    with pytest.raises(StateVersionConflict) as info:
        await store.save_state(s.id, "helper", {"stale": True}, expected_version=1)
    assert info.value.code == "state_version_conflict"
    assert await store.load_state(s.id, "helper") == {"memory": ["a", "b"]}
    assert await store.save_state(s.id, "helper", {"v": 3}, expected_version=2) == 3
    with pytest.raises(SessionNotFound):
        await store.save_state("ses_missing", "helper", {})


async def test_list_sessions_by_last_activity(store: Store) -> None:
    first = await store.create_session(app="demo", user_id="u-act")
    second = await store.create_session(app="demo", user_id="u-act")
    by_created = await store.list_sessions(user_id="u-act")
    assert [s.id for s in by_created.items] == [second.id, first.id]
    await store.append_messages(first.id, [Msg.user("bump")])
    page = await store.list_sessions(user_id="u-act", order="updated", limit=1)
    assert [s.id for s in page.items] == [first.id]
    rest = await store.list_sessions(
        user_id="u-act", order="updated", limit=1, cursor=page.next_cursor
    )
    assert [s.id for s in rest.items] == [second.id] and rest.next_cursor is None
