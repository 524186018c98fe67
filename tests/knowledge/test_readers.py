"""Readers turn real files into sections with their source, page and heading path, and
refuse bad files with typed errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from roost.knowledge import (
    DocumentCorrupt,
    DocumentEmpty,
    DocumentEncodingUnknown,
    DocumentEncrypted,
    DocumentFormatUnsupported,
    DocumentTooLarge,
    read_document,
)
from roost.knowledge.readers import load_bytes

from ._files import make_docx, make_pdf


def test_markdown_sections_keep_their_heading_path() -> None:
    md = "# Handbook\nIntro.\n## Leave\nTwenty days.\n### Sick\nA note.\n```\n# not a heading\n```\n## Pay\nMonthly."
    sections = read_document(md.encode(), "handbook.md")
    paths = [s.metadata.get("heading_path") for s in sections]
    assert paths == ["Handbook", "Handbook > Leave", "Handbook > Leave > Sick", "Handbook > Pay"]
    assert "# not a heading" in sections[2].text
    assert all(s.metadata["source"] == "handbook.md" for s in sections)


def test_html_drops_scripts_and_keeps_headings() -> None:
    html = (
        "<html><head><title>Guide</title><script>var secret = 1;</script></head><body>"
        "<nav>menu</nav><h1>Setup</h1><p>Install the agent.</p><ul><li>Step <b>one</b></li></ul>"
        "<h2>Network</h2><p>Open port 8080.</p></body></html>"
    )
    sections = read_document(html.encode(), "guide.html")
    assert [s.metadata["heading_path"] for s in sections] == ["Setup", "Setup > Network"]
    assert sections[0].text == "Install the agent.\nStep one"
    assert all("secret" not in s.text and "menu" not in s.text for s in sections)
    assert sections[0].metadata["title"] == "Guide"


def test_pdf_pages_are_numbered() -> None:
    sections = read_document(make_pdf(["First page text", "Second page text"]), "report.pdf")
    assert [(s.metadata["page"], s.text) for s in sections] == [
        (1, "First page text"),
        (2, "Second page text"),
    ]


def test_password_protected_pdf_is_document_encrypted() -> None:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(["secret"]))))
    writer.encrypt(user_password="pw", owner_password="owner")
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(DocumentEncrypted) as info:
        read_document(buf.getvalue(), "locked.pdf")
    assert info.value.code == "document_encrypted"


def test_corrupt_pdf_is_document_corrupt() -> None:
    with pytest.raises(DocumentCorrupt) as info:
        read_document(b"%PDF-1.4\n1 0 obj << /Type /Catalog garbage", "broken.pdf")
    assert "broken.pdf" in info.value.message


def test_docx_headings_paragraphs_and_tables() -> None:
    raw = make_docx(
        [(1, "Pricing"), (2, "Discounts")],
        {"Pricing": ["Plans are billed monthly."], "Discounts": ["Schools get 50 % off."]},
    )
    sections = read_document(raw, "pricing.docx")
    assert [(s.metadata.get("heading_path"), s.text) for s in sections[:2]] == [
        ("Pricing", "Plans are billed monthly."),
        ("Pricing > Discounts", "Schools get 50 % off."),
    ]
    assert sections[2].text == "Plan | Price\nGold | 40 EUR"


def test_encrypted_docx_is_document_encrypted(tmp_path: Path) -> None:
    pytest.importorskip("msoffcrypto", reason="msoffcrypto-tool builds the file")
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = io.BytesIO(make_docx([(1, "Secret")], {"Secret": ["Salaries."]}))
    locked = io.BytesIO()
    OOXMLFile(plain).encrypt("pw", locked)
    with pytest.raises(DocumentEncrypted):
        read_document(locked.getvalue(), "salaries.docx")


def test_docx_that_is_not_a_zip_is_corrupt() -> None:
    with pytest.raises(DocumentCorrupt):
        read_document(b"PK\x03\x04 this is not really a zip", "broken.docx")


def test_zero_byte_file_is_document_empty() -> None:
    with pytest.raises(DocumentEmpty):
        read_document(b"", "empty.txt")


def test_whitespace_only_file_is_document_empty() -> None:
    with pytest.raises(DocumentEmpty):
        read_document(b"  \n\n\t ", "blank.md")


def test_a_500_mb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "huge.txt"
    with big.open("wb") as f:  # sparse: takes no disk space
        f.truncate(500 * 1024 * 1024)
    with pytest.raises(DocumentTooLarge) as info:
        load_bytes(big, max_bytes=50 * 1024 * 1024)
    assert info.value.status == 413
    assert info.value.details["size"] == 500 * 1024 * 1024


def test_gb18030_chinese_text_is_decoded() -> None:
    text = "员工每年享有十五天带薪年假，需要提前两周申请。病假需要医生证明。" * 3
    sections = read_document(text.encode("gb18030"), "制度.txt")
    assert sections[0].text == text


def test_bytes_in_no_known_encoding_are_refused() -> None:
    raw = bytes(range(256)) * 8
    with pytest.raises(DocumentEncodingUnknown) as info:
        read_document(raw, "mystery.txt")
    assert "UTF-8" in (info.value.hint or "")


def test_csv_rows_and_json_items_become_sections() -> None:
    rows = read_document(b"name,phone\nAlice,123\nBob,456\n", "people.csv")
    assert [(s.metadata["row"], s.text) for s in rows] == [
        (2, "name: Alice; phone: 123"),
        (3, "name: Bob; phone: 456"),
    ]
    items = read_document(
        json.dumps(
            [{"q": "退货期限?", "a": {"days": 7}}, {"q": "Shipping?", "a": "2 days"}]
        ).encode(),
        "faq.json",
    )
    assert items[0].text == "q: 退货期限?\na.days: 7"
    assert items[1].metadata["row"] == 2


def test_invalid_json_is_corrupt() -> None:
    with pytest.raises(DocumentCorrupt):
        read_document(b"{not json", "data.json")


def test_unknown_extension_is_unsupported() -> None:
    with pytest.raises(DocumentFormatUnsupported) as info:
        read_document(b"\x00\x01", "image.png")
    assert ".pdf" in (info.value.hint or "")
