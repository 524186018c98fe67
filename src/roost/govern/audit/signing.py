"""Checkpoint signatures: Ed25519 over (seq, hash, time, algorithm) of the chain's head.

The private key lives outside the database — ``ROOST_AUDIT_SIGNING_KEY`` (base64 of the
32-byte seed) or a file (``ROOST_AUDIT_SIGNING_KEY_FILE``, default
``$ROOST_HOME/audit-signing.key``, created 0600 at first use) — so whoever can write the
database cannot re-sign a rewritten chain. A verifier needs only the public key
(``ROOST_AUDIT_VERIFY_KEY``), which an auditor may keep apart from the server.
SM2 is not offered: ``cryptography`` does not sign with it (decision 0201).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from roost.govern.audit.errors import AuditKeyInvalid, AuditKeyMissing

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from roost.core.settings import Settings

SIGNATURE_ALG = "ed25519"


def checkpoint_message(seq: int, hash_: str, at_us: int, alg: str) -> bytes:
    return f"roost-audit-checkpoint\n{seq}\n{hash_}\n{at_us}\n{alg}".encode()


def _key_id(public: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise AuditKeyInvalid(
            f"{what} is not the base64 of 32 bytes",
            hint="generate one with `roost audit keygen`",
        )
    return raw


@dataclass(frozen=True)
class Verifier:
    """Checks checkpoint signatures with a public key."""

    public: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return _key_id(self.public)

    @classmethod
    def from_base64(cls, text: str) -> Verifier:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        return cls(Ed25519PublicKey.from_public_bytes(_b64(text, "the audit verify key")))

    def check(self, seq: int, hash_: str, at_us: int, alg: str, signature: str) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            sig = base64.b64decode(signature, validate=True)
            self.public.verify(sig, checkpoint_message(seq, hash_, at_us, alg))
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """Signs checkpoints with the private key."""

    private: Ed25519PrivateKey

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls) -> Signer:
        return cls.from_seed(os.urandom(32))

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.private.public_key())

    @property
    def key_id(self) -> str:
        return self.verifier.key_id

    def seed_base64(self) -> str:
        from cryptography.hazmat.primitives import serialization

        raw = self.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw).decode()

    def public_base64(self) -> str:
        from cryptography.hazmat.primitives import serialization

        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def sign(self, seq: int, hash_: str, at_us: int, alg: str) -> str:
        sig = self.private.sign(checkpoint_message(seq, hash_, at_us, alg))
        return base64.b64encode(sig).decode()


def key_file(settings: Settings) -> Path:
    return settings.audit_signing_key_file or settings.home / "audit-signing.key"


def load_signer(settings: Settings, *, create: bool) -> Signer:
    """The signing key from the environment, else its file (created when ``create``)."""
    if settings.audit_signing_key is not None:
        seed = _b64(settings.audit_signing_key.get_secret_value(), "ROOST_AUDIT_SIGNING_KEY")
        return Signer.from_seed(seed)
    path = key_file(settings)
    if not path.exists():
        if not create:
            raise AuditKeyMissing(
                f"no audit signing key at {path}",
                hint="set ROOST_AUDIT_SIGNING_KEY(_FILE), or ROOST_AUDIT_VERIFY_KEY to verify",
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        signer = Signer.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(signer.seed_base64() + "\n")
        return signer
    try:
        text = path.read_text()
    except OSError as exc:
        raise AuditKeyInvalid(f"cannot read the audit signing key {path}: {exc}") from None
    return Signer.from_seed(_b64(text, str(path)))


def load_verifier(settings: Settings) -> Verifier:
    """The public key: ``ROOST_AUDIT_VERIFY_KEY``, else derived from the signing key."""
    if settings.audit_verify_key:
        return Verifier.from_base64(settings.audit_verify_key)
    return load_signer(settings, create=False).verifier
