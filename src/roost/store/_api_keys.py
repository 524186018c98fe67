"""API key material: generation, hashing, format check.

Keys are 32 random bytes, so a single SHA-256 is enough to make a leaked table useless:
a slow password hash (bcrypt, argon2) only defends low-entropy secrets, and would cost
tens of milliseconds on every authenticated request. See docs/decisions/0051.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

KEY_PREFIX = "rk_"
_KEY_RE = re.compile(r"^rk_[A-Za-z0-9_-]{43}$")


def generate_key() -> tuple[str, str, str]:
    """Return ``(plaintext, display_prefix, sha256_hex)`` of a fresh key."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return plaintext, plaintext[3:11], hash_key(plaintext)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def well_formed(plaintext: str) -> bool:
    """Cheap shape check so garbage never reaches the database."""
    return bool(_KEY_RE.match(plaintext))


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
