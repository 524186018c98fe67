"""The console's files, read once from the package and kept gzip-compressed in memory.

Everything a browser loads ships inside the wheel (``static/``), so the console works in
an air-gapped data centre; nothing is fetched from a CDN (decision 0210).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
"""A file name under ``static/``: plain segments, none hidden, no ``..``."""
_COMPRESSIBLE = (".html", ".js", ".css", ".svg", ".txt", ".LICENSE")


@dataclass(frozen=True)
class Asset:
    """One file: its bytes, their gzip (``None`` when it does not pay), type and ETag."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


@cache
def asset(name: str) -> Asset | None:
    """The packaged file ``static/<name>``, or ``None`` (unknown, or a path that tries to
    leave the folder: only plain segments of known types are served)."""
    if len(name) > 200 or not _NAME.fullmatch(name):
        return None
    parts = name.split("/")
    suffix = _suffix(parts[-1])
    if suffix not in TYPES:
        return None
    node = resources.files("roost.server.console").joinpath("static", *parts)
    if not node.is_file():
        return None
    body = node.read_bytes()
    packed = gzip.compress(body, 9, mtime=0) if suffix in _COMPRESSIBLE else None
    if packed is not None and len(packed) >= len(body):
        packed = None
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return Asset(body, packed, TYPES[suffix], etag)
