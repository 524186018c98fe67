"""``AuditLog``: append records durably, in batches, and hand out transaction bodies for
operations that commit their audit records with themselves.

``await log.record(entry)`` returns once the record is committed: concurrent callers
share one transaction (up to :data:`MAX_BATCH` records), so a busy server pays one
commit for many records and an acknowledged record survives ``kill -9``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from roost.govern.audit import chain
from roost.govern.audit.chain import ChainPolicy
from roost.govern.audit.entry import AuditEntry

if TYPE_CHECKING:
    from roost.core.settings import Settings
    from roost.store import Store
    from roost.store.backend import Tx

log = logging.getLogger("roost.audit")

MAX_BATCH = 2000


class AuditLog:
    """The audit trail of one store."""

    def __init__(self, store: Store, policy: ChainPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or ChainPolicy()
        self._pending: list[tuple[AuditEntry, asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls, store: Store, settings: Settings, *, create_key: bool = True
    ) -> AuditLog:
        """The signing key from the settings (created on first use by a server; a tool
        that only adds to an existing trail passes ``create_key=False``: a new key would
        sign checkpoints the server's key cannot verify), the hash, the checkpoint pace."""
        from roost.govern.audit.signing import load_signer

        if create_key and settings.audit_signing_key is None:
            settings.ensure_home()
        policy = ChainPolicy(
            alg=settings.audit_hash,
            signer=load_signer(settings, create=create_key),
            checkpoint_every=max(1, settings.audit_checkpoint_every),
            checkpoint_seconds=settings.audit_checkpoint_seconds,
        )
        return cls(store, policy)

    # -- appending ---------------------------------------------------------------------
    async def record(self, entry: AuditEntry) -> int:
        """Commit one record (batched with concurrent ones); its sequence number."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, fut))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="roost-audit-writer")
        return await asyncio.shield(fut)

    async def record_many(self, entries: Sequence[AuditEntry]) -> list[int]:
        """Commit several records in one transaction of their own."""
        batch = list(entries)
        policy = self.policy
        return await self.store.backend.write(lambda tx: chain.append(tx, batch, policy))

    def body(self, entries: Sequence[AuditEntry]) -> Callable[[Tx], object]:
        """A transaction body appending ``entries``, for an operation to run in its own
        transaction (``Store.create_run(also=...)``, ``Store.flush_run(also=...)``)."""
        batch = list(entries)
        policy = self.policy
        return lambda tx: chain.append(tx, batch, policy)

    async def _write_loop(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            entries = [entry for entry, _ in batch]
            try:
                seqs = await self.record_many(entries)
            except BaseException as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, fut), seq in zip(batch, seqs, strict=True):
                if not fut.done():
                    fut.set_result(seq)

    async def checkpoint(self) -> int | None:
        """Sign the chain's head now (if it moved since the last checkpoint)."""
        policy = self.policy
        return await self.store.backend.write(lambda tx: chain.checkpoint_now(tx, policy))

    async def close(self) -> None:
        """Finish the pending records and sign the head."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
        try:
            await self.checkpoint()
        except Exception:
            log.exception("could not write the closing audit checkpoint")
