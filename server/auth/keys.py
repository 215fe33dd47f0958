"""The authorization server's signing keys: kept in the store, so every process (and
machine) signs and verifies with the same ones; rotated without downtime.

The newest stored key signs. A key stops signing when a newer one is stored (``amparo
keys rotate``), and keeps verifying - and stays in the JWKS - for as long as a token it
signed can live (the token lifetime plus the clock leeway), then drops out. Each process
re-reads the keys every ``REFRESH_S`` seconds, and at once (at most once a second) when a
token names a kid it does not know: a key another process has just made is found.

Keys are ES256 (P-256) JWKs; ``kid`` is the key's RFC 7638 thumbprint.
"""

from __future__ import annotations

import json
import threading
import time

from joserfc.jwk import ECKey

from server import clock
from server.store import SigningKey, Store

ALGORITHM = "ES256"
REFRESH_S = 30.0
_MISS_INTERVAL_S = 1.0


def new_key() -> SigningKey:
    """A fresh P-256 signing key (not stored)."""
    key = ECKey.generate_key("P-256")
    kid = key.thumbprint()
    jwk = {**key.as_dict(private=True), "kid": kid, "use": "sig", "alg": ALGORITHM}
    return SigningKey(kid, json.dumps(jwk), clock.now()[1])


def rotate(store: Store) -> SigningKey:
    """Store a new key: it signs from now on (every process within ``REFRESH_S``)."""
    key = new_key()
    store.add_signing_key(key)
    return key


def ensure(store: Store) -> None:
    """Make the first key if the store has none (``amparo serve`` does it before its
    worker processes start, so they do not each make one)."""
    if not store.signing_keys():
        rotate(store)


class KeyRing:
    """The keys one process signs and verifies with (see the module docstring).
    ``grace_s``: how long a key keeps verifying after a newer one was made."""

    def __init__(self, store: Store, grace_s: float):
        self.store = store
        self.grace_us = int(grace_s * 1_000_000)
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._missed_at = float("-inf")
        self._signing: tuple[SigningKey, ECKey] | None = None
        self._verifying: dict[str, ECKey] = {}

    def signing_key(self) -> tuple[str, ECKey]:
        """(kid, private key) of the key that signs now; makes the first one if the store
        has none."""
        self._refresh()
        if self._signing is None:
            with self._lock:
                if not self.store.signing_keys():
                    rotate(self.store)
            self._refresh(force=True)
        assert self._signing is not None
        return self._signing[0].kid, self._signing[1]

    def verifying_key(self, kid: str) -> ECKey | None:
        """The key ``kid`` names if it still verifies; None otherwise."""
        self._refresh()
        key = self._verifying.get(kid)
        if key is None and time.monotonic() - self._missed_at > _MISS_INTERVAL_S:
            self._missed_at = time.monotonic()
            self._refresh(force=True)
            key = self._verifying.get(kid)
        return key

    def public_jwks(self) -> dict:
        """The JWKS to publish: the signing key and the previous ones still verifying."""
        self._refresh()
        return {"keys": [{**key.as_dict(private=False), "kid": kid, "use": "sig",
                          "alg": ALGORITHM} for kid, key in self._verifying.items()]}

    def _refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < REFRESH_S:
            return
        stored = self.store.signing_keys()  # newest first
        _, now = clock.now()
        verifying: dict[str, ECKey] = {}
        successor_created: int | None = None
        for key in stored:
            if successor_created is None or now - successor_created < self.grace_us:
                verifying[key.kid] = ECKey.import_key(json.loads(key.private_jwk))
            successor_created = key.created_us
        with self._lock:
            self._verifying = verifying
            self._signing = (stored[0], verifying[stored[0].kid]) if stored else None
            self._loaded_at = time.monotonic()
