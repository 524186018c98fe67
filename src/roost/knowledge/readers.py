"""Readers: a file's bytes → :class:`Section` s with where each came from.

One function per format, each on the well-kept library of its field (pypdf, python-docx,
Beautiful Soup, the standard csv/json modules); the format comes from the file name's
extension. A document that cannot be read raises a typed :class:`DocumentError` naming
it and saying what to do; nothing here is allowed to raise anything else for bad bytes.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from roost.knowledge.errors import (
    DocumentCorrupt,
    DocumentEmpty,
    DocumentEncodingUnknown,
    DocumentEncrypted,
    DocumentFormatUnsupported,
    DocumentTooLarge,
    KnowledgeBackendUnavailable,
)
from roost.knowledge.records import Section

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""Compound File header: what a password-protected .docx is (an encrypted package)."""
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def load_bytes(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a file, refusing one over ``max_bytes`` before reading any of it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentCorrupt(f"{path}: cannot be read ({exc.strerror})") from None
    if size > max_bytes:
        raise DocumentTooLarge(
            f"{path.name} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB",
            hint="split the document or raise the knowledge base's max_bytes",
            size=size,
            limit=max_bytes,
        )
    return path.read_bytes()


def read_document(raw: bytes, name: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Section]:
    """Parse a document by its name's extension; every section has ``source`` = name."""
    if len(raw) > max_bytes:
        raise DocumentTooLarge(
            f"{name} is {len(raw) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB",
            hint="split the document or raise the knowledge base's max_bytes",
            size=len(raw),
            limit=max_bytes,
        )
    if not raw:
        raise DocumentEmpty(f"{name} is empty (0 bytes)", hint="upload the file again")
    suffix = PurePath(name).suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise DocumentFormatUnsupported(
            f"{name}: no reader for '{suffix or '(no extension)'}' files",
            hint="supported: " + ", ".join(sorted(_READERS)),
        )
    sections = [Section(s.text.strip(), {"source": name, **s.metadata}) for s in reader(raw, name)]
    sections = [s for s in sections if s.text]
    if not sections:
        raise DocumentEmpty(f"{name} has no text to index", hint="is it a scanned image?")
    return sections


def supported_suffixes() -> list[str]:
    return sorted(_READERS)


# -- text -------------------------------------------------------------------------------
def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 (with or without BOM, or UTF-16 with BOM) first, then what charset-normalizer
    finds (GB18030, Big5, Shift-JIS, Latin-1 …); binary or undecidable bytes are refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if b"\x00" not in raw:
        from charset_normalizer import from_bytes

        best = from_bytes(raw).best()
        if best is not None and best.chaos < 0.1:
            return str(best)
    raise DocumentEncodingUnknown(
        f"{name}: the text is not UTF-8 and its encoding could not be recognised",
        hint="convert the file to UTF-8 (e.g. iconv -f GB18030 -t UTF-8)",
    )


def _read_text(raw: bytes, name: str) -> list[Section]:
    return [Section(decode_text(raw, name))]


def split_markdown(text: str) -> list[Section]:
    """Markdown → one section per heading, with ``heading_path`` ("A > B > C");
    headings inside fenced code blocks are code, not structure."""
    outline = _Outline()
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            outline.heading(len(match.group(1)), match.group(2).strip())
        else:
            outline.line(line)
    return outline.done()


class _Outline:
    """Text under the current heading path, cut into a section at every heading."""

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.sections: list[Section] = []
        self._metadata = metadata or {}
        self._path: list[tuple[int, str]] = []
        self._lines: list[str] = []

    def heading(self, level: int, title: str) -> None:
        self._flush()
        self._path = [(lv, t) for lv, t in self._path if lv < level]
        self._path.append((level, title))

    def line(self, text: str) -> None:
        self._lines.append(text)

    def done(self) -> list[Section]:
        self._flush()
        return self.sections

    def _flush(self) -> None:
        body = "\n".join(self._lines).strip()
        if body:
            meta = dict(self._metadata)
            if self._path:
                meta["heading_path"] = " > ".join(t for _, t in self._path)
            self.sections.append(Section(body, meta))
        self._lines.clear()


def _read_markdown(raw: bytes, name: str) -> list[Section]:
    return split_markdown(decode_text(raw, name))


def _read_html(raw: bytes, name: str) -> list[Section]:
    bs4 = _require("bs4", "beautifulsoup4")
    soup = bs4.BeautifulSoup(decode_text(raw, name), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    outline = _Outline({"title": title} if title else None)
    body = soup.body or soup
    blocks = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "th", "dd", "dt"]
    for el in body.find_all(blocks):
        if el.name != "pre" and el.find_parent(["pre", *[b for b in blocks if b[0] != "h"]]):
            continue  # its text is taken with its block ancestor
        text = el.get_text(" ", strip=True)
        if not text:
            continue
        if el.name[0] == "h" and el.name[1:].isdigit():
            outline.heading(int(el.name[1:]), text)
        else:
            outline.line(text)
    sections = outline.done()
    if not sections:  # no block elements: plain text in a body
        text = body.get_text("\n", strip=True)
        return [Section(text, {"title": title} if title else {})]
    return sections


def _read_pdf(raw: bytes, name: str) -> list[Section]:
    pypdf = _require("pypdf", "pypdf")
    try:
        reader = pypdf.PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentEncrypted(
                f"{name} is password-protected", hint="remove the password and upload it again"
            )
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            sections.append(Section(page.extract_text() or "", {"page": number}))
        return sections
    except DocumentEncrypted:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        if "encrypt" in str(exc).lower() or "password" in str(exc).lower():
            raise DocumentEncrypted(
                f"{name} is password-protected", hint="remove the password and upload it again"
            ) from None
        raise DocumentCorrupt(
            f"{name} is not a readable PDF ({type(exc).__name__}: {str(exc)[:200]})",
            hint="open and re-save it as PDF",
        ) from None


def _read_docx(raw: bytes, name: str) -> list[Section]:
    if raw.startswith(_OLE_MAGIC):
        raise DocumentEncrypted(
            f"{name} is password-protected (or an old binary .doc)",
            hint="remove the password and save it as .docx",
        )
    docx = _require("docx", "python-docx")
    try:
        document = docx.Document(io.BytesIO(raw))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentCorrupt(
            f"{name} is not a readable .docx ({type(exc).__name__})",
            hint="open and re-save it in Word or LibreOffice",
        ) from None
    except Exception as exc:  # lxml errors for a damaged package part
        raise DocumentCorrupt(f"{name} is not a readable .docx ({type(exc).__name__})") from None
    outline = _Outline()
    for para in document.paragraphs:
        style = (para.style.name if para.style is not None else "") or ""
        text = para.text.strip()
        level = _docx_heading_level(style)
        if level and text:
            outline.heading(level, text)
        elif text:
            outline.line(text)
    sections = outline.done()
    for table in document.tables:
        rows = [" | ".join(c.text.strip() for c in row.cells) for row in table.rows]
        if rows:
            sections.append(Section("\n".join(rows), {"table": True}))
    return sections


def _docx_heading_level(style: str) -> int:
    if style == "Title":
        return 1
    if style.startswith("Heading "):
        tail = style.removeprefix("Heading ").strip()
        return int(tail) if tail.isdigit() else 0
    return 0


def _read_csv(raw: bytes, name: str) -> list[Section]:
    text = decode_text(raw, name)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise DocumentCorrupt(f"{name} is not valid CSV ({exc})") from None
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    sections = []
    for number, row in enumerate(body, start=2):
        pairs = [f"{h}: {v}" for h, v in zip(header, row, strict=False) if v.strip()]
        if pairs:
            sections.append(Section("; ".join(pairs), {"row": number}))
    return sections


def _read_json(raw: bytes, name: str) -> list[Section]:
    try:
        value = json.loads(decode_text(raw, name))
    except ValueError as exc:
        raise DocumentCorrupt(f"{name} is not valid JSON ({exc})") from None
    items = value if isinstance(value, list) else [value]
    return [
        Section(_json_text(item), {"row": i} if len(items) > 1 else {})
        for i, item in enumerate(items, start=1)
    ]


def _json_text(value: Any, prefix: str = "") -> str:
    """Flatten JSON into ``key.path: value`` lines, the form a retriever can match."""
    if isinstance(value, dict):
        return "\n".join(_json_text(v, f"{prefix}{k}.") for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(_json_text(v, prefix) for v in value)
    text = value if isinstance(value, str) else json.dumps(value)
    return f"{prefix.rstrip('.')}: {text}" if prefix else str(text)


def _require(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise KnowledgeBackendUnavailable(
            f"reading this format needs {package}", hint="pip install 'roost[knowledge]'"
        ) from None


_READERS: dict[str, Callable[[bytes, str], list[Section]]] = {
    ".txt": _read_text,
    ".text": _read_text,
    ".log": _read_text,
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
    ".csv": _read_csv,
    ".tsv": _read_csv,
    ".json": _read_json,
}
