"""Gray release: a policy per agent splits new sessions between its versions.

Versions are agents registered as ``name@version`` (``assistant@v1``, ``assistant@v2``):
a session asked for ``assistant`` gets a version picked here and keeps it (the session's
agent *is* the version), so every run, trace, usage row and audit record names it. The
pick, in order: a header naming the version (if the policy names the header), the user
lists, the tenant lists, then the weights — by a hash of (agent, tenant, user), so one
user stays on one version while the weights do not change (decision 0222).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from roost.evals.errors import ReleaseNotFound, ReleasePolicyInvalid
from roost.evals.records import ReleaseRecords
from roost.store import Store

Percent = Annotated[float, Field(ge=0, le=100)]
Metric = Literal["error_rate", "p95_latency_ms", "cost_per_session", "eval_pass_rate"]


class GuardRule(BaseModel):
    """Fires when the canary's ``metric`` (minus the stable version's, when
    ``relative``) compares true with ``threshold``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    metric: Metric
    op: Literal[">", ">=", "<", "<="] = ">"
    threshold: float
    relative: bool = False


class Guard(BaseModel):
    """Watches the canary while it runs; a rule that fires sends traffic back to stable."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    canary: str
    window_s: float = Field(300.0, gt=0, le=7 * 86400)
    min_runs: int = Field(20, ge=1)
    rules: list[GuardRule] = Field(
        default_factory=lambda: [GuardRule(metric="error_rate", op=">", threshold=0.1)]
    )


class ReleasePolicy(BaseModel):
    """How new sessions of one agent are split between its versions."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    stable: str
    weights: dict[str, Percent] = Field(default_factory=dict, max_length=32)
    """Percent of new sessions per version; they add up to 100. Empty: all on stable."""
    users: dict[str, list[str]] = Field(default_factory=dict)
    """Version → users who always get it."""
    tenants: dict[str, list[str]] = Field(default_factory=dict)
    """Version → tenants whose users always get it."""
    header: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")
    """A request header that names the version (testers pin one with it)."""
    guard: Guard | None = None
    status: Literal["active", "promoted", "rolled_back"] = "active"
    note: str | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _weights_add_up(self) -> ReleasePolicy:
        if self.weights and abs(sum(self.weights.values()) - 100.0) > 1e-6:
            raise ValueError(f"weights add up to {sum(self.weights.values()):g}, not 100")
        return self

    def versions(self) -> set[str]:
        named = {self.stable, *self.weights, *self.users, *self.tenants}
        if self.guard is not None:
            named.add(self.guard.canary)
        return named


def split_name(name: str) -> tuple[str, str | None]:
    """``"assistant@v2"`` → ``("assistant", "v2")``; ``"assistant"`` → ``("assistant", None)``."""
    base, sep, version = name.partition("@")
    return base, (version if sep else None)


def versions_of(agent: str, registered: Iterable[str]) -> list[str]:
    """The versions of ``agent`` the app registered, in registration order."""
    return [v for n in registered if (b := split_name(n))[0] == agent and (v := b[1])]


def parse_policy(agent: str, data: Any, registered: Iterable[str]) -> ReleasePolicy:
    """A validated policy, or ``release_policy_invalid`` saying what to fix."""
    try:
        policy = ReleasePolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ReleasePolicyInvalid(
            f"release policy: {where + ': ' if where else ''}{first['msg']}",
            hint='e.g. {"stable": "v1", "weights": {"v1": 90, "v2": 10}}',
        ) from None
    known = versions_of(agent, registered)
    if not known:
        raise ReleaseNotFound(
            f"agent {agent!r} has no versions",
            hint=f"register them as @app.agent(name='{agent}@v1'), '{agent}@v2' …",
        )
    unknown = sorted(policy.versions() - set(known))
    if unknown:
        raise ReleasePolicyInvalid(
            f"unknown version(s) of {agent!r}: {', '.join(unknown)}",
            hint=f"known versions: {', '.join(known)}",
        )
    return policy


def bucket(agent: str, tenant_id: str | None, user_id: str | None, key: str) -> float:
    """A stable number in [0, 100) for this caller of this agent."""
    who = f"{agent}\0{tenant_id or ''}\0{user_id or key}".encode()
    return int.from_bytes(hashlib.blake2b(who, digest_size=8).digest(), "big") / 2**64 * 100


def choose(
    agent: str,
    policy: ReleasePolicy,
    *,
    user_id: str | None,
    tenant_id: str | None,
    key: str,
    headers: Mapping[str, str],
) -> str:
    """The version a new session of ``agent`` gets under ``policy``."""
    if policy.header:
        pinned = headers.get(policy.header.lower())
        if pinned and pinned in policy.versions():
            return pinned
    if user_id is not None:
        for version, users in policy.users.items():
            if user_id in users:
                return version
    if tenant_id is not None:
        for version, tenants in policy.tenants.items():
            if tenant_id in tenants:
                return version
    if not policy.weights:
        return policy.stable
    point = bucket(agent, tenant_id, user_id, key)
    edge = 0.0
    for version, weight in sorted(policy.weights.items()):
        edge += weight
        if point < edge:
            return version
    return policy.stable


class ReleaseRouter:
    """The app's agent router: policies read from the store, cached ``ttl`` seconds, so a
    change made on any replica applies everywhere within ``ttl`` without a restart."""

    def __init__(self, store: Store, registered: Iterable[str], ttl: float = 2.0) -> None:
        self.records = ReleaseRecords(store)
        self.registered = list(registered)
        self.ttl = ttl
        self._cache: dict[str, ReleasePolicy] = {}
        self._loaded = -1e9

    def invalidate(self) -> None:
        self._loaded = -1e9

    async def policies(self) -> dict[str, ReleasePolicy]:
        if time.monotonic() - self._loaded > self.ttl:
            found = await self.records.all_policies()
            cache = {}
            for agent, (data, _rev) in found.items():
                try:
                    cache[agent] = ReleasePolicy.model_validate(data)
                except ValidationError:
                    continue  # a policy an older Roost wrote: ignored, not fatal
            self._cache, self._loaded = cache, time.monotonic()
        return self._cache

    async def __call__(
        self, name: str | None, principal: Any, headers: Mapping[str, str]
    ) -> str | None:
        if name is None and self.registered:
            base, version = split_name(self.registered[0])
            if version is None:
                return None  # the default agent is not versioned
            name = base  # the default agent's versions: released like a named one
        if name is None or name in self.registered:
            return name  # a version (or an unversioned agent) named outright
        versions = versions_of(name, self.registered)
        if not versions:
            return name  # not a versioned agent: the registry answers (maybe 404)
        policy = (await self.policies()).get(name)
        if policy is None:
            return f"{name}@{versions[0]}"  # no policy yet: the first registered version
        version = choose(
            name,
            policy,
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            key=principal.key_id,
            headers=headers,
        )
        return f"{name}@{version}"
