"""Replay: a stored run reproduces its events exactly; against another version, the
transcripts are diffed."""

from __future__ import annotations

from roost.core import Msg
from roost.evals.replay import canonical, replay_run, stored_events

from .apps import make_app


async def _run(app, agent: str, text: str) -> str:
    services = app.services
    session = await services.store.create_session(app="t", agent=agent, user_id="u1")
    handle = await services.executor.start(session, [Msg.user(text)])
    await handle.done.wait()
    return handle.id


async def test_a_replay_reproduces_the_stored_events_byte_for_byte(tmp_path):
    app = make_app(store_url=f"sqlite:///{tmp_path / 'r.db'}")
    await app.startup()
    try:
        run_id = await _run(app, "calc@v1", "What is 20 plus 22?")
        run = await app.store.get_run(run_id)
        result = await replay_run(app.services, run)
        assert result["mode"] == "deterministic"
        assert result["identical"], result["diff"]
        assert result["tools"] == {"recorded": 1, "live": 0}
        assert result["transcript"]["replayed"][-1] == "assistant: The answer is 42."
        # the comparison is of the full event stream, not only the transcript
        events = stored_events(await app.store.list_events(run_id))
        assert canonical(events).count("\n") + 1 == result["events"]["recorded"] > 5

        other = await replay_run(app.services, run, against="calc@v2")
        assert other["mode"] == "live" and not other["identical"]
        assert "+assistant: I think it is 4." in other["diff"]
    finally:
        await app.shutdown()


async def test_a_session_replays_run_by_run(tmp_path):
    from roost.evals.replay import replay_session

    app = make_app(store_url=f"sqlite:///{tmp_path / 's.db'}")
    await app.startup()
    try:
        services = app.services
        session = await services.store.create_session(app="t", agent="calc@v1", user_id="u1")
        for text in ("What is 1 plus 1?", "And 2 plus 3?"):
            handle = await services.executor.start(session, [Msg.user(text)])
            await handle.done.wait()
        result = await replay_session(services, session.id)
        assert result["identical"] and len(result["runs"]) == 2
        assert result["runs"][1]["transcript"]["recorded"][-1] == "assistant: The answer is 5."
    finally:
        await app.shutdown()
