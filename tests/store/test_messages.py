from __future__ import annotations

import pytest

from roost.core import Msg, TextBlock, ToolUseBlock
from roost.store import InvalidCursor, MessageIdConflict, SessionNotFound, Store


async def test_append_assigns_increasing_seq_and_round_trips_blocks(store: Store) -> None:
    s = await store.create_session(app="demo")
    msgs = [
        Msg.user("what's the weather?"),
        Msg.assistant([TextBlock(text="checking"), ToolUseBlock(id="c1", name="w", input={})]),
    ]
    records = await store.append_messages(s.id, msgs, run_id="run_x")
    assert [r.seq for r in records] == [1, 2]
    page = await store.list_messages(s.id)
    assert page.items == msgs
    assert page.next_cursor is None
    assert [r.run_id for r in page.records] == ["run_x", "run_x"]
    more = await store.append_messages(s.id, [Msg.user("thanks")])
    assert more[0].seq == 3


async def test_partial_message_upsert_keeps_its_place_then_finalizes(store: Store) -> None:
    s = await store.create_session(app="demo")
    await store.append_messages(s.id, [Msg.user("tell me a story")])
    reply = Msg.assistant("Once")
    first = await store.save_message(s.id, reply, run_id="run_1", partial=True)
    await store.append_messages(s.id, [Msg.user("(typed while streaming)")])
    reply = reply.model_copy(update={"content": [TextBlock(text="Once upon")]})
    again = await store.save_message(s.id, reply, run_id="run_1", partial=True)
    assert again.seq == first.seq == 2
    page = await store.list_messages(s.id)
    assert page.records[1].partial is True
    assert page.items[1].text == "Once upon"
    assert [m.text for m in (await store.list_messages(s.id, include_partial=False)).items] == [
        "tell me a story",
        "(typed while streaming)",
    ]

    reply = reply.model_copy(update={"content": [TextBlock(text="Once upon a time.")]})
    final = await store.save_message(s.id, reply, partial=False)
    assert final.seq == 2 and final.partial is False and final.run_id == "run_1"
    page = await store.list_messages(s.id)
    assert [m.text for m in page.items] == [
        "tell me a story",
        "Once upon a time.",
        "(typed while streaming)",
    ]
    assert not any(r.partial for r in page.records)


async def test_paging_forward_backward_and_latest(store: Store) -> None:
    s = await store.create_session(app="demo")
    await store.append_messages(s.id, [Msg.user(f"m{i}") for i in range(7)])

    forward: list[str] = []
    cursor = None
    while True:
        page = await store.list_messages(s.id, limit=3, after=cursor)
        forward += [m.text for m in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert forward == [f"m{i}" for i in range(7)]

    latest = await store.latest_messages(s.id, limit=3)
    assert [m.text for m in latest.items] == ["m4", "m5", "m6"]
    older = await store.list_messages(s.id, limit=3, before=latest.next_cursor)
    assert [m.text for m in older.items] == ["m1", "m2", "m3"]
    oldest = await store.list_messages(s.id, limit=3, before=older.next_cursor)
    assert [m.text for m in oldest.items] == ["m0"]
    assert oldest.next_cursor is None
    assert len((await store.list_messages(s.id, limit=None)).items) == 7


async def test_message_errors_are_typed(store: Store) -> None:
    s = await store.create_session(app="demo")
    other = await store.create_session(app="demo")
    m = Msg.user("hi")
    await store.append_messages(s.id, [m])
    with pytest.raises(MessageIdConflict):
        await store.append_messages(s.id, [m])
    with pytest.raises(MessageIdConflict):
        await store.save_message(other.id, m)
    with pytest.raises(SessionNotFound):
        await store.append_messages("ses_missing", [Msg.user("x")])
    with pytest.raises(SessionNotFound):
        await store.list_messages("ses_missing")
    with pytest.raises(InvalidCursor):
        await store.list_messages(s.id, after="abc")
    # A failed append leaves nothing behind (one transaction).
    assert [x.text for x in (await store.list_messages(s.id)).items] == ["hi"]
    assert (await store.append_messages(s.id, [Msg.user("next")]))[0].seq == 2
