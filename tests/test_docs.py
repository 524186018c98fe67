"""The documentation's indexes stay complete."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_decision_is_indexed_with_its_status() -> None:
    decisions = DOCS / "decisions"
    index = (decisions / "README.md").read_text()
    files = sorted(p.name for p in decisions.glob("[0-9][0-9][0-9][0-9]-*.md"))
    rows = re.findall(r"^\| (\d{4}) \| \[.+?\]\((\d{4}-[^)]+\.md)\) \| (.+) \|$", index, re.M)
    assert sorted(f for _, f, _ in rows) == files, "list every decision in decisions/README.md"
    numbers = {f[:4] for f in files}
    for number, file, status in rows:
        assert file.startswith(number)
        assert re.fullmatch(r"current( \(amended by \d{4}.*\))?|superseded by \d{4}", status)
        assert set(re.findall(r"\d{4}", status)) <= numbers, f"{number}: {status}"
        if status.startswith("superseded"):
            assert "Superseded by" in (decisions / file).read_text(), file


def test_the_architecture_page_is_linked_from_the_readme() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    assert "docs/architecture.md" in readme and (DOCS / "architecture.md").exists()
