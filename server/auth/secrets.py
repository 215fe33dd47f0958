"""Client secrets: generated at random, stored only as a salted scrypt hash.

The hash text carries its parameters (``scrypt$n$r$p$salt$hash``, base64url), as crypt
strings do, so the cost can be raised later without invalidating stored secrets. The
secrets themselves are 256 random bits, not passwords: the hash keeps a stolen copy of
the store from yielding usable credentials; the work factor is a second line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt cost: n=2**14, r=8 (16 MiB, tens of milliseconds): RFC 7914's interactive figure.
COST = (2**14, 8, 1)


def new_secret() -> str:
    """A fresh client secret (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str, cost: tuple[int, int, int] = COST) -> str:
    """The salted hash to store for ``secret``."""
    n, r, p = cost
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, n, r, p)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str | None) -> bool:
    """Whether ``secret`` is the one ``stored`` was made from (constant-time compare)."""
    if not stored:
        return False
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = _unb64(digest)
        actual = _scrypt(secret, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=128 * r * n * p + 2**20, dklen=32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
