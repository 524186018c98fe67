"""The two cipher suites of Roost's secrets and sealed content, both from ``cryptography``.

``aes-256-gcm`` is the default; ``sm4-gcm`` (GB/T 32907, 国密) is what the national
crypto profile uses, with HMAC-SM3 for keyed digests (decision 0190). A sealed value is
``nonce (12 bytes) | ciphertext | tag (16 bytes)``; the additional data binds it to
where it belongs (a secret's name, the kind of row), so a value copied elsewhere fails.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from roost.core.errors import ConfigError
from roost.govern.errors import DecryptionFailed

Algorithm = Literal["aes-256-gcm", "sm4-gcm"]
Profile = Literal["standard", "national"]
ALGORITHMS: tuple[Algorithm, ...] = ("aes-256-gcm", "sm4-gcm")
KEY_SIZES: dict[Algorithm, int] = {"aes-256-gcm": 32, "sm4-gcm": 16}
NONCE = 12
TAG = 16


def algorithm_of(profile: str) -> Algorithm:
    """The cipher new keys get under a crypto profile (``ROOST_CRYPTO_PROFILE``)."""
    if profile == "standard":
        return "aes-256-gcm"
    if profile == "national":
        return "sm4-gcm"
    raise ConfigError(
        f"unknown crypto profile {profile!r}",
        hint="set ROOST_CRYPTO_PROFILE to standard (AES-256-GCM) or national (SM4-GCM)",
    )


def new_key(algorithm: Algorithm) -> bytes:
    return os.urandom(KEY_SIZES[algorithm])


def check_key(algorithm: str, key: bytes) -> Algorithm:
    if algorithm not in KEY_SIZES:
        raise ConfigError(f"unknown cipher {algorithm!r}", hint="use aes-256-gcm or sm4-gcm")
    algo: Algorithm = algorithm  # type: ignore[assignment]
    if len(key) != KEY_SIZES[algo]:
        raise ConfigError(
            f"a {algo} key is {KEY_SIZES[algo]} bytes, this one is {len(key)}",
            hint="generate one with `roost secrets init` or `head -c 32 /dev/urandom | base64`",
        )
    return algo


def seal(algorithm: Algorithm, key: bytes, plain: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate ``plain``; ``nonce | ciphertext | tag``."""
    nonce = os.urandom(NONCE)
    if algorithm == "aes-256-gcm":
        return nonce + AESGCM(key).encrypt(nonce, plain, aad)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    body = enc.update(plain) + enc.finalize()
    return nonce + body + enc.tag


def open_sealed(algorithm: Algorithm, key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """The plaintext of :func:`seal`'s output; ``DecryptionFailed`` if it was altered,
    moved (other ``aad``) or sealed with another key."""
    if len(sealed) < NONCE + TAG:
        raise DecryptionFailed("the sealed value is truncated")
    nonce, body = sealed[:NONCE], sealed[NONCE:]
    try:
        if algorithm == "aes-256-gcm":
            return AESGCM(key).decrypt(nonce, body, aad)
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, body[-TAG:])).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(body[:-TAG]) + dec.finalize()
    except InvalidTag:
        raise DecryptionFailed(
            "a sealed value does not open with its key",
            hint="the value was altered or the wrong master key is configured",
        ) from None


def keyed_digest(profile: Profile | str, key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256, or HMAC-SM3 under the national profile."""
    if profile == "national":
        mac = crypto_hmac.HMAC(key, hashes.SM3())
        mac.update(data)
        return mac.finalize()
    return hmac.new(key, data, hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """A short public name of a key (not reversible): 12 hex digits of its SHA-256."""
    return hashlib.sha256(b"roost-key-id\0" + key).hexdigest()[:12]
