"""Data protection per tenant: content encrypted at rest, confidential tenants.

:class:`TenantSealer` is the store's :class:`~roost.store.sealing.ContentSealer`. A tenant
that turned encryption on has a data key in the secret store (``tenant/<id>/data-key/<n>``,
itself envelope-encrypted under the master key); message content, run event payloads,
agent state and span content of that tenant are sealed with it (AES-256-GCM or SM4-GCM).

Everything the sealer needs is cached in memory — the tenant of a session or run, a
tenant's policy (for :data:`POLICY_TTL` seconds), opened data keys (for the process's
life: a key name always names the same key) — and looked up inside the transaction that
needs it on a miss, so a run adds no transaction of its own (decision 0192).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from roost.core.errors import Conflict
from roost.core.settings import Settings, get_settings
from roost.govern import crypto
from roost.govern.crypto import Algorithm
from roost.govern.dlp import DlpPolicy, Redactor
from roost.govern.errors import DecryptionFailed, SecretNotFound
from roost.govern.keyring import KeyWrapper, MasterKey, keyring_from_settings, parse_key
from roost.govern.routing import TenantScope, enter_tenant_scope
from roost.govern.secrets import SecretStore, unseal_row
from roost.store import Store
from roost.store.backend import Tx
from roost.store.secrets import ProtectionRow, protection_row, secret_row, tenant_of

POLICY_TTL = 30.0
"""Seconds a tenant's policy is trusted from memory: how long another replica may take
to start sealing after encryption was turned on."""
MAX_OWNERS = 200_000
HASH_KEY = "dlp/hash-key"


class TenantSealer:
    """Seals content of tenants that asked for encryption at rest."""

    def __init__(self, keys: KeyWrapper, *, policy_ttl: float = POLICY_TTL) -> None:
        self.keys = keys
        self.policy_ttl = policy_ttl
        self._owners: dict[tuple[str, str], str | None] = {}
        self._policies: dict[str, tuple[float, ProtectionRow | None]] = {}
        self._data_keys: dict[str, tuple[Algorithm, bytes]] = {}
        self._redactors: dict[str, tuple[Any, Redactor]] = {}
        self.hash_key = b""
        """Key of the DLP ``hash`` action (the secret ``dlp/hash-key``)."""
        self.profile = "standard"
        self._lock = threading.Lock()
        self.lookups = 0
        """Queries the sealer made on cache misses (tests and the benchmark read it)."""

    # -- caches -----------------------------------------------------------------------
    def remember(
        self, *, session_id: str | None, run_id: str | None, tenant_id: str | None
    ) -> None:
        if len(self._owners) > MAX_OWNERS:
            self._owners.clear()
        if session_id is not None:
            self._owners["s", session_id] = tenant_id
        if run_id is not None:
            self._owners["r", run_id] = tenant_id

    def forget_policy(self, tenant_id: str | None = None) -> None:
        with self._lock:
            if tenant_id is None:
                self._policies.clear()
            else:
                self._policies.pop(tenant_id, None)

    def _tenant(self, tx: Tx, session_id: str | None, run_id: str | None) -> str | None:
        key = ("s", session_id) if session_id is not None else ("r", run_id or "")
        if key in self._owners:
            return self._owners[key]
        self.lookups += 1
        tenant = tenant_of(tx, session_id=session_id, run_id=run_id)
        self.remember(session_id=session_id, run_id=run_id, tenant_id=tenant)
        return tenant

    def policy(self, tx: Tx, tenant_id: str) -> ProtectionRow | None:
        hit = self._policies.get(tenant_id)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        self.lookups += 1
        row = protection_row(tx, tenant_id)
        self._policies[tenant_id] = (now + self.policy_ttl, row)
        return row

    def _data_key(self, tx: Tx | None, name: str) -> tuple[Algorithm, bytes]:
        hit = self._data_keys.get(name)
        if hit is not None:
            return hit
        if tx is None:
            raise DecryptionFailed(f"data key {name} is not loaded")
        self.lookups += 1
        row = secret_row(tx, name)
        if row is None:
            raise DecryptionFailed(
                f"data key {name} is missing from the secret store",
                hint="restore the secrets table with the content it protects",
            )
        key = parse_key(unseal_row(self.keys, row).decode())
        self._data_keys[name] = (key.algorithm, key.key)
        return key.algorithm, key.key

    # -- ContentSealer ----------------------------------------------------------------
    def seal(
        self,
        tx: Tx,
        kind: str,
        text: str,
        *,
        tenant_id: str | None = None,
        session_id: str | None = None,
        run_id: str | None = None,
    ) -> str | None:
        tenant = tenant_id
        if tenant is None and (session_id is not None or run_id is not None):
            tenant = self._tenant(tx, session_id, run_id)
        if tenant is None:
            return None
        pol = self.policy(tx, tenant)
        if pol is None:
            return None
        redacted = None
        if (
            kind == "messages"
            and pol.policy.get("actions", {}).get("transcripts", "allow") != "allow"
        ):
            redacted = text = _redact_msg_json(text, self.redactor(pol))
        if not pol.encrypt or pol.key_name is None:
            return redacted
        algo, key = self._data_key(tx, pol.key_name)
        blob = base64.b64encode(crypto.seal(algo, key, text.encode(), kind.encode())).decode()
        return f'{{"$sealed":1,"k":{json.dumps(pol.key_name)},"d":"{blob}"}}'

    def redactor(self, pol: ProtectionRow) -> Redactor:
        """The tenant's DLP redactor, compiled once per version of its policy."""
        hit = self._redactors.get(pol.tenant_id)
        if hit is not None and hit[0] == pol.updated_at:
            return hit[1]
        redactor = Redactor(
            DlpPolicy.from_document(pol.policy), hash_key=self.hash_key, profile=self.profile
        )
        self._redactors[pol.tenant_id] = (pol.updated_at, redactor)
        return redactor

    def open(self, tx: Tx | None, kind: str, sealed: Mapping[str, Any]) -> str:
        algo, key = self._data_key(tx, str(sealed["k"]))
        raw = base64.b64decode(str(sealed["d"]))
        return crypto.open_sealed(algo, key, raw, kind.encode()).decode()


def _redact_msg_json(text: str, redactor: Redactor) -> str:
    """A stored message with the ``transcripts`` action applied to its text (ids and
    structure untouched)."""
    msg = json.loads(text)

    def blocks(items: list[Any]) -> None:
        for block in items:
            if isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    block["text"] = redactor.redact(block["text"], "transcripts")
                if isinstance(block.get("content"), list):
                    blocks(block["content"])

    if isinstance(msg.get("content"), list):
        blocks(msg["content"])
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"))


class DataProtection:
    """Turns a tenant's protection on or off and keeps the store's sealer current."""

    def __init__(
        self, store: Store, keys: KeyWrapper | None = None, *, settings: Settings | None = None
    ) -> None:
        self.store = store
        self.settings = settings or get_settings()
        self.keys = keys if keys is not None else keyring_from_settings(self.settings)
        self.secrets = SecretStore(store, self.keys, settings=self.settings)
        sealer = store.sealer
        if not isinstance(sealer, TenantSealer):
            sealer = TenantSealer(self.keys)
            store.sealer = sealer
        self.sealer = sealer
        self._scopes: dict[str, tuple[float, TenantScope | None]] = {}

    async def set_policy(
        self,
        tenant_id: str,
        *,
        encrypt: bool | None = None,
        confidential: bool | None = None,
        policy: Mapping[str, Any] | None = None,
    ) -> ProtectionRow:
        """Change what is given; a tenant turning encryption on gets its data key."""
        current = await self.store.get_protection(tenant_id)
        key_name = current.key_name if current else None
        enc = encrypt if encrypt is not None else bool(current and current.encrypt)
        if enc and key_name is None:
            key_name = f"tenant/{tenant_id}/data-key/1"
            algo = crypto.algorithm_of(self.settings.crypto_profile)
            line = MasterKey(algo, crypto.new_key(algo)).line()
            await self.secrets.set(key_name, line, tenant_id=tenant_id)
        row = await self.store.put_protection(
            tenant_id,
            encrypt=enc,
            confidential=confidential
            if confidential is not None
            else bool(current and current.confidential),
            key_name=key_name,
            policy=policy if policy is not None else (current.policy if current else {}),
        )
        self.sealer.forget_policy(tenant_id)
        self._scopes.pop(tenant_id, None)
        return row

    async def rotate_tenant_key(self, tenant_id: str) -> ProtectionRow:
        """Give an encrypted tenant a new data key (``…/data-key/<n+1>``): new content is
        sealed with it; content sealed before names its own key and keeps opening."""
        current = await self.store.get_protection(tenant_id)
        if current is None or not current.encrypt or current.key_name is None:
            raise Conflict(
                f"tenant {tenant_id!r} is not encrypted at rest",
                hint="turn encryption on first (PUT /v1/data-protection/{tenant_id})",
            )
        prefix, _, n = current.key_name.rpartition("/")
        key_name = f"{prefix}/{int(n) + 1}"
        algo = crypto.algorithm_of(self.settings.crypto_profile)
        await self.secrets.set(
            key_name, MasterKey(algo, crypto.new_key(algo)).line(), tenant_id=tenant_id
        )
        row = await self.store.put_protection(
            tenant_id,
            encrypt=True,
            confidential=current.confidential,
            key_name=key_name,
            policy=current.policy,
        )
        self.sealer.forget_policy(tenant_id)
        return row

    async def get_policy(self, tenant_id: str) -> ProtectionRow | None:
        return await self.store.get_protection(tenant_id)

    async def start(self) -> None:
        """Load (or create) the key of the DLP ``hash`` action."""
        try:
            key = await self.secrets.get_bytes(HASH_KEY)
        except SecretNotFound:
            key = base64.b64encode(crypto.new_key("aes-256-gcm"))
            await self.secrets.set(HASH_KEY, key)
        self.sealer.hash_key = base64.b64decode(key)
        self.sealer.profile = self.settings.crypto_profile

    async def scope_for(self, tenant_id: str | None) -> TenantScope | None:
        """The routing scope of a tenant's runs (its policy, cached :data:`POLICY_TTL`)."""
        if tenant_id is None:
            return None
        now = time.monotonic()
        hit = self._scopes.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = await self.store.get_protection(tenant_id)
        scope = (
            TenantScope(confidential=row.confidential, redactor=self.sealer.redactor(row))
            if row is not None
            else None
        )
        self._scopes[tenant_id] = (now + POLICY_TTL, scope)
        return scope

    async def redact(self, text: str, sink: str, *, tenant_id: str | None = None) -> str:
        """``text`` as ``sink`` may hold it under the tenant's DLP policy (the default
        policy without a tenant): what the audit trail calls for ``audit`` content."""
        scope = await self.scope_for(tenant_id)
        if scope is not None and scope.redactor is not None:
            return scope.redactor.redact(text, sink)
        default = Redactor(hash_key=self.sealer.hash_key, profile=self.settings.crypto_profile)
        return default.redact(text, sink)

    async def enter_run(self, tenant_id: str | None) -> None:
        """Called at the start of a run's own task: its models see the tenant's policy."""
        enter_tenant_scope(await self.scope_for(tenant_id))


def install_data_protection(store: Store, keys: KeyWrapper | None = None) -> DataProtection:
    """Give ``store`` a :class:`TenantSealer` (content of protected tenants sealed)."""
    return DataProtection(store, keys)
