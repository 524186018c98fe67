"""Resolves ``secret://NAME`` references (:mod:`roost.core.secret_ref`) from the store.

References are resolved where the value is used (a model client being built, a webhook
being posted), which is synchronous code; the lookup runs the async store in a worker
thread of its own. Values stay in memory for :data:`TTL` seconds so a burst of uses
does not read the database each time, and are never logged.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from roost.core import secret_ref
from roost.core.settings import Settings, get_settings
from roost.govern.keyring import KeyWrapper, keyring_from_settings

TTL = 30.0


class StoreSecretResolver:
    """A ``secret_ref`` resolver reading the secret store of ``database_url``."""

    def __init__(
        self,
        database_url: str | None = None,
        keys: KeyWrapper | None = None,
        *,
        settings: Settings | None = None,
        ttl: float = TTL,
        schema: str | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.database_url = database_url or self.settings.resolved_database_url
        self.schema = schema
        self.keys = keys
        self.ttl = ttl
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="roost-secrets")

    def __call__(self, name: str) -> str:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = self._pool.submit(asyncio.run, self._read(name)).result()
        with self._lock:
            self._cache[name] = (now + self.ttl, value)
        return value

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    async def _read(self, name: str) -> str:
        from roost.govern.secrets import SecretStore
        from roost.store import Store

        keys = self.keys or keyring_from_settings(self.settings, create=False)
        async with await Store.open(self.database_url, schema=self.schema, migrate=False) as store:
            return await SecretStore(store, keys, settings=self.settings).get(name)


def install_secret_resolver(
    database_url: str | None = None, keys: KeyWrapper | None = None, *, schema: str | None = None
) -> StoreSecretResolver:
    """Make ``secret://`` references of this process resolve from the secret store."""
    resolver = StoreSecretResolver(database_url, keys, schema=schema)
    secret_ref.install(resolver)
    return resolver
