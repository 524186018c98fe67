"""The web console in a real headless Chromium (Debian's, driven by Playwright): sign-in,
chat with streaming text, tool calls, approval, stop, resume after a reload, the trace
waterfall, charts with data, another tenant seeing nothing, Chinese text, accessibility."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_support import ADMIN_KEY, Served

pytest.importorskip("playwright")
from playwright.sync_api import expect


def sign_in(page: Any, key: str = ADMIN_KEY) -> None:
    page.goto("/console/")
    page.fill("#key", key)
    page.click("form.signin button[type=submit]")
    expect(page.locator("nav a").first).to_be_visible()


def chat(page: Any, agent: str, text: str) -> None:
    page.goto("/console/chat")
    page.select_option("#agent", agent)
    page.fill("#input", text)
    page.click("#send")


def run_id_on_page(page: Any) -> str:
    locator = page.locator(".msg.assistant[data-run^='run']").last
    expect(locator).to_have_attribute("data-run", re.compile(r"^run"))
    return str(locator.get_attribute("data-run"))


def user_key(console: Served, user: str, tenant: str) -> str:
    with console.client() as admin:
        made = admin.post("/v1/keys", json={"name": user, "user_id": user, "tenant_id": tenant})
        assert made.status_code == 201, made.text
        return str(made.json()["key"])


def test_chat_streams_the_reply_and_shows_the_tool_call(page: Any, shots: Path) -> None:
    sign_in(page)
    chat(page, "assistant", "What is the weather in Paris?")
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("It is sunny in Paris.")
    call = page.locator("details.tool[data-call]").last
    expect(call.locator("summary")).to_contain_text("get_weather")
    call.locator("summary").click()
    expect(call.locator("pre.result")).to_contain_text("Paris: sunny, 21 C")
    page.screenshot(path=str(shots / "chat.png"))
    # the conversation is in the history: reopening it shows the stored messages
    page.click(".chat aside li a")
    expect(page.locator("#transcript")).to_contain_text("It is sunny in Paris.")


def test_approving_a_tool_lets_the_run_finish(page: Any, shots: Path) -> None:
    sign_in(page)
    chat(page, "guarded", "clean up /tmp/x")
    approve = page.get_by_role("button", name="Approve")
    expect(approve).to_be_visible()
    page.screenshot(path=str(shots / "approval.png"))
    approve.click()
    expect(page.locator("#transcript")).to_contain_text("Deleted.")
    expect(page.locator("#transcript .ok")).to_have_text("approved")
    expect(page.locator("pre.result").last).to_have_text("deleted /tmp/x")


def test_stop_cancels_the_run(page: Any, console: Served) -> None:
    sign_in(page)
    chat(page, "slow", "count")
    expect(page.locator("#transcript")).to_contain_text("w3 ")
    run_id = run_id_on_page(page)
    page.click("#stop")
    expect(page.locator("#transcript")).to_contain_text("Canceled")
    expect(page.locator("#send")).to_be_enabled()
    with console.client() as c:
        assert c.get(f"/v1/runs/{run_id}").json()["status"] == "canceled"
    page.click("nav a[data-page=runs]")
    page.select_option("#f-status", "canceled")
    expect(page.locator(f"#runs a[href='/console/runs/{run_id}']")).to_be_visible()
    expect(page.locator("#runs tbody .status.succeeded")).to_have_count(0)


def test_a_reload_resumes_the_stream_from_the_last_event_id(page: Any) -> None:
    sign_in(page)
    chat(page, "slow", "count")
    expect(page.locator("#transcript")).to_contain_text("w5 ")
    resumed: list[str] = []
    page.on(
        "request",
        lambda r: "/events" in r.url and resumed.append(r.headers.get("last-event-id", "")),
    )
    page.reload()
    expect(page.locator("#transcript")).to_contain_text("w59 ", timeout=20_000)
    assert resumed and int(resumed[0]) > 0  # not a replay from the start
    text = page.locator(".msg.assistant").last.inner_text()
    assert text.count("w2 ") == 1 and text.count("w58 ") == 1  # nothing lost or repeated


def test_the_trace_page_draws_the_spans_as_a_waterfall(
    page: Any, console: Served, shots: Path
) -> None:
    with console.client() as c:
        sid = c.post("/v1/sessions", json={"agent": "assistant"}).json()["id"]
        run = c.post(f"/v1/sessions/{sid}/runs", json={"input": "weather?", "stream": False})
        run_id = run.json()["id"]
    sign_in(page)
    page.goto(f"/console/runs/{run_id}")
    spans = page.locator("#waterfall .span")
    expect(spans.first).to_be_visible()
    assert spans.count() >= 2
    names = " ".join(spans.all_inner_texts())
    assert "get_weather" in names  # the tool call is a span
    spans.first.click()
    expect(spans.first).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#events")).to_contain_text("run.completed")
    page.screenshot(path=str(shots / "trace.png"))


def test_usage_and_metrics_pages_plot_data(page: Any, console: Served, shots: Path) -> None:
    with console.client() as c:
        sid = c.post("/v1/sessions", json={"agent": "slow"}).json()["id"]
        c.post(f"/v1/sessions/{sid}/runs", json={"input": "x", "stream": False})
    sign_in(page)
    page.goto("/console/usage")
    runs = page.locator(".chart[data-metric=runs]")
    expect(runs.locator("canvas")).to_be_visible()
    assert int(runs.get_attribute("data-points") or 0) >= 1
    expect(page.locator("#totals tbody tr").first).to_be_visible()
    page.screenshot(path=str(shots / "usage.png"), full_page=True)
    page.goto("/console/metrics")
    expect(page.locator(".chart[data-metric=runs] canvas")).to_be_visible(timeout=10_000)


def test_a_user_of_another_tenant_sees_none_of_it(page: Any, console: Served) -> None:
    alice = user_key(console, "alice", "t1")
    with httpx.Client(base_url=console.url, headers={"authorization": f"Bearer {alice}"}) as c:
        sid = c.post("/v1/sessions", json={"agent": "slow", "metadata": {"m": "alice-secret"}})
        sid = sid.json()["id"]
        run_id = c.post(f"/v1/sessions/{sid}/runs", json={"input": "x", "stream": False}).json()[
            "id"
        ]
    sign_in(page, user_key(console, "alice", "t2"))  # the same user id, another tenant
    pages = page.locator("nav a").evaluate_all("links => links.map(a => a.dataset.page)")
    assert "keys" not in pages and "metrics" not in pages and "alerts" not in pages
    assert "chat" in pages and "sessions" in pages
    page.goto("/console/sessions")
    expect(page.locator("#sessions")).to_be_visible()
    expect(page.locator("#sessions tbody tr")).to_have_count(0)
    page.goto(f"/console/sessions/{sid}")
    expect(page.locator("main .error")).to_contain_text("session_not_found")
    page.goto(f"/console/runs/{run_id}")
    expect(page.locator("main .error")).to_contain_text("run_not_found")
    page.goto("/console/keys")
    expect(page.locator("main h1")).to_have_text("Not found")
    assert "alice-secret" not in page.content()


def test_the_language_switch_shows_chinese(page: Any, shots: Path) -> None:
    sign_in(page)
    page.select_option("#lang", "zh")
    expect(page.locator("nav a[data-page=chat]")).to_have_text("对话")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.screenshot(path=str(shots / "chat-zh.png"))
    page.reload()  # the choice is kept
    expect(page.locator("nav a[data-page=sessions]")).to_have_text("会话")


def test_an_admin_creates_and_revokes_a_key(page: Any, console: Served) -> None:
    sign_in(page)
    page.click("nav a[data-page=keys]")
    page.fill("#key-name", "made-in-console")
    page.fill("#key-user", "carol")
    page.fill("#key-tenant", "t7")
    page.get_by_role("button", name="Create key").click()
    plaintext = page.locator("#new-key").inner_text().strip()
    assert plaintext.startswith("rk_")
    with httpx.Client(base_url=console.url, headers={"authorization": f"Bearer {plaintext}"}) as c:
        assert c.get("/v1/console/session").json()["user_id"] == "carol"
        row = page.locator("#keys tbody tr", has_text="made-in-console")
        row.get_by_role("button", name="Revoke made-in-console").click()
        expect(row).to_contain_text("Revoked")
        assert c.get("/v1/sessions").status_code == 401  # the server forgot its verdict
    with console.client() as admin:
        keys = admin.get("/v1/keys").json()["data"]
        assert next(k for k in keys if k["name"] == "made-in-console")["revoked"] is True


def test_signing_out_forgets_the_key(page: Any) -> None:
    sign_in(page)
    page.click("#signout")
    expect(page.locator("#key")).to_be_visible()
    page.reload()
    expect(page.locator("#key")).to_be_visible()


def test_the_pages_have_no_serious_accessibility_violations(page: Any, console: Served) -> None:
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    axe = axe_module.Axe()
    page.goto("/console/")
    expect(page.locator("#key")).to_be_visible()
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        results = axe.run(page)
        serious = [
            f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        if serious:
            found[name] = serious

    check("sign-in")
    sign_in(page)
    with console.client() as c:
        sid = c.post("/v1/sessions", json={"agent": "assistant"}).json()["id"]
        run_id = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False}).json()[
            "id"
        ]
    for path, ready in (
        (f"/console/chat/{sid}", "#transcript .msg"),
        ("/console/runs", "#runs tbody tr"),
        (f"/console/runs/{run_id}", "#waterfall .span"),
        ("/console/usage", ".chart canvas"),
        ("/console/keys", "#keys"),
    ):
        page.goto(path)
        expect(page.locator(ready).first).to_be_visible()
        check(path)
    assert not found, found
