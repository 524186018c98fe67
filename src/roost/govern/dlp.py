"""DLP policy: what happens to sensitive data found on its way to each sink.

Sinks: ``logs`` and ``traces`` (through roost.observe's redaction hooks), ``transcripts``
(messages as stored), ``audit`` (content of audit records, for the audit trail), and
``prompts`` (what is sent to a model provider). Actions:

- ``allow``: leave the text as it is;
- ``mask``: keep the shape, hide the middle (``138****5678``, ``a***@example.com``);
- ``hash``: replace with a keyed digest (``[cn_mobile:3f9a…]``), stable across records
  so joins still work, without revealing the value (HMAC-SHA256 / HMAC-SM3);
- ``drop``: replace the whole text with a stub naming what it contained;
- ``route`` (``prompts`` only, the default): the prompt goes unchanged, but only to a
  model marked private (:mod:`roost.govern.routing`).

A tenant's policy lives with its data protection settings (``data_protection.policy``);
decision 0193 records the defaults and why.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from roost.core.errors import InvalidRequest
from roost.govern import crypto
from roost.govern.detectors import KINDS, Detector, Finding

SINKS: tuple[str, ...] = ("logs", "traces", "transcripts", "audit", "prompts")
ACTIONS: dict[str, tuple[str, ...]] = {
    "logs": ("allow", "mask", "hash", "drop"),
    "traces": ("allow", "mask", "hash", "drop"),
    "transcripts": ("allow", "mask", "hash"),
    "audit": ("allow", "mask", "hash", "drop"),
    "prompts": ("route", "allow", "mask", "hash", "drop"),
}
DEFAULT_ACTIONS: dict[str, str] = {
    "logs": "mask",
    "traces": "mask",
    "transcripts": "allow",
    "audit": "hash",
    "prompts": "route",
}


@dataclass(frozen=True)
class DlpPolicy:
    """Actions per sink, the detector kinds in use and a tenant's custom patterns."""

    actions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    kinds: tuple[str, ...] = KINDS
    custom: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any] | None) -> DlpPolicy:
        """A policy from its JSON form (missing parts take the defaults); typed errors
        say what is wrong."""
        doc = doc or {}
        unknown = set(doc) - {"actions", "kinds", "custom"}
        if unknown:
            raise InvalidRequest(
                f"unknown DLP policy fields: {', '.join(sorted(unknown))}",
                hint="a policy has actions, kinds and custom",
            )
        actions = dict(DEFAULT_ACTIONS)
        for sink, action in dict(doc.get("actions") or {}).items():
            if sink not in ACTIONS:
                raise InvalidRequest(f"unknown DLP sink {sink!r}", hint=f"use {', '.join(SINKS)}")
            if action not in ACTIONS[sink]:
                raise InvalidRequest(
                    f"action {action!r} is not available for {sink}",
                    hint=f"use {', '.join(ACTIONS[sink])}",
                )
            actions[sink] = action
        kinds = tuple(doc.get("kinds") or KINDS)
        custom = {str(k): str(v) for k, v in dict(doc.get("custom") or {}).items()}
        Detector(kinds, custom)  # validates kinds and patterns
        return cls(actions, kinds, custom)

    def to_document(self) -> dict[str, Any]:
        return {
            "actions": dict(self.actions),
            "kinds": list(self.kinds),
            "custom": dict(self.custom),
        }


@dataclass(frozen=True)
class Redaction:
    """The text after the sink's action, what was found, and the action taken."""

    text: str
    findings: list[Finding]
    action: str

    @property
    def kinds(self) -> list[str]:
        return sorted({f.kind for f in self.findings})


def mask(finding: Finding) -> str:
    """The value with its middle hidden, the way Chinese and Western apps show it."""
    v, kind = finding.value, finding.kind
    if kind == "cn_mobile":
        digits = [i for i, c in enumerate(v) if c.isdigit()]
        hide = set(digits[-8:-4])
        return "".join("*" if i in hide else c for i, c in enumerate(v))
    if kind in ("cn_id", "bank_card"):
        digits = [i for i, c in enumerate(v) if c.isalnum()]
        hide = set(digits[4:-4]) if kind == "bank_card" else set(digits[3:-4])
        return "".join("*" if i in hide else c for i, c in enumerate(v))
    if kind == "email":
        user, _, host = v.partition("@")
        return f"{user[:1]}***@{host}"
    if kind == "ip":
        if "." in v:
            a, b, *_ = v.split(".")
            return f"{a}.{b}.*.*"
        return v.split(":")[0] + ":****"
    return f"[REDACTED:{kind}]"


class Redactor:
    """Applies a :class:`DlpPolicy`: the detector is compiled once per policy."""

    def __init__(
        self,
        policy: DlpPolicy | None = None,
        *,
        hash_key: bytes = b"",
        profile: str = "standard",
    ) -> None:
        self.policy = policy or DlpPolicy()
        self.detector = Detector(self.policy.kinds, self.policy.custom)
        self.hash_key = hash_key
        self.profile = profile

    def action(self, sink: str) -> str:
        try:
            return self.policy.actions[sink]
        except KeyError:
            raise InvalidRequest(
                f"unknown DLP sink {sink!r}", hint=f"use {', '.join(SINKS)}"
            ) from None

    def digest(self, finding: Finding) -> str:
        raw = crypto.keyed_digest(self.profile, self.hash_key, finding.value.encode())
        return f"[{finding.kind}:{base64.b32encode(raw[:10]).decode().lower()}]"

    def apply(self, text: str, sink: str) -> Redaction:
        action = self.action(sink)
        findings = self.detector.find(text) if text else []
        if not findings or action in ("allow", "route"):
            return Redaction(text, findings, action)
        if action == "drop":
            kinds = ", ".join(sorted({f.kind for f in findings}))
            return Redaction(f"[DROPPED: contained {kinds}]", findings, action)
        parts: list[str] = []
        last = 0
        for f in findings:
            parts.append(text[last : f.start])
            parts.append(mask(f) if action == "mask" else self.digest(f))
            last = f.end
        parts.append(text[last:])
        return Redaction("".join(parts), findings, action)

    def redact(self, text: str, sink: str) -> str:
        return self.apply(text, sink).text
