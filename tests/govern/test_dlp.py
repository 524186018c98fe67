"""DLP policy per sink: mask, hash, drop; a tenant's transcripts; logs and traces."""

from __future__ import annotations

import logging

import pytest

from roost.core import Msg, RoostError
from roost.core.settings import Settings
from roost.govern.dlp import DlpPolicy, Redactor
from roost.govern.install import install_governance
from roost.govern.keyring import LocalKeyring
from roost.govern.protection import DataProtection
from roost.store import Store

TEXT = "张伟 手机 13812345678，卡号 6222 0212 3456 7890 128，邮箱 li.lei@example.com"


def test_mask_keeps_the_shape() -> None:
    out = Redactor(DlpPolicy.from_document({"actions": {"logs": "mask"}})).redact(TEXT, "logs")
    assert out == "张伟 手机 138****5678，卡号 6222 **** **** ***0 128，邮箱 l***@example.com"


def test_hash_is_stable_and_keyed() -> None:
    policy = DlpPolicy.from_document({"actions": {"audit": "hash"}})
    a = Redactor(policy, hash_key=b"k1").redact("call 13812345678", "audit")
    assert a == Redactor(policy, hash_key=b"k1").redact("call 13812345678", "audit")
    assert a != Redactor(policy, hash_key=b"k2").redact("call 13812345678", "audit")
    assert a.startswith("call [cn_mobile:") and "13812345678" not in a
    national = Redactor(policy, hash_key=b"k1", profile="national").redact("13812345678", "audit")
    assert national != a.removeprefix("call ")


def test_drop_replaces_the_whole_text() -> None:
    redactor = Redactor(DlpPolicy.from_document({"actions": {"traces": "drop"}}))
    result = redactor.apply(TEXT, "traces")
    assert result.text == "[DROPPED: contained bank_card, cn_mobile, email]"
    assert redactor.redact("nothing to see", "traces") == "nothing to see"


@pytest.mark.parametrize(
    "doc",
    [
        {"actions": {"transcripts": "drop"}},
        {"actions": {"logs": "route"}},
        {"actions": {"screens": "mask"}},
        {"kinds": ["passport"]},
        {"custom": {"x": "("}},
        {"extra": 1},
    ],
)
def test_bad_policies_are_typed_errors(doc: dict[str, object]) -> None:
    with pytest.raises(RoostError) as err:
        DlpPolicy.from_document(doc)
    assert err.value.status == 422


async def test_a_tenants_transcripts_are_masked_when_stored(
    store: Store, keys: LocalKeyring
) -> None:
    protection = DataProtection(store, keys)
    await protection.start()
    await protection.set_policy(
        "acme", policy={"actions": {"transcripts": "mask"}, "custom": {"contract": r"HT-\d{6}"}}
    )
    s = await store.create_session(app="a", tenant_id="acme")
    await store.append_messages(s.id, [Msg.user("合同 HT-202611，联系 13812345678")])
    stored = (await store.list_messages(s.id)).items[0]
    assert stored.text == "合同 [REDACTED:custom:contract]，联系 138****5678"
    other = await store.create_session(app="a", tenant_id="other")
    await store.append_messages(other.id, [Msg.user("13812345678")])
    assert (await store.list_messages(other.id)).items[0].text == "13812345678"


async def test_the_server_masks_logs(
    store: Store, caplog: pytest.LogCaptureFixture, roost_home: object
) -> None:
    from roost.observe.logging import JsonFormatter

    gov = await install_governance(store, Settings(), database_url=store.url)
    assert gov is not None
    try:
        record = logging.LogRecord(
            "x", logging.INFO, __file__, 1, "user id %s", ("11010519491231002X",), None
        )
        line = JsonFormatter().format(record)
        assert "11010519491231002X" not in line and "110***********002X" in line
    finally:
        gov.close()
    line = JsonFormatter().format(record)
    assert "11010519491231002X" in line


async def test_audit_content_is_hashed_by_default(store: Store, keys: LocalKeyring) -> None:
    protection = DataProtection(store, keys)
    await protection.start()
    out = await protection.redact("login from li.lei@example.com", "audit")
    assert out.startswith("login from [email:") and "li.lei" not in out
    assert out == await protection.redact("login from li.lei@example.com", "audit")
    await protection.set_policy("acme", policy={"actions": {"audit": "mask"}})
    assert await protection.redact("li.lei@example.com", "audit", tenant_id="acme") == (
        "l***@example.com"
    )
