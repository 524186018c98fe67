"""A queued run's input, stored when the run was accepted, moves behind the replies of
the runs that went first once it starts (on SQLite and PostgreSQL)."""

from __future__ import annotations

from roost.core import Msg
from roost.store import MessagePage, Store


def _texts(page: MessagePage) -> list[str]:
    return [m.text for m in page.items]


async def test_a_queued_runs_input_moves_behind_the_reply_of_the_run_before(
    store: Store,
) -> None:
    s = await store.create_session(app="demo")
    first = await store.create_run(
        session_id=s.id, status="running", inputs=[Msg(role="user", content="first")]
    )
    second = await store.create_run(
        session_id=s.id,
        inputs=[Msg(role="user", content="second"), Msg(role="user", content="and more")],
    )
    await store.save_message(s.id, Msg(role="assistant", content="re:first"), run_id=first.id)
    assert _texts(await store.list_messages(s.id)) == ["first", "second", "and more", "re:first"]

    assert await store.resequence_run_messages(s.id, second.id) == 2
    await store.save_message(s.id, Msg(role="assistant", content="re:second"), run_id=second.id)

    page = await store.list_messages(s.id)
    assert _texts(page) == ["first", "re:first", "second", "and more", "re:second"]
    seqs = [r.seq for r in page.records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # the moved input is still the same message, and later appends go after it
    await store.append_messages(s.id, [Msg(role="user", content="next")])
    assert _texts(await store.list_messages(s.id))[-1] == "next"


async def test_a_run_already_last_is_left_in_place(store: Store) -> None:
    s = await store.create_session(app="demo")
    run = await store.create_run(session_id=s.id, inputs=[Msg(role="user", content="hi")])
    await store.save_message(s.id, Msg(role="assistant", content="partial"), run_id=run.id)
    before = await store.list_messages(s.id)

    assert await store.resequence_run_messages(s.id, run.id) == 0
    assert await store.resequence_run_messages(s.id, "run_without_messages") == 0
    after = await store.list_messages(s.id)
    assert [r.seq for r in after.records] == [r.seq for r in before.records]


async def test_a_restarted_run_keeps_its_input_before_its_earlier_reply(store: Store) -> None:
    """A run that was interrupted by a crash and queued again moves as a whole."""
    s = await store.create_session(app="demo")
    crashed = await store.create_run(
        session_id=s.id, status="running", inputs=[Msg(role="user", content="a")]
    )
    await store.create_run(session_id=s.id, inputs=[Msg(role="user", content="b")])
    await store.save_message(
        s.id, Msg(role="assistant", content="a-partial"), run_id=crashed.id, partial=True
    )

    assert await store.resequence_run_messages(s.id, crashed.id) == 2
    assert _texts(await store.list_messages(s.id)) == ["b", "a", "a-partial"]


async def test_a_run_started_over_drops_its_first_attempts_outputs_not_its_input(
    store: Store,
) -> None:
    s = await store.create_session(app="demo")
    other = await store.create_run(session_id=s.id, inputs=[Msg(role="user", content="x")])
    user = Msg(role="user", content="go")
    run = await store.create_run(session_id=s.id, status="running", inputs=[user])
    await store.save_message(s.id, Msg(role="assistant", content="t0 t1"), run_id=run.id)
    await store.save_message(
        s.id, Msg(role="assistant", content="t0 t1 t2"), run_id=run.id, partial=True
    )
    await store.save_message(s.id, Msg(role="assistant", content="re:x"), run_id=other.id)

    assert await store.discard_run_outputs(run.id, keep=[user.id]) == 2
    assert _texts(await store.list_messages(s.id)) == ["x", "go", "re:x"]
    assert await store.discard_run_outputs(run.id, keep=[user.id]) == 0
