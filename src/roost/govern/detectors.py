"""DLP detectors: what sensitive data looks like in Chinese and English text.

Built-in kinds: ``cn_id`` (18-digit resident identity number, GB 11643 check digit),
``cn_mobile`` (mainland mobile numbers, optionally +86 and separators), ``bank_card``
(13-19 digits, optionally grouped, Luhn-valid), ``email``, ``ip`` (IPv4 and IPv6, parsed),
``api_key`` (provider key formats, bearer tokens, JWTs, ``key=value`` secrets); tenants add
``custom:<name>`` regexes. Checksummed kinds are confirmed by their checksum, which is
what keeps their false positives low without missing any valid number.

Speed (docs/benchmarks.md): each pattern runs only when a cheap trigger is in the text
(a digit run, ``@``, ``:``, a key prefix); every pattern starts with a fixed character
class, so ``re`` skips ahead with its fast search.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from roost.core.errors import InvalidRequest

KINDS: tuple[str, ...] = ("cn_id", "cn_mobile", "bank_card", "email", "ip", "api_key")
CHECKSUMMED = frozenset({"cn_id", "bank_card"})


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int
    value: str


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def cn_id_valid(value: str) -> bool:
    """GB 11643-1999: the 18th character is the ISO 7064 MOD 11-2 check of the first 17."""
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_RUN = re.compile(r"[0-9][0-9 .\-]{5,}[0-9Xx]")
"""Where numbers are: runs of digits with spaces, dots and hyphens. The numeric kinds run
only on these runs (short strings), not on the whole text."""
_CN_ID = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9Xx](?![0-9])"
)
_MOBILE = re.compile(r"(?<![0-9])(?:86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])")
_CARD = re.compile(r"(?<![0-9])[2-6][0-9]{3}(?:[ -]?[0-9]{4}){2,3}(?:[ -]?[0-9]{1,3})?(?![0-9Xx])")
_IPV4 = re.compile(
    r"(?<![0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?![0-9]|\.[0-9])"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])")
_API_KEY = re.compile(
    r"(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|LTAI[0-9A-Za-z]{12,24}"
    r"|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20}"
    r"|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"
    r"|rst_[A-Za-z0-9_-]{20,})"
)
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
"""A key must not continue a word (checked after the match: a leading ``\b`` would
make ``re`` try every position instead of skipping to the keys' first letters)."""
_ASSIGN = re.compile(r"[:=：]\s*[\"']?([^\s\"',;，。}]{6,})")
_ASSIGN_NAME = re.compile(
    r"(?i)(?:api[_-]?key|apikey|secret|password|passwd|access[_-]?token|auth[_-]?token"
    r"|client[_-]?secret|private[_-]?key|密码|口令|密钥)[\"']?\s*$"
)
"""``password: …``, ``"api_key": "…"``, ``密码：…``: the value after an assignment whose
name (just before it) says it is a secret."""


def _ipv6(value: str) -> bool:
    if value.count(":") < 2:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _ipv6_findings(text: str) -> list[Finding]:
    """IPv6 addresses, looked for only around two colons at most 5 characters apart (a
    time like ``10:30`` costs one ``find``)."""
    out: list[Finding] = []
    i = text.find(":")
    done = -1
    while i >= 0:
        j = text.find(":", i + 1, i + 6)
        if j < 0:
            i = text.find(":", i + 1)
            continue
        if i > done:
            for m in _IPV6.finditer(text, max(0, i - 40), min(len(text), j + 40)):
                if m.start() <= j and m.end() > i and _ipv6(m.group()):
                    out.append(Finding("ip", m.start(), m.end(), m.group()))
                    done = m.end()
                    break
        i = text.find(":", max(j, done) + 1)
    return out


class Detector:
    """Finds sensitive data of the enabled ``kinds`` and of ``custom`` regexes."""

    def __init__(
        self, kinds: Iterable[str] = KINDS, custom: Mapping[str, str] | None = None
    ) -> None:
        self.kinds = frozenset(kinds)
        unknown = self.kinds - set(KINDS)
        if unknown:
            raise InvalidRequest(
                f"unknown DLP kinds: {', '.join(sorted(unknown))}", hint=f"use {', '.join(KINDS)}"
            )
        self.custom: dict[str, re.Pattern[str]] = {}
        for name, pattern in (custom or {}).items():
            try:
                self.custom[name] = re.compile(pattern)
            except re.error as exc:
                raise InvalidRequest(
                    f"custom DLP pattern {name!r} is not a valid regex: {exc}",
                    hint="use Python regular expression syntax",
                ) from None

    def find(self, text: str) -> list[Finding]:
        """Every finding, in text order, overlaps resolved (the earlier, longer wins;
        a checksummed kind wins over an unchecked one on the same digits)."""
        out: list[Finding] = []
        kinds = self.kinds
        numeric = kinds & {"cn_id", "cn_mobile", "bank_card", "ip"}
        if numeric:
            for run in _RUN.finditer(text):
                out += _numeric(run.group(), run.start(), numeric)
        if "email" in kinds and "@" in text:
            at = text.find("@")
            while at >= 0:
                lo = max(0, at - 64)
                m = _EMAIL.search(text, lo, at + 256)
                while m is not None and m.end() <= at:
                    m = _EMAIL.search(text, m.end(), at + 256)
                if m is not None and m.start() <= at:
                    out.append(Finding("email", m.start(), m.end(), m.group()))
                    at = text.find("@", m.end())
                else:
                    at = text.find("@", at + 1)
        if "ip" in kinds:
            out += _ipv6_findings(text)
        if "api_key" in kinds:
            out += [
                Finding("api_key", m.start(), m.end(), m.group())
                for m in _API_KEY.finditer(text)
                if m.start() == 0 or text[m.start() - 1] not in _WORD
            ]
            for m in _ASSIGN.finditer(text):
                if _ASSIGN_NAME.search(text, max(0, m.start() - 24), m.start()):
                    out.append(Finding("api_key", m.start(1), m.end(1), m.group(1)))
        for name, pattern in self.custom.items():
            out += [
                Finding(f"custom:{name}", m.start(), m.end(), m.group())
                for m in pattern.finditer(text)
            ]
        return _resolve(out) if len(out) > 1 else out

    def kinds_in(self, text: str) -> set[str]:
        return {f.kind for f in self.find(text)}


def _numeric(run: str, at: int, kinds: frozenset[str]) -> list[Finding]:
    """The numeric findings in one run of digits (``at``: where it starts in the text)."""
    out: list[Finding] = []
    if "cn_id" in kinds and len(run) >= 18:
        out += [
            Finding("cn_id", at + m.start(), at + m.end(), m.group())
            for m in _CN_ID.finditer(run)
            if cn_id_valid(m.group())
        ]
    if "cn_mobile" in kinds and len(run) >= 11:
        out += [
            Finding("cn_mobile", at + m.start(), at + m.end(), m.group())
            for m in _MOBILE.finditer(run)
        ]
    if "bank_card" in kinds and len(run) >= 13:
        for m in _CARD.finditer(run):
            digits = m.group().replace(" ", "").replace("-", "")
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                out.append(Finding("bank_card", at + m.start(), at + m.end(), m.group()))
    if "ip" in kinds and "." in run:
        out += [Finding("ip", at + m.start(), at + m.end(), m.group()) for m in _IPV4.finditer(run)]
    return out


_RANK = {"cn_id": 0, "bank_card": 1, "api_key": 2, "cn_mobile": 3, "email": 4, "ip": 5}


def _resolve(found: list[Finding]) -> list[Finding]:
    found.sort(key=lambda f: (f.start, -(f.end - f.start), _RANK.get(f.kind, 9)))
    out: list[Finding] = []
    for f in found:
        if out and f.start < out[-1].end:
            last = out[-1]
            if f.end - f.start == last.end - last.start and _RANK.get(f.kind, 9) < _RANK.get(
                last.kind, 9
            ):
                out[-1] = f
            continue
        out.append(f)
    return out
