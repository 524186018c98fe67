"""Encryption at rest per tenant: content sealed in the database, everything that reads
it (pages, resume, state, traces) unchanged, a backup alone reveals nothing."""

from __future__ import annotations

import pytest

from roost.core import Msg, RoostError
from roost.govern.keyring import LocalKeyring
from roost.govern.protection import DataProtection, TenantSealer
from roost.store import Store
from roost.store.errors import ContentSealed
from roost.store.traces import SpanRecord

SECRET = "the launch code is 0451-ZEBRA"


async def _run_of(store: Store, tenant: str) -> tuple[str, str]:
    s = await store.create_session(app="a", user_id="u", tenant_id=tenant)
    run = await store.create_run(session_id=s.id, status="running", inputs=[Msg.user(SECRET)])
    reply = Msg.assistant(f"noted: {SECRET}")
    await store.flush_run(run.id, [(0, "reply.delta", {"delta": SECRET})], reply, session_id=s.id)
    await store.flush_run(
        run.id,
        [(1, "tool.result", {"output": SECRET})],
        reply,
        partial=False,
        session_id=s.id,
        status="succeeded",
        state=("agent", {"memory": [SECRET]}),
    )
    await store.insert_spans(
        [
            SpanRecord(
                trace_id=run.id.encode().hex()[-32:].rjust(32, "0"),
                span_id="0" * 15 + "1",
                name="chat",
                start_ns=1,
                end_ns=2,
                run_id=run.id,
                session_id=s.id,
                tenant_id=tenant,
                attributes={"gen_ai.prompt": SECRET},
                events=[{"name": "x", "attributes": {"c": SECRET}}],
            )
        ]
    )
    return s.id, run.id


async def _raw_contents(store: Store, tenant: str) -> list[str]:
    stmts = [
        "SELECT m.content AS v FROM messages m JOIN sessions s ON s.id = m.session_id"
        " WHERE s.tenant_id = :t",
        "SELECT e.payload AS v FROM run_events e JOIN runs r ON r.id = e.run_id"
        " WHERE r.tenant_id = :t",
        "SELECT a.state AS v FROM agent_states a JOIN sessions s ON s.id = a.session_id"
        " WHERE s.tenant_id = :t",
        "SELECT attributes AS v FROM spans WHERE tenant_id = :t",
        "SELECT events AS v FROM spans WHERE tenant_id = :t",
    ]
    out: list[str] = []
    for stmt in stmts:
        found = await store.backend.read(lambda tx, q=stmt: tx.rows(q, {"t": tenant}))
        out += [str(r["v"]) for r in found]
    return out


async def test_sealed_tenant_content_is_ciphertext_and_reads_back(
    store: Store, keys: LocalKeyring
) -> None:
    protection = DataProtection(store, keys)
    await protection.set_policy("acme", encrypt=True)
    sid, rid = await _run_of(store, "acme")
    clear_sid, _ = await _run_of(store, "other")

    raw = await _raw_contents(store, "acme")
    assert len(raw) == 7 and not any("0451" in v for v in raw)
    assert all("$sealed" in v for v in raw)
    assert any("0451" in v for v in await _raw_contents(store, "other"))

    page = await store.list_messages(sid, limit=1)
    assert page.items[0].text == SECRET and page.next_cursor is not None
    rest = await store.list_messages(sid, after=page.next_cursor)
    assert rest.items[0].text == f"noted: {SECRET}"
    assert [e.payload for e in await store.list_events(rid, after_seq=0)] == [{"output": SECRET}]
    assert await store.load_state(sid, "agent") == {"memory": [SECRET]}
    spans = await store.spans_for_run(rid)
    assert spans[0].attributes == {"gen_ai.prompt": SECRET}
    assert spans[0].events[0]["attributes"] == {"c": SECRET}
    assert (await store.list_messages(clear_sid)).items[0].text == SECRET


async def test_a_run_does_no_lookup_once_its_session_is_known(
    store: Store, keys: LocalKeyring
) -> None:
    protection = DataProtection(store, keys)
    await protection.set_policy("acme", encrypt=True)
    await _run_of(store, "acme")  # warms the tenant's policy and data key
    sealer = protection.sealer
    before = sealer.lookups
    await _run_of(store, "acme")
    assert sealer.lookups == before


async def test_another_process_opens_with_the_master_key_only(
    open_store: object, keys: LocalKeyring
) -> None:
    first: Store = await open_store()  # type: ignore[operator]
    await DataProtection(first, keys).set_policy("acme", encrypt=True)
    sid, rid = await _run_of(first, "acme")

    fresh: Store = await open_store()  # type: ignore[operator]
    with pytest.raises(ContentSealed):  # no master key: the content stays closed
        await fresh.list_messages(sid)
    fresh.sealer = TenantSealer(keys)
    assert (await fresh.list_messages(sid)).items[0].text == SECRET
    assert (await fresh.list_events(rid))[0].payload == {"delta": SECRET}


async def test_turning_encryption_off_keeps_old_content_readable(
    store: Store, keys: LocalKeyring
) -> None:
    protection = DataProtection(store, keys)
    await protection.set_policy("acme", encrypt=True, confidential=True)
    sid, _ = await _run_of(store, "acme")
    row = await protection.set_policy("acme", encrypt=False)
    assert row.confidential and row.key_name == "tenant/acme/data-key/1"
    await store.append_messages(sid, [Msg.user("later, in clear")])
    texts = [m.text for m in (await store.list_messages(sid)).items]
    assert texts == [SECRET, f"noted: {SECRET}", "later, in clear"]


async def test_a_new_tenant_key_seals_new_content_and_old_content_still_opens(
    store: Store, keys: LocalKeyring
) -> None:
    protection = DataProtection(store, keys)
    await protection.set_policy("acme", encrypt=True)
    sid, _ = await _run_of(store, "acme")
    row = await protection.rotate_tenant_key("acme")
    assert row.key_name == "tenant/acme/data-key/2"
    await store.append_messages(sid, [Msg.user("after the rotation")])
    raw = await _raw_contents(store, "acme")
    assert any("data-key/1" in v for v in raw) and any("data-key/2" in v for v in raw)
    texts = [m.text for m in (await store.list_messages(sid)).items]
    assert texts == [SECRET, f"noted: {SECRET}", "after the rotation"]
    with pytest.raises(RoostError):
        await protection.rotate_tenant_key("not-encrypted")
