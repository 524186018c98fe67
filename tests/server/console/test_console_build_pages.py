"""The console's Tenants and Evaluation pages in a real headless Chromium: a tenant made,
its quotas set (kept across a reload, with usage), disabled and enabled again; an API
error shown in the page; a dataset made in the page, an experiment started there and
watched until it ends, its per-case results, a comparison and the gray releases; the
Chinese headings."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_app import console_app
from server_support import ADMIN_KEY, Served, serve, stop

from roost.agents import ReActAgent
from roost.evals import enable_evals
from roost.models import ScriptedModel
from roost.server import AgentContext

pytest.importorskip("playwright")
from playwright.sync_api import expect

CASES = [
    {"input": "What is 2 plus 2?", "expected": "4"},
    {"input": "What is 3 plus 3?", "expected": "6"},
]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The console test app with evaluation on and two versions of a scripted agent:
    v1 answers 4 to everything (one case of two passes), v2 knows nothing."""
    db = tmp_path_factory.mktemp("console-build") / "roost.db"
    app = console_app(ADMIN_KEY, f"sqlite:///{db}")

    @app.agent(name="calc@v1")
    def v1(ctx: AgentContext) -> ReActAgent:
        return ReActAgent("calc", ScriptedModel(["The answer is 4."]))

    @app.agent(name="calc@v2")
    def v2(ctx: AgentContext) -> ReActAgent:
        return ReActAgent("calc", ScriptedModel(["I do not know."]))

    enable_evals(app, guard_interval=0)  # no canary guard: nothing here is released
    s = serve(app)
    yield s
    stop(s)


def sign_in(page: Any, key: str = ADMIN_KEY) -> None:
    page.goto("/console/")
    page.fill("#key", key)
    page.click("form.signin button[type=submit]")
    expect(page.locator("nav a").first).to_be_visible()


def quotas(client: httpx.Client, tenant: str) -> dict[str, Any]:
    got = client.get(f"/v1/tenants/{tenant}/quotas")
    assert got.status_code == 200, got.text
    return {q["quota"]: q for q in got.json()["quotas"]}


def test_a_tenant_is_created_given_quotas_and_disabled(
    page: Any, console: Served, shots: Path
) -> None:
    sign_in(page)
    page.click("nav a[data-page=tenants]")
    expect(page.locator("h1")).to_have_text("Tenants")
    page.fill("#tenant-id", "acme-web")
    page.fill("#tenant-name", "Acme Web")
    page.click("text=Create tenant")
    row = page.locator("tr[data-tenant=acme-web]")
    expect(row).to_contain_text("Acme Web")
    expect(row.locator(".status")).to_have_text("enabled")
    # creating opens the new tenant's quotas: none set, so all unlimited
    expect(page).to_have_url(re.compile(r"/console/tenants/acme-web$"))
    expect(page.locator("#quotas h2")).to_contain_text("acme-web")
    expect(page.locator("#quota-runs_per_minute")).to_have_value("")

    # one open session of the tenant, so its usage is not just zero
    with console.client() as admin:
        key = admin.post(
            "/v1/keys", json={"name": "ann", "user_id": "ann", "tenant_id": "acme-web"}
        )
        assert key.status_code == 201, key.text
    with console.client(key.json()["key"]) as ann:
        assert ann.post("/v1/sessions", json={"agent": "assistant"}).status_code == 201

    page.fill("#quota-runs_per_minute", "30")
    page.fill("#quota-cost_per_day", "2.5")
    page.fill("#quota-open_sessions", "4")
    page.click("text=Save quotas")
    expect(page.locator("#quotas [role=status]")).to_have_text("Saved")
    page.reload()
    expect(page.locator("#quota-runs_per_minute")).to_have_value("30")
    expect(page.locator("#quota-cost_per_day")).to_have_value("2.5")
    expect(page.locator("#quota-tokens_per_day")).to_have_value("")
    sessions = page.locator("tr[data-quota=open_sessions]")
    expect(sessions.locator(".used")).to_have_text("1 / 4")
    expect(sessions.locator("meter")).to_have_attribute("value", "1")
    page.screenshot(path=str(shots / "tenants.png"))
    with console.client() as admin:
        stored = quotas(admin, "acme-web")
    assert {k: v["limit"] for k, v in stored.items()} == {
        "runs_per_minute": 30,
        "cost_per_day": 2.5,
        "open_sessions": 4,
    }
    assert stored["open_sessions"]["used"] == 1

    # emptying a limit removes it
    page.fill("#quota-cost_per_day", "")
    page.click("text=Save quotas")
    expect(page.locator("#quotas [role=status]")).to_have_text("Saved")
    with console.client() as admin:
        assert set(quotas(admin, "acme-web")) == {"runs_per_minute", "open_sessions"}

    # disabling asks first: saying no changes nothing
    page.once("dialog", lambda d: d.dismiss())
    row.get_by_role("button", name="Disable acme-web").click()
    expect(row.locator(".status")).to_have_text("enabled")
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Disable acme-web").click()
    expect(row.locator(".status")).to_have_text("disabled")
    with console.client() as admin:
        assert admin.get("/v1/tenants/acme-web").json()["disabled"] is True
    with console.client(key.json()["key"]) as ann:  # its keys stopped at once
        assert ann.get("/v1/sessions").status_code == 401
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Enable acme-web").click()
    expect(row.locator(".status")).to_have_text("enabled")
    with console.client() as admin:
        assert admin.get("/v1/tenants/acme-web").json()["disabled"] is False


def test_api_errors_are_shown_in_the_page(page: Any, console: Served) -> None:
    with console.client() as admin:
        admin.post("/v1/tenants", json={"id": "taken"})
    sign_in(page)
    page.goto("/console/tenants")
    page.fill("#tenant-id", "taken")
    page.click("text=Create tenant")
    expect(page.get_by_role("alert")).to_contain_text("tenant_exists")
    page.fill("#tenant-id", "has spaces")
    page.click("text=Create tenant")
    expect(page.get_by_role("alert")).to_contain_text("invalid_request")
    expect(page.locator("tr[data-tenant='has spaces']")).to_have_count(0)


def test_a_tenant_admin_sees_its_tenant_only_and_is_refused_its_own_quotas(
    page: Any, console: Served
) -> None:
    with console.client() as admin:
        for tenant in ("north", "south"):
            admin.post("/v1/tenants", json={"id": tenant})
        made = admin.post(
            "/v1/keys",
            json={
                "name": "nadia",
                "user_id": "nadia",
                "tenant_id": "north",
                "role": "tenant_admin",
            },
        )
        assert made.status_code == 201, made.text
    sign_in(page, made.json()["key"])
    page.goto("/console/tenants/north")
    expect(page.locator("tr[data-tenant=north]")).to_be_visible()
    expect(page.locator("tr[data-tenant=south]")).to_have_count(0)
    # a tenant's own limits are a platform admin's to set (tenants.manage)
    page.fill("#quota-runs_per_minute", "5")
    page.click("text=Save quotas")
    expect(page.get_by_role("alert")).to_contain_text(
        "forbidden: the tenant_admin role does not grant 'tenants.manage'"
    )
    with console.client() as admin:
        assert quotas(admin, "north") == {}


def test_an_experiment_runs_from_the_page_with_results_and_a_comparison(
    page: Any, console: Served, shots: Path
) -> None:
    sign_in(page)
    page.click("nav a[data-page=evals]")
    expect(page.locator("h1")).to_have_text("Evaluation")
    # a dataset made in the page, one JSON case per line
    page.fill("#ds-name", "arith")
    page.fill("#ds-cases", "\n".join(json.dumps(c) for c in CASES))
    page.click("text=Create dataset")
    expect(page.locator("#datasets tr", has_text="arith")).to_contain_text("2")

    page.select_option("#exp-dataset", label="arith")
    page.select_option("#exp-agent", "calc@v1")
    page.click("text=Run experiment")
    expect(page).to_have_url(re.compile(r"/console/evals/exp_"))
    summary = page.locator("#exp-summary")
    expect(summary.locator(".status")).to_have_text("succeeded")
    expect(page.locator("#exp-pass-rate")).to_have_text("Pass rate: 50 %")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(2)
    passed = rows.filter(has_text="What is 2 plus 2?")
    expect(passed).to_contain_text("The answer is 4.")
    expect(passed.locator("td").nth(1)).to_have_text("4")
    expect(passed.locator(".status")).to_have_text("passed")
    failed = rows.filter(has_text="What is 3 plus 3?")
    expect(failed.locator("td").nth(1)).to_have_text("6")
    expect(failed.locator(".status")).to_have_text("failed")
    expect(failed.locator(".bad")).to_contain_text("contains: 0")
    page.screenshot(path=str(shots / "evals-experiment.png"))
    first = page.url.rsplit("/", 1)[1]

    # the list shows it with its score; v2 runs through the API against it
    page.click("text=← Evaluation")
    row = page.locator(f"tr[data-experiment={first}]")
    expect(row).to_contain_text("calc@v1")
    expect(row.locator(".score")).to_have_text("50 %")
    with console.client() as admin:
        made = admin.post(
            "/v1/evals/experiments",
            json={
                "dataset": "arith",
                "agent": "calc@v2",
                "baseline": first,
                "gate": "regressions==0",
            },
        )
        assert made.status_code == 202, made.text
    second = made.json()["id"]
    page.reload()
    expect(page.locator(f"tr[data-experiment={second}] .status")).to_have_text("succeeded")
    expect(page.locator(f"tr[data-experiment={second}] .score")).to_have_text("0 %")
    page.select_option("#cmp-baseline", first)
    page.select_option("#cmp-candidate", second)
    page.click("form button:text-is('Compare')")
    expect(page.locator("#cmp-counts")).to_have_text(
        "Improvements: 0 · Regressions: 1 · Unchanged: 1"
    )
    expect(page.locator("#comparison tbody tr")).to_contain_text("I do not know.")
    # the gray release of the versioned agent, read-only
    releases = page.locator("#release-table")
    expect(releases.locator("tr[data-release='calc@v1']")).to_contain_text("v1")
    expect(releases.locator("tr[data-release='calc@v2']")).to_contain_text("0 %")
    page.screenshot(path=str(shots / "evals.png"), full_page=True)
    # v2 ran with a baseline and a CI gate: its page says the gate failed, and why
    page.click(f"tr[data-experiment={second}] a")
    expect(page.locator("#exp-summary")).to_contain_text("Regressions: 1 · Improvements: 0")
    expect(page.locator("#exp-gate")).to_have_text("Gate: failed")
    expect(page.locator("#results .bad").first).to_contain_text("missing")


def test_a_running_experiment_is_followed_until_it_ends(page: Any, console: Served) -> None:
    with console.client() as admin:
        made = admin.post("/v1/evals/datasets", json={"name": "count", "cases": [{"input": "go"}]})
        assert made.status_code == 201, made.text
    sign_in(page)
    page.goto("/console/evals")
    page.select_option("#exp-dataset", label="count")
    page.select_option("#exp-agent", "slow")  # streams for about 3 s
    page.click("text=Run experiment")
    status = page.locator("#exp-summary .status")
    expect(status).to_have_text("running")
    expect(status).to_have_text("succeeded")
    expect(page.locator("#results tbody tr")).to_contain_text("w59")


def test_the_pages_speak_chinese(page: Any, shots: Path) -> None:
    sign_in(page)
    page.goto("/console/tenants")
    page.select_option("#lang", "zh")
    expect(page.locator("h1")).to_have_text("租户")
    expect(page.get_by_role("button", name="创建租户")).to_be_visible()
    page.goto("/console/evals")
    expect(page.locator("h1")).to_have_text("评测")
    expect(page.locator("main h2").first).to_have_text("数据集")
    expect(page.get_by_role("button", name="运行实验")).to_be_visible()
    page.screenshot(path=str(shots / "evals-zh.png"), full_page=True)


def test_the_pages_have_no_serious_accessibility_violations(page: Any, console: Served) -> None:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    with console.client() as admin:
        admin.post("/v1/tenants", json={"id": "axe-co"})
        admin.put("/v1/tenants/axe-co/quotas", json={"runs_per_minute": 10})
        admin.post("/v1/evals/datasets", json={"name": "axe", "cases": CASES})
        made = admin.post("/v1/evals/experiments", json={"dataset": "axe", "agent": "calc@v1"})
        assert made.status_code == 202, made.text
    sign_in(page)
    found: dict[str, list[str]] = {}
    for path, ready in (
        ("/console/tenants/axe-co", "tr[data-quota=runs_per_minute] meter"),
        ("/console/evals", "#experiments tbody tr"),
        (f"/console/evals/{made.json()['id']}", "#results tbody tr"),
    ):
        page.goto(path)
        expect(page.locator(ready).first).to_be_visible()
        serious = [
            f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}"
            for v in axe.run(page).response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        if serious:
            found[path] = serious
    assert not found, found
