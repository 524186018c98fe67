"""An app's options, as ``AgentApp`` was given them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BusyPolicy = Literal["reject", "enqueue", "interrupt"]
"""What a second run on a busy session does: 409 ``session_busy``, wait for the first,
or interrupt the first."""


@dataclass(frozen=True)
class AppConfig:
    """An app's options (the arguments of ``AgentApp``)."""

    name: str
    description: str = ""
    store_url: str | None = None
    store_schema: str | None = None
    redis_url: str | None = None
    busy_policy: BusyPolicy = "reject"
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000
    rate_limit: str | None = "60/minute"
    auth_failure_limit: str | None = "60/minute"
    auth: bool = True
    admin_key: str | None = None
    metrics_public: bool = False
    flush_interval: float = 0.25
    keepalive_interval: float = 15.0
    openai_user_sessions: bool = False
    """OpenAI's ``user`` field picks a stable session per (key, user, agent); off, it only
    labels the run and each request without ``X-Session-ID`` is a new conversation."""
