"""Alert notifications: Alertmanager-style webhooks (with retries) and the log."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx

from roost.core import secret_ref
from roost.core.retry import retry

log = logging.getLogger("roost.alerts")

ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass
class Alert:
    """One alert instance (a rule and a label set) at a state change."""

    name: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    value: float
    summary: str
    severity: str
    level: str
    starts_at: datetime
    ends_at: datetime | None = None
    description: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        key = "\x00".join(f"{k}={v}" for k, v in sorted(self.all_labels().items()))
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def all_labels(self) -> dict[str, str]:
        return {
            "alertname": self.name,
            "severity": self.severity,
            "level": self.level,
            **self.labels,
        }

    def to_alertmanager(self) -> dict[str, Any]:
        annotations = {"summary": self.summary, "value": f"{self.value:g}", **self.annotations}
        if self.description:
            annotations["description"] = self.description
        return {
            "status": self.status,
            "labels": self.all_labels(),
            "annotations": annotations,
            "startsAt": _iso(self.starts_at),
            "endsAt": _iso(self.ends_at) if self.ends_at else ZERO_TIME,
            "generatorURL": "",
            "fingerprint": self.fingerprint,
        }


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def webhook_payload(alerts: Sequence[Alert], *, receiver: str = "roost") -> dict[str, Any]:
    """The JSON body Alertmanager sends to webhook receivers (version 4)."""
    status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    items = [a.to_alertmanager() for a in alerts]
    common = _common([i["labels"] for i in items])
    return {
        "version": "4",
        "groupKey": "{}:" + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(common.items())) + "}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {k: v for k, v in common.items() if k == "alertname"},
        "commonLabels": common,
        "commonAnnotations": _common([i["annotations"] for i in items]),
        "externalURL": "",
        "alerts": items,
    }


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = dict(maps[0])
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


class Notifier(Protocol):
    """Receives alerts whose state changed (firing or resolved)."""

    async def notify(self, alerts: Sequence[Alert]) -> None: ...


class LogNotifier:
    """Writes each alert to the ``roost.alerts`` logger (warning when firing)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or log

    async def notify(self, alerts: Sequence[Alert]) -> None:
        for a in alerts:
            level = logging.WARNING if a.status == "firing" else logging.INFO
            self.logger.log(
                level,
                "alert %s %s: %s",
                a.name,
                a.status,
                a.summary,
                extra={
                    "alertname": a.name,
                    "alert_status": a.status,
                    "severity": a.severity,
                    "alert_labels": a.labels,
                    "alert_value": a.value,
                },
            )


class _TryAgain(Exception):
    """A webhook answer worth another attempt (429, 5xx)."""


class WebhookNotifier:
    """POSTs Alertmanager-format JSON to a URL; retries on connection errors, 429 and 5xx."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 10.0,
        receiver: str = "roost",
    ) -> None:
        if not secret_ref.is_ref(url) and not url.startswith(("http://", "https://")):
            from roost.observe.errors import AlertRuleInvalid

            raise AlertRuleInvalid(f"webhook URL {url!r} must start with http:// or https://")
        self.url = url
        """The URL, or a ``secret://NAME`` reference resolved at each delivery (and the
        only form that is logged)."""
        self.headers = dict(headers or {})
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.receiver = receiver
        self.delivered = 0
        self.failed = 0

    async def notify(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        body = webhook_payload(alerts, receiver=self.receiver)
        target = secret_ref.resolve(self.url)

        async def post() -> httpx.Response:
            resp = await client.post(target, json=body, headers=self.headers)
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _TryAgain(f"HTTP {resp.status_code}")
            return resp

        async with httpx.AsyncClient(timeout=self.timeout) as client:
            try:
                resp = await retry(
                    post,
                    attempts=self.retries + 1,
                    when=lambda exc: isinstance(exc, _TryAgain | httpx.HTTPError),
                    delay=lambda n: self.backoff * 2**n,
                )
            except (_TryAgain, httpx.HTTPError) as exc:
                self.failed += 1
                reason = str(exc) if isinstance(exc, _TryAgain) else exc.__class__.__name__
                log.warning(
                    "alert webhook %s failed after %d attempts: %s",
                    self.url,
                    self.retries + 1,
                    reason,
                )
                return
        if resp.status_code < 300:
            self.delivered += 1
            return
        log.warning("alert webhook %s rejected the alerts: HTTP %s", self.url, resp.status_code)
        self.failed += 1
