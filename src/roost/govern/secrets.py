"""The secret store: named secrets in Roost's own database, envelope-encrypted.

Each secret gets a fresh data key; the value is sealed with it (AES-256-GCM, or SM4-GCM
under the national profile) and the data key is wrapped by the master key
(:mod:`roost.govern.keyring`). The database holds only ciphertext and wrapped keys, so it
can be backed up and restored without exposing a value; the master key stays outside it.
No binary beyond Roost, works offline (decision 0190).

Rotating the master key re-wraps every data key (values are not re-encrypted): rows are
taken in batches, each re-wrapped under a compare-and-set on its old key id, and the
old key leaves the keyring only once no row needs it — a rotation killed at any point
resumes where it stopped, with every secret still readable (decision 0191).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from roost.core.settings import Settings, get_settings
from roost.govern import crypto
from roost.govern.errors import InvalidSecretName, MasterKeyUnavailable
from roost.govern.keyring import KeyWrapper, LocalKeyring, MasterKey, keyring_from_settings
from roost.store import Store
from roost.store.secrets import SecretRow

NAME_PATTERN = r"^[A-Za-z0-9_.:/\-]{1,200}$"
_NAME = re.compile(NAME_PATTERN)
REWRAP_BATCH = 100


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a secret: never its value (``preview`` is the last
    characters of long values only, as key dashboards do)."""

    name: str
    tenant_id: str | None
    algorithm: str
    master_key_id: str
    version: int
    created_at: datetime
    updated_at: datetime


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidSecretName(
            f"invalid secret name {str(name)[:80]!r}",
            hint="use 1-200 characters from A-Z a-z 0-9 _ . / : -",
        )
    return name


def masked(value: str) -> str:
    """A value as it may be shown: ``••••`` and at most its last 4 characters (none
    for values shorter than 12, so short passwords leave nothing)."""
    return "••••" + (value[-4:] if len(value) >= 12 else "")


def info(row: SecretRow) -> SecretInfo:
    return SecretInfo(
        row.name,
        row.tenant_id,
        row.algorithm,
        row.master_key_id,
        row.version,
        row.created_at,
        row.updated_at,
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def unseal_row(keys: KeyWrapper, row: SecretRow) -> bytes:
    """The plaintext of a secret's row (synchronous: the content sealer calls it inside
    a store transaction)."""
    aad = row.name.encode()
    data_key = keys.unwrap(row.master_key_id, _unb64(row.wrapped_key), aad)
    algo = crypto.check_key(row.algorithm, data_key)
    return crypto.open_sealed(algo, data_key, _unb64(row.ciphertext), aad)


class SecretStore:
    """Set, read, list, delete secrets; rotate the master key."""

    def __init__(
        self,
        store: Store,
        keys: KeyWrapper | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or get_settings()
        self.keys = keys if keys is not None else keyring_from_settings(self.settings)
        self.algorithm = crypto.algorithm_of(self.settings.crypto_profile)

    async def set(
        self, name: str, value: str | bytes, *, tenant_id: str | None = None
    ) -> SecretInfo:
        """Store (or replace) a secret under a fresh data key."""
        check_name(name)
        # surrogatepass: any JSON string is stored as given (a lone surrogate included)
        plain = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)
        data_key = crypto.new_key(self.algorithm)
        aad = name.encode()
        await self.store.put_secret_row(
            name,
            tenant_id=tenant_id,
            algorithm=self.algorithm,
            master_key_id=self.keys.primary,
            wrapped_key=_b64(self.keys.wrap(data_key, aad)),
            ciphertext=_b64(crypto.seal(self.algorithm, data_key, plain, aad)),
        )
        return info(await self.store.get_secret_row(name))

    async def get_bytes(self, name: str) -> bytes:
        return unseal_row(self.keys, await self.store.get_secret_row(check_name(name)))

    async def get(self, name: str) -> str:
        """The value (text); ``secret_not_found`` when absent."""
        return (await self.get_bytes(name)).decode("utf-8", "surrogatepass")

    async def info(self, name: str) -> SecretInfo:
        return info(await self.store.get_secret_row(check_name(name)))

    async def list(self, *, prefix: str = "", tenant_id: str | None = None) -> list[SecretInfo]:
        return [
            info(r) for r in await self.store.list_secret_rows(prefix=prefix, tenant_id=tenant_id)
        ]

    async def delete(self, name: str) -> None:
        await self.store.delete_secret_row(check_name(name))

    # -- master key rotation ----------------------------------------------------------
    async def rewrap_all(
        self,
        *,
        batch: int = REWRAP_BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Re-wrap every data key not wrapped by the primary master key; how many."""
        primary = self.keys.primary
        done = 0
        while True:
            todo = await self.store.secrets_to_rewrap(primary, limit=batch)
            if not todo:
                return done
            changes = []
            for row in todo:
                aad = row.name.encode()
                data_key = self.keys.unwrap(row.master_key_id, _unb64(row.wrapped_key), aad)
                changes.append(
                    {
                        "name": row.name,
                        "old_kid": row.master_key_id,
                        "new_kid": primary,
                        "wrapped_key": _b64(self.keys.wrap(data_key, aad)),
                    }
                )
            done += await self.store.rewrap_secret_rows(changes)
            if progress is not None:
                progress(done)

    async def rotate_master_key(
        self, *, progress: Callable[[int], None] | None = None, new_key: MasterKey | None = None
    ) -> RotationReport:
        """Rotate the local master key, or finish a rotation that was interrupted.

        A keyring holding more than one key is a rotation under way (its first key is
        the new one): the data keys still under the others are re-wrapped and then the
        others leave the file. Otherwise a new key (the profile's cipher) is put first in
        the key file — durably, before any row changes — and every data key re-wrapped.
        """
        keys = self.keys
        if not isinstance(keys, LocalKeyring):
            count = await self.rewrap_all(progress=progress)  # a KMS rotates its own keys
            return RotationReport(keys.primary, (), count, resumed=False)
        resumed = len(keys.keys) > 1
        if not resumed:
            key = new_key or MasterKey(self.algorithm, crypto.new_key(self.algorithm))
            keys.keys.insert(0, key)
            keys._by_id[key.id] = key
            keys.save()  # fsync'd before the first row is re-wrapped with it
        count = await self.rewrap_all(progress=progress)
        remaining = await self.store.secrets_by_master_key()
        if set(remaining) - {keys.primary}:
            raise MasterKeyUnavailable(
                "some data keys are still wrapped by an old master key",
                hint="run `roost secrets rotate-master-key` again",
            )
        retired = tuple(k.id for k in keys.keys[1:])
        if keys.path is not None:
            del keys.keys[1:]
            keys.save()
        return RotationReport(keys.primary, retired, count, resumed=resumed)


@dataclass(frozen=True)
class RotationReport:
    primary: str
    retired: tuple[str, ...]
    rewrapped: int
    resumed: bool
