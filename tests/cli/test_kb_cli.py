"""``roost kb``: create, ingest (with a per-document report), search, list, delete on
the embedded store, with the real local embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from roost.cli.kb import app


@pytest.fixture
def home(roost_home: Path, onnx_dir: Path) -> Path:
    embedders = roost_home / "models" / "embedders"
    embedders.mkdir(parents=True)
    (embedders / onnx_dir.name).symlink_to(onnx_dir)  # the converted model, not a copy
    return roost_home


def test_create_ingest_search_list_delete(home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "faq.md").write_text("# FAQ\n\nThe office closes at 18:00 on Fridays.\n")
    (docs / "午餐.txt").write_text("员工食堂午餐时间为十一点半到一点半。", encoding="utf-8")
    (docs / "empty.txt").write_bytes(b"")

    created = runner.invoke(app, ["create", "docs"])
    assert created.exit_code == 0, created.output
    assert "local:all-MiniLM-L6-v2, 384 dims" in created.output

    ingested = runner.invoke(app, ["ingest", "docs", str(docs), "--json"])
    assert ingested.exit_code == 2  # one document failed
    report = json.loads(ingested.stdout)
    assert sorted(r["source"] for r in report["ingested"]) == ["faq.md", "午餐.txt"]
    assert [(f["source"], f["code"]) for f in report["failed"]] == [("empty.txt", "document_empty")]

    again = runner.invoke(app, ["ingest", "docs", str(docs / "faq.md")])
    assert again.exit_code == 0 and "1 unchanged; 0 failed" in again.output

    found = runner.invoke(app, ["search", "docs", "when does the office close on friday", "--json"])
    hits = json.loads(found.stdout)
    assert hits[0]["source"] == "faq.md" and hits[0]["chunk_id"].startswith("chk_")
    zh = json.loads(runner.invoke(app, ["search", "docs", "食堂午餐几点", "--json"]).stdout)
    assert zh[0]["source"] == "午餐.txt"

    listed = runner.invoke(app, ["list", "docs"])
    assert "faq.md" in listed.output and "午餐.txt" in listed.output
    removed = runner.invoke(app, ["delete", "docs", "faq.md", "--yes"])
    assert removed.exit_code == 0 and "1 chunks" in removed.output
    assert "faq.md" not in runner.invoke(app, ["list", "docs"]).output
    assert runner.invoke(app, ["delete", "docs", "--yes"]).exit_code == 0
    assert "docs" not in runner.invoke(app, ["list"]).output


def test_unknown_knowledge_base_is_a_clear_error(home: Path) -> None:
    result = CliRunner().invoke(app, ["search", "nope", "anything"])
    assert result.exit_code == 1
    assert "knowledge_base_not_found" in result.output
