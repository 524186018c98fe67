"""``roost audit`` and ``roost lineage`` on a store the server's audit log wrote: exit
status 0 for an intact trail, 1 for a tampered one, 2 for a missing key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from roost.cli.audit import app, lineage_app
from roost.core.settings import get_settings
from roost.govern.audit import AuditEntry, AuditLog
from roost.store import Store

runner = CliRunner()


@pytest.fixture
def db(roost_home: Path) -> str:
    url = f"sqlite:///{roost_home / 'roost.db'}"

    async def fill() -> None:
        store = await Store.open(url)
        log = AuditLog.from_settings(store, get_settings())  # creates the signing key file
        for i in range(6):
            who = "ann" if i % 2 else "ben"
            await log.record(
                AuditEntry(
                    "run.started", user_id=who, run_id="run_1", message_id="msg_in", detail={"i": i}
                )
            )
        await log.record(
            AuditEntry(
                "model.call",
                user_id="ann",
                run_id="run_1",
                message_id="msg_out",
                resource_id="scripted",
                detail={
                    "model": "scripted",
                    "prompt_digest": "sha256:00",
                    "usage": {"input_tokens": 5, "output_tokens": 2},
                },
            )
        )
        await log.close()
        await store.close()

    asyncio.run(fill())
    return url


def test_verify_says_ok_then_names_the_altered_record(db: str) -> None:
    ok = runner.invoke(app, ["verify", "--database-url", db], env={"COLUMNS": "200"})
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output and "signatures checked" in ok.output

    async def tamper() -> None:
        store = await Store.open(db)
        await store.backend.write(
            lambda tx: tx.run("UPDATE audit_records SET user_id = 'eve' WHERE seq = 4")
        )
        await store.close()

    asyncio.run(tamper())
    bad = runner.invoke(app, ["verify", "--database-url", db, "--json"])
    assert bad.exit_code == 1
    assert json.loads(bad.output)["problem"] == {
        "kind": "altered",
        "seq": 4,
        "message": "record 4 was altered: its hash does not match its content",
    }


def test_verify_without_a_key_is_a_typed_error(db: str, roost_home: Path) -> None:
    (roost_home / "audit-signing.key").unlink()
    get_settings.cache_clear()
    out = runner.invoke(app, ["verify", "--database-url", db])
    assert out.exit_code == 2 and "audit_key_missing" in out.output
    skipped = runner.invoke(app, ["verify", "--database-url", db, "--skip-signatures"])
    assert skipped.exit_code == 0 and "NOT checked" in skipped.output


def test_export_one_user_as_csv_and_search(db: str, tmp_path: Path) -> None:
    out = tmp_path / "ann.csv"
    done = runner.invoke(
        app,
        [
            "export",
            "--user",
            "ann",
            "--format",
            "csv",
            "-o",
            str(out),
            "--database-url",
            db,
            "--since",
            "2020-01-01",
        ],
    )
    assert done.exit_code == 0, done.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("seq,at,") and len(lines) == 1 + 4
    found = runner.invoke(app, ["search", "--action", "model.*", "--json", "--database-url", db])
    assert [r["action"] for r in json.loads(found.output)] == ["model.call"]


def test_lineage_prints_the_tree(db: str) -> None:
    out = runner.invoke(lineage_app, ["msg_out", "--database-url", db], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "model calls" in out.output and "scripted" in out.output
    missing = runner.invoke(lineage_app, ["msg_nope", "--database-url", db])
    assert missing.exit_code == 1 and "lineage_not_found" in missing.output


def test_archive_refuses_a_short_retention(db: str) -> None:
    out = runner.invoke(app, ["archive", "--days", "7", "--database-url", db])
    assert out.exit_code == 2 and "audit_retention_too_short" in out.output


def test_hold_and_release_sign_with_the_servers_key_only(db: str, roost_home: Path) -> None:
    placed = runner.invoke(
        app, ["hold", "--user", "ann", "--reason", "case 1", "--database-url", db]
    )
    assert placed.exit_code == 0, placed.output
    hold_id = placed.output.split()[1]
    assert runner.invoke(app, ["release", hold_id, "--database-url", db]).exit_code == 0
    assert runner.invoke(app, ["verify", "--database-url", db]).exit_code == 0
    (roost_home / "audit-signing.key").unlink()  # a CLI elsewhere never makes a key of its own
    get_settings.cache_clear()
    refused = runner.invoke(app, ["hold", "--user", "ann", "--reason", "x", "--database-url", db])
    assert refused.exit_code == 2 and "audit_key_missing" in refused.output
    assert not (roost_home / "audit-signing.key").exists()
