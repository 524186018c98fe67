"""The secret store: envelope encryption in Roost's database, rotation, references."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from fake_providers import FakeOpenAIServer
from roost.core import ConfigError, Msg, secret_ref
from roost.core.settings import Settings
from roost.govern import crypto
from roost.govern.errors import DecryptionFailed, InvalidSecretName, MasterKeyUnavailable
from roost.govern.keyring import LocalKeyring, MasterKey, keyring_from_settings, read_key_file
from roost.govern.secrets import SecretStore, masked
from roost.store import Store
from roost.store.errors import SecretNotFound


async def test_set_get_list_delete_round_trip(store: Store, keys: LocalKeyring) -> None:
    secrets = SecretStore(store, keys)
    info = await secrets.set("openai/key", "sk-live-0123456789abcdef", tenant_id="acme")
    assert (info.version, info.algorithm, info.master_key_id) == (1, "aes-256-gcm", keys.primary)
    assert await secrets.get("openai/key") == "sk-live-0123456789abcdef"
    assert (await secrets.set("openai/key", "sk-new-value-000000", tenant_id="acme")).version == 2
    assert await secrets.get("openai/key") == "sk-new-value-000000"
    assert [i.name for i in await secrets.list(tenant_id="acme")] == ["openai/key"]
    assert [i.name for i in await secrets.list(prefix="open")] == ["openai/key"]
    assert await secrets.list(prefix="zzz") == []
    await secrets.delete("openai/key")
    with pytest.raises(SecretNotFound):
        await secrets.get("openai/key")
    with pytest.raises(SecretNotFound):
        await secrets.delete("openai/key")


async def test_database_holds_only_ciphertext(store: Store, keys: LocalKeyring) -> None:
    secrets = SecretStore(store, keys)
    await secrets.set("db", "correct horse battery staple")
    row = await store.get_secret_row("db")
    assert b"horse" not in base64.b64decode(row.ciphertext)
    assert "horse" not in repr(row)
    # another master key cannot open it: the backup without the key file is useless
    other = LocalKeyring([MasterKey("aes-256-gcm", crypto.new_key("aes-256-gcm"))])
    with pytest.raises(MasterKeyUnavailable):
        await SecretStore(store, other).get("db")


async def test_a_value_moved_to_another_name_does_not_open(
    store: Store, keys: LocalKeyring
) -> None:
    secrets = SecretStore(store, keys)
    await secrets.set("a", "value-of-a")
    row = await store.get_secret_row("a")
    await store.put_secret_row(
        "b",
        tenant_id=None,
        algorithm=row.algorithm,
        master_key_id=row.master_key_id,
        wrapped_key=row.wrapped_key,
        ciphertext=row.ciphertext,
    )
    with pytest.raises(DecryptionFailed):
        await secrets.get("b")


async def test_national_profile_uses_sm4_gcm(store: Store) -> None:
    settings = Settings(crypto_profile="national")
    keys = LocalKeyring([MasterKey("sm4-gcm", crypto.new_key("sm4-gcm"))])
    secrets = SecretStore(store, keys, settings=settings)
    info = await secrets.set("gov", "机密数据")
    assert info.algorithm == "sm4-gcm"
    assert await secrets.get("gov") == "机密数据"
    assert len(crypto.keyed_digest("national", b"k" * 16, b"x")) == 32  # HMAC-SM3


async def test_invalid_names_are_refused(store: Store, keys: LocalKeyring) -> None:
    with pytest.raises(InvalidSecretName):
        await SecretStore(store, keys).set("has space", "x")


def test_masked_values_never_show_short_secrets_whole() -> None:
    assert masked("hunter2") == "••••"
    assert masked("sk-0123456789abcdef") == "••••cdef"


async def test_rotation_rewraps_every_data_key(tmp_path: Path, store: Store) -> None:
    settings = Settings(master_key_file=tmp_path / "master.key", home=tmp_path)
    keys = keyring_from_settings(settings)
    assert isinstance(keys, LocalKeyring)
    secrets = SecretStore(store, keys, settings=settings)
    for i in range(7):
        await secrets.set(f"s{i}", f"value-{i}")
    old = keys.primary
    report = await secrets.rotate_master_key()
    assert (report.rewrapped, report.retired, report.resumed) == (7, (old,), False)
    assert await store.secrets_by_master_key() == {report.primary: 7}
    on_disk = read_key_file(tmp_path / "master.key")
    assert [k.id for k in on_disk] == [report.primary]
    fresh = SecretStore(store, keyring_from_settings(settings), settings=settings)
    assert [await fresh.get(f"s{i}") for i in range(7)] == [f"value-{i}" for i in range(7)]


async def test_env_keyring_rotation_needs_the_new_key_first(store: Store) -> None:
    old = MasterKey("aes-256-gcm", crypto.new_key("aes-256-gcm"))
    new = MasterKey("aes-256-gcm", crypto.new_key("aes-256-gcm"))
    settings = Settings(master_key=old.line())
    await SecretStore(store, keyring_from_settings(settings), settings=settings).set("x", "1")
    both = Settings(master_key=f"{new.line()},{old.line()}")
    secrets = SecretStore(store, keyring_from_settings(both), settings=both)
    assert await secrets.get("x") == "1"
    report = await secrets.rotate_master_key()
    assert (report.primary, report.rewrapped, report.resumed) == (new.id, 1, True)
    only_new = Settings(master_key=new.line())
    assert (
        await SecretStore(store, keyring_from_settings(only_new), settings=only_new).get("x") == "1"
    )
    with pytest.raises(ConfigError):  # one key in the environment: nowhere to put a new one
        await SecretStore(
            store, keyring_from_settings(only_new), settings=only_new
        ).rotate_master_key()


async def test_secret_references_resolve_at_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roost.core.settings import get_settings
    from roost.govern.secret_refs import install_secret_resolver
    from roost.models.resolve import resolve_model

    url = f"sqlite:///{tmp_path / 'refs.db'}"
    async with await Store.open(url) as store:
        await SecretStore(store).set("openai-key", "sk-from-the-store-123456")
    monkeypatch.setenv("OPENAI_API_KEY", "secret://openai-key")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="no secret store"):
        resolve_model("openai:gpt-4o-mini")
    install_secret_resolver(url)
    try:
        with FakeOpenAIServer() as fake:
            monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
            model = resolve_model("openai:gpt-4o-mini")
            assert "sk-from-the-store" not in repr(model)
            await model.complete([Msg.user("hi")])
            await model.aclose()
            sent = fake.requests[-1].headers["authorization"]
            assert sent == "Bearer sk-from-the-store-123456"
        with pytest.raises(SecretNotFound):
            secret_ref.resolve("secret://missing")
    finally:
        secret_ref.install(None)


async def test_a_knowledge_database_url_can_be_a_secret(tmp_path: Path, postgres_url: str) -> None:
    import asyncio

    from roost.govern.secret_refs import install_secret_resolver
    from roost.knowledge import KnowledgeBackendUnavailable
    from roost.knowledge.pgvector import PgVectorIndex

    url = f"sqlite:///{tmp_path / 'refs.db'}"
    async with await Store.open(url) as store:
        await SecretStore(store).set("pg-url", postgres_url)
    install_secret_resolver(url)
    index = PgVectorIndex("secret://pg-url")
    try:  # connected with the secret's URL: a pool, or the typed "no pgvector here"
        await asyncio.wait_for(index._conn_pool(), 30)
    except KnowledgeBackendUnavailable as exc:
        assert "pgvector" in exc.message
    finally:
        secret_ref.install(None)
        if index._pool is not None:
            await index._pool.close()
    assert "postgres" not in repr(index)
