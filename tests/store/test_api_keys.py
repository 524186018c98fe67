from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from roost.store import ApiKeyNotFound, InvalidStoreArgument, Store
from roost.store.api_keys import KeyHasher, key_hasher


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
    assert key_hasher().digest(plaintext) in dump  # keyed, not a bare SHA-256 (0181)
    assert hashlib.sha256(plaintext.encode()).hexdigest() not in dump
    assert plaintext not in dump
    assert plaintext[3:] not in dump
    assert plaintext[3:20] not in dump


async def test_api_key_input_is_validated(store: Store) -> None:
    with pytest.raises(InvalidStoreArgument):
        await store.create_api_key("x", role="root")  # type: ignore[arg-type]
    with pytest.raises(InvalidStoreArgument):
        await store.create_api_key("", role="user")


async def test_a_key_stored_as_bare_sha256_still_works_and_is_rehashed_at_first_use(
    store: Store,
) -> None:
    plaintext = "rk_" + secrets.token_urlsafe(32)
    legacy = hashlib.sha256(plaintext.encode()).hexdigest()
    row = {
        "id": "key_legacy",
        "name": "old",
        "prefix": plaintext[3:11],
        "key_hash": legacy,
        "role": "user",
        "at": datetime.now(UTC),
    }
    await store.backend.write(
        lambda tx: tx.run(
            "INSERT INTO api_keys (id, name, prefix, key_hash, role, created_at)"
            " VALUES (:id, :name, :prefix, :key_hash, :role, :at)",
            row,
        )
    )
    assert [k.hash_scheme for k in await store.list_api_keys()] == ["sha256"]
    verified = await store.verify_api_key(plaintext)
    assert verified is not None and verified.id == "key_legacy"
    assert verified.hash_scheme == key_hasher().scheme
    dump = await _all_text(store)
    assert legacy not in dump and key_hasher().digest(plaintext) in dump
    again = await store.verify_api_key(plaintext)  # found by the keyed hash now
    assert again is not None and again.id == "key_legacy"
    assert await store.api_key_schemes() == {key_hasher().scheme}


async def test_a_key_made_with_another_pepper_is_not_found(store: Store) -> None:
    plaintext, _ = await store.create_api_key("k", role="user")
    other = KeyHasher(b"another pepper of enough length")
    assert other.scheme != key_hasher().scheme
    assert other.digest(plaintext) != key_hasher().digest(plaintext)
    assert await store.verify_api_key(plaintext) is not None


async def test_an_expired_key_is_refused(store: Store) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    plaintext, record = await store.create_api_key("k", role="viewer", tenant_id="t", user_id="v")
    assert record.expires_at is None
    short, short_record = await store.create_api_key("k", role="user", expires_at=soon)
    assert short_record.expires_at == soon
    assert await store.verify_api_key(short) is not None
    await store.backend.write(
        lambda tx: tx.run(
            "UPDATE api_keys SET expires_at = :at WHERE id = :id",
            {"at": datetime.now(UTC) - timedelta(seconds=1), "id": short_record.id},
        )
    )
    assert await store.verify_api_key(short) is None
    assert await store.verify_api_key(plaintext) is not None
    with pytest.raises(InvalidStoreArgument):
        await store.create_api_key("k", role="user", expires_at=datetime.now(UTC))


async def test_keys_of_a_disabled_tenant_are_refused_until_it_is_enabled(store: Store) -> None:
    plaintext, record = await store.create_api_key("k", role="tenant_admin", tenant_id="acme")
    assert (await store.get_tenant("acme")).name == "acme"  # recorded with its first key
    await store.set_tenant_disabled("acme", True)
    assert await store.verify_api_key(plaintext) is None
    await store.set_tenant_disabled("acme", False)
    verified = await store.verify_api_key(plaintext)
    assert verified is not None and verified.role == "tenant_admin"
    assert [k.id for k in await store.list_api_keys(tenant_id="acme")] == [record.id]
    assert [k.id for k in await store.list_api_keys(tenant_id="other")] == []
    assert (await store.get_api_key(record.id)).tenant_id == "acme"
    with pytest.raises(ApiKeyNotFound):
        await store.get_api_key("key_missing")
