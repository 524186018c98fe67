"""The Govern pages in a real headless Chromium: the audit trail (filters, chain
verification, CSV export) and the secret store (set, list without values, delete), an
ordinary user's key that sees neither, and the Chinese headings."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_app import console_app
from server_support import ADMIN_KEY, Served, serve, stop

pytest.importorskip("playwright")
from playwright.sync_api import expect
from test_console_browser import sign_in, user_key

SECRET_VALUE = "sk-live-0123456789-Q7zX"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("govern") / "roost.db"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, db: Path) -> Iterator[Served]:
    """This module's app, with a ROOST_HOME of its own: the secret store's master key and
    the audit signing key are made there (the module-scoped app starts before the
    per-test ROOST_HOME of tests/conftest.py, so it would otherwise use the real one)."""
    from roost.core.settings import get_settings

    home = tmp_path_factory.mktemp("govern-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROOST_HOME", str(home))
        get_settings.cache_clear()
        s = serve(console_app(ADMIN_KEY, f"sqlite:///{db}"))
        get_settings.cache_clear()
    yield s
    stop(s)


def test_the_audit_page_lists_filters_verifies_and_exports(
    page: Any, console: Served, shots: Path
) -> None:
    dana = user_key(console, "dana", "t-audit")  # key.created, for user dana
    with httpx.Client(base_url=console.url, headers={"authorization": f"Bearer {dana}"}) as c:
        assert c.post("/v1/sessions", json={"agent": "slow"}).status_code == 201
        assert c.get("/v1/keys").status_code == 403  # a denied call is recorded too
    sign_in(page)
    page.click("nav a[data-page=audit]")
    rows = page.locator("#audit tbody tr[data-seq]")
    expect(page.locator("#audit")).to_contain_text("key.created")
    total = rows.count()
    assert total >= 2
    # filtering by user narrows the table to dana's records
    page.fill("#a-user_id", "dana")
    page.click("#audit-filter button[type=submit]")
    expect(rows.first).to_contain_text("dana")
    assert 0 < rows.count() < total
    for text in rows.all_inner_texts():
        assert "dana" in text and "t-audit" in text
    page.select_option("#a-outcome", "denied")
    page.click("#audit-filter button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".status")).to_have_text("denied")
    # the record hash is shown abbreviated, whole in its title
    code = rows.first.locator("td code").last
    assert len(code.inner_text()) == 12 and len(code.get_attribute("title") or "") == 64
    # the chain verifies
    page.click("#a-verify")
    expect(page.locator("#audit-verify .ok")).to_contain_text("Chain intact")
    page.screenshot(path=str(shots / "audit.png"), full_page=True)
    # the CSV export of the current filter downloads with the console's credentials
    page.select_option("#a-outcome", "")
    with page.expect_download() as info:
        page.click("#a-csv")
    csv = Path(info.value.path()).read_text()
    assert csv.startswith("seq,at,tenant_id,user_id,")
    assert ",denied," in csv  # the refused call of dana's, a known record
    with page.expect_download() as info:
        page.click("#a-jsonl")
    records = [json.loads(line) for line in Path(info.value.path()).read_text().splitlines()]
    assert records and {r["user_id"] for r in records} == {"dana"}
    assert "denied" in {r["outcome"] for r in records}
    assert all(",dana," in line for line in csv.strip().splitlines()[1:])
    # an invalid filter is shown, not swallowed
    page.evaluate("document.getElementById('a-user_id').removeAttribute('maxlength')")
    page.fill("#a-user_id", "x" * 300)
    page.click("#audit-filter button[type=submit]")
    expect(page.locator("main [role=alert] .error")).to_contain_text("invalid_request")


def test_cursor_paging_reaches_older_records(page: Any, console: Served) -> None:
    with console.client() as c:  # more records than one page of 50
        for i in range(55):
            assert c.put(f"/v1/secrets/PAGING_{i}", json={"value": "v"}).status_code == 200
    sign_in(page)
    page.goto("/console/audit")
    rows = page.locator("#audit tbody tr[data-seq]")
    expect(rows).to_have_count(50)
    newest = int(rows.first.get_attribute("data-seq") or 0)
    page.click("#a-next")
    expect(page.locator("#a-first")).to_be_visible()
    assert int(rows.first.get_attribute("data-seq") or 0) < newest - 49
    page.click("#a-first")
    expect(page.locator("#a-first")).to_be_hidden()
    # the newest again (or newer: the browser's favicon request may be recorded meanwhile)
    assert int(rows.first.get_attribute("data-seq") or 0) >= newest


def test_secrets_are_set_listed_without_values_and_deleted(
    page: Any, console: Served, shots: Path
) -> None:
    sign_in(page)
    page.click("nav a[data-page=secrets]")
    expect(page.locator("main h1")).to_have_text("Secrets")
    page.fill("#secret-name", "PAYMENTS_TOKEN")
    page.fill("#secret-value", SECRET_VALUE)
    page.get_by_role("button", name="Save secret").click()
    row = page.locator("#secrets tbody tr[data-name=PAYMENTS_TOKEN]")
    expect(row).to_contain_text("secret://PAYMENTS_TOKEN")
    expect(page.locator("#secret-status")).to_contain_text("version 1")
    expect(page.locator("#secret-value")).to_have_value("")
    assert SECRET_VALUE not in page.content()
    assert SECRET_VALUE[-4:] not in row.inner_text()  # not even the masked preview
    page.screenshot(path=str(shots / "secrets.png"))
    with console.client() as c:
        names = [s["name"] for s in c.get("/v1/secrets").json()["data"]]
        assert "PAYMENTS_TOKEN" in names
    # setting it again makes version 2
    page.fill("#secret-name", "PAYMENTS_TOKEN")
    page.fill("#secret-value", SECRET_VALUE + "-2")
    page.get_by_role("button", name="Save secret").click()
    expect(row.locator("td").nth(2)).to_have_text("2")
    # an invalid name: the API's error is shown
    page.evaluate("document.getElementById('secret-name').removeAttribute('pattern')")
    page.fill("#secret-name", "bad name")
    page.fill("#secret-value", "x")
    page.get_by_role("button", name="Save secret").click()
    expect(page.locator("main [role=alert] .error")).to_contain_text("invalid_secret_name")
    # a dismissed confirmation keeps it; an accepted one deletes it
    page.once("dialog", lambda d: d.dismiss())
    row.get_by_role("button", name="Delete PAYMENTS_TOKEN").click()
    expect(row).to_be_visible()
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Delete PAYMENTS_TOKEN").click()
    expect(row).to_have_count(0)
    with console.client() as c:
        assert c.get("/v1/secrets/PAYMENTS_TOKEN").status_code == 404
        actions = [
            r["action"]
            for r in c.get("/v1/audit", params={"resource_id": "PAYMENTS_TOKEN"}).json()["data"]
        ]
        assert actions[:3] == ["secret.deleted", "secret.set", "secret.set"]


def test_a_user_key_sees_no_govern_pages(page: Any, console: Served) -> None:
    sign_in(page, user_key(console, "erin", "t-user"))
    pages = page.locator("nav a").evaluate_all("links => links.map(a => a.dataset.page)")
    assert "audit" not in pages and "secrets" not in pages and "chat" in pages
    for name in ("audit", "secrets"):
        page.goto(f"/console/{name}")
        expect(page.locator("main h1")).to_have_text("Not found")
    with console.client(user_key(console, "erin", "t-user")) as c:
        assert c.get("/v1/audit").status_code == 403
        assert c.get("/v1/secrets").status_code == 403


def test_the_govern_pages_in_chinese(page: Any) -> None:
    sign_in(page)
    page.select_option("#lang", "zh")
    page.goto("/console/audit")
    expect(page.locator("main h1")).to_have_text("审计")
    expect(page.get_by_role("button", name="校验哈希链")).to_be_visible()
    expect(page.locator("#audit thead")).to_contain_text("操作者")
    page.goto("/console/secrets")
    expect(page.locator("main h1")).to_have_text("密钥库")
    expect(page.get_by_role("button", name="保存密钥")).to_be_visible()


def test_verify_names_the_first_altered_record(page: Any, console: Served, db: Path) -> None:
    """Last in the module: it breaks the chain of this module's app on purpose."""
    with console.client() as c:
        assert c.put("/v1/secrets/TAMPER_ME", json={"value": "v"}).status_code == 200
        seq = c.get("/v1/audit", params={"resource_id": "TAMPER_ME"}).json()["data"][0]["seq"]
    with sqlite3.connect(db) as conn:  # someone edits a record behind the server's back
        conn.execute("UPDATE audit_records SET outcome = 'denied' WHERE seq = ?", (seq,))
    sign_in(page)
    page.goto("/console/audit")
    page.click("#a-verify")
    broken = page.locator("#audit-verify .error")
    expect(broken).to_contain_text("Chain broken")
    expect(broken).to_contain_text(f"#{seq} (altered)")
