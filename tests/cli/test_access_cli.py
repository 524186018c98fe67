"""``roost keys`` and ``roost tenants`` on a real SQLite store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from roost.cli.access import keys_app, tenants_app
from roost.store import Store

runner = CliRunner()


def test_a_first_tenant_admin_is_made_used_listed_and_revoked(tmp_path: Path) -> None:
    db = ["--database-url", f"sqlite:///{tmp_path / 'r.db'}"]
    made = runner.invoke(tenants_app, ["create", "acme", "--name", "Acme", *db])
    assert made.exit_code == 0, made.output
    refused = runner.invoke(keys_app, ["create", "boss", "--role", "tenant_admin", *db])
    assert refused.exit_code == 2 and "--tenant" in refused.output
    created = runner.invoke(
        keys_app,
        ["create", "boss", "--role", "tenant_admin", "--tenant", "acme", "--json", *db],
    )
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)

    async def verify() -> object:
        async with await Store.open(db[1]) as store:
            return await store.verify_api_key(key["key"])

    found = asyncio.run(verify())
    assert found is not None and found.role == "tenant_admin"  # type: ignore[attr-defined]
    listed = json.loads(runner.invoke(keys_app, ["list", "--tenant", "acme", "--json", *db]).output)
    assert [k["id"] for k in listed] == [key["id"]] and key["key"] not in json.dumps(listed)
    quota = runner.invoke(tenants_app, ["quota", "acme", "runs_per_minute=60", *db])
    assert quota.exit_code == 0, quota.output
    assert "runs_per_minute" in runner.invoke(tenants_app, ["quota", "acme", *db]).output
    bad = runner.invoke(tenants_app, ["quota", "acme", "runs=1", *db])
    assert bad.exit_code == 2
    assert runner.invoke(tenants_app, ["disable", "acme", *db]).exit_code == 0
    assert asyncio.run(verify()) is None
    assert runner.invoke(tenants_app, ["enable", "acme", *db]).exit_code == 0
    assert runner.invoke(keys_app, ["revoke", key["id"], *db]).exit_code == 0
    assert asyncio.run(verify()) is None
    missing = runner.invoke(keys_app, ["revoke", "key_nope", *db])
    assert missing.exit_code == 1 and "api_key_not_found" in missing.output
