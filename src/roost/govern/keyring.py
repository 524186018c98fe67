"""Master keys: what wraps the data key of every secret (envelope encryption).

:class:`KeyWrapper` is the seam a KMS plugs into (``ROOST_SECRETS_KMS=module:factory``);
:class:`LocalKeyring` is the embedded one, read from ``ROOST_MASTER_KEY`` or a key file
(``ROOST_MASTER_KEY_FILE``, default ``$ROOST_HOME/master.key``, created 0600 at first
use). A keyring holds one key per line, ``aes-256-gcm:BASE64`` or ``sm4-gcm:BASE64``;
the first line is the *primary* (it wraps new data keys), later lines are keys still
opening data keys that a rotation has not re-wrapped yet (decision 0191).
"""

from __future__ import annotations

import base64
import binascii
import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from roost.core.errors import ConfigError
from roost.core.settings import Settings, get_settings
from roost.govern import crypto
from roost.govern.crypto import Algorithm
from roost.govern.errors import MasterKeyUnavailable


@runtime_checkable
class KeyWrapper(Protocol):
    """Wraps and unwraps data keys. ``primary`` names the key new wraps use; ``unwrap``
    gets the name a value was wrapped by (a KMS key version, a local key id)."""

    @property
    def primary(self) -> str: ...

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        """``data_key`` wrapped by the primary key."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        """The data key that ``key_id`` wrapped; ``MasterKeyUnavailable`` if unknown."""
        ...


@dataclass(frozen=True)
class MasterKey:
    algorithm: Algorithm
    key: bytes

    @property
    def id(self) -> str:
        return crypto.key_id(self.key)

    def line(self) -> str:
        return f"{self.algorithm}:{base64.b64encode(self.key).decode()}"


def parse_key(text: str) -> MasterKey:
    """``aes-256-gcm:BASE64``, ``sm4-gcm:BASE64``, or bare base64 (32 bytes: AES, 16: SM4)."""
    algo, sep, b64 = text.strip().rpartition(":")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            "a master key is not valid base64", hint="each key is aes-256-gcm:BASE64"
        ) from None
    if not sep:
        algo = "aes-256-gcm" if len(raw) == 32 else "sm4-gcm"
    return MasterKey(crypto.check_key(algo, raw), raw)


class LocalKeyring:
    """Master keys held by this process (from the environment or a file)."""

    def __init__(self, keys: Sequence[MasterKey], *, path: Path | None = None) -> None:
        if not keys:
            raise MasterKeyUnavailable("the keyring holds no master key")
        self.keys = list(keys)
        self.path = path
        self._by_id = {k.id: k for k in self.keys}

    @property
    def primary(self) -> str:
        return self.keys[0].id

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        key = self.keys[0]
        return crypto.seal(key.algorithm, key.key, data_key, aad)

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        key = self._by_id.get(key_id)
        if key is None:
            raise MasterKeyUnavailable(
                f"no configured master key has id {key_id}",
                hint="add the key that wrapped it to ROOST_MASTER_KEY or the key file",
            )
        return crypto.open_sealed(key.algorithm, key.key, wrapped, aad)

    # -- the file, for rotation -------------------------------------------------------
    def save(self) -> None:
        """Write the keys to :attr:`path` atomically (temporary file, fsync, rename)."""
        if self.path is None:
            raise ConfigError(
                "the master key comes from ROOST_MASTER_KEY, which Roost cannot rewrite",
                hint="put the new key first in ROOST_MASTER_KEY, keep the old one after it",
            )
        write_key_file(self.path, self.keys)


def write_key_file(path: Path, keys: Sequence[MasterKey]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, ("".join(k.line() + "\n" for k in keys)).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_key_file(path: Path) -> list[MasterKey]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [parse_key(ln) for ln in lines]


def default_key_file(settings: Settings) -> Path:
    return settings.master_key_file or settings.home / "master.key"


def keyring_from_settings(settings: Settings | None = None, *, create: bool = True) -> KeyWrapper:
    """The configured :class:`KeyWrapper`: the KMS factory, ``ROOST_MASTER_KEY``, or the
    key file (generated with the profile's cipher when absent and ``create``)."""
    settings = settings or get_settings()
    if settings.secrets_kms:
        return _kms(settings.secrets_kms)
    if settings.master_key is not None:
        text = settings.master_key.get_secret_value()
        return LocalKeyring([parse_key(t) for t in text.split(",") if t.strip()])
    path = default_key_file(settings)
    if path.exists():
        return LocalKeyring(read_key_file(path), path=path)
    if not create:
        raise MasterKeyUnavailable(
            f"no master key: {path} does not exist and ROOST_MASTER_KEY is not set",
            hint="run `roost secrets init` or set ROOST_MASTER_KEY",
        )
    algo = crypto.algorithm_of(settings.crypto_profile)
    keyring = LocalKeyring([MasterKey(algo, crypto.new_key(algo))], path=path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:  # O_EXCL: two processes starting together keep one key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return LocalKeyring(read_key_file(path), path=path)
    try:
        os.write(fd, (keyring.keys[0].line() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return keyring


def _kms(spec: str) -> KeyWrapper:
    module, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr or "key_wrapper")
        wrapper = factory()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"ROOST_SECRETS_KMS={spec!r} cannot be loaded: {exc}",
            hint="give module:factory, a callable returning a roost.govern.KeyWrapper",
        ) from None
    if not isinstance(wrapper, KeyWrapper):
        raise ConfigError(f"ROOST_SECRETS_KMS={spec!r} did not return a KeyWrapper")
    return wrapper
