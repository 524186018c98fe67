from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from roost.store import ApiKeyNotFound, InvalidStoreArgument, Store


async def _all_text(store: Store) -> str:
    """Every value of every row of every table, as text (to look for leaked secrets)."""
    out: list[str] = []
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        for name in names:
            rows = (await conn.execute(sa.text(f'SELECT * FROM "{name}"'))).all()
            out += [repr(tuple(r)) for r in rows]
    return "\n".join(out)


async def test_api_key_create_verify_revoke(store: Store) -> None:
    plaintext, record = await store.create_api_key("ci", role="user", tenant_id="t1", user_id="u1")
    assert plaintext.startswith("rk_") and len(plaintext) == 46
    assert record.prefix == plaintext[3:11] and record.display.startswith("rk_")

    verified = await store.verify_api_key(plaintext)
    assert verified is not None
    assert (verified.id, verified.role, verified.tenant_id, verified.user_id) == (
        record.id,
        "user",
        "t1",
        "u1",
    )
    assert verified.last_used_at is not None

    assert (
        await store.verify_api_key(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
    )
    assert await store.verify_api_key("rk_short") is None
    assert await store.verify_api_key("") is None

    revoked = await store.revoke_api_key(record.id)
    assert revoked.revoked_at is not None and not revoked.active
    assert await store.verify_api_key(plaintext) is None
    again = await store.revoke_api_key(record.id)
    assert again.revoked_at == revoked.revoked_at
    assert [k.id for k in await store.list_api_keys(include_revoked=False)] == []
    assert [k.id for k in await store.list_api_keys()] == [record.id]
    with pytest.raises(ApiKeyNotFound):
        await store.revoke_api_key("key_missing")


async def test_plaintext_key_is_never_stored(store: Store) -> None:
    plaintext, _ = await store.create_api_key("admin", role="admin")
    await store.verify_api_key(plaintext)
    dump = await _all_text(store)
    assert hashlib.sha256(plaintext.encode()).hexdigest() in dump
    assert plaintext not in dump
    assert plaintext[3:] not in dump
    assert plaintext[3:20] not in dump


async def test_api_key_input_is_validated(store: Store) -> None:
    with pytest.raises(InvalidStoreArgument):
        await store.create_api_key("x", role="root")  # type: ignore[arg-type]
    with pytest.raises(InvalidStoreArgument):
        await store.create_api_key("", role="user")
