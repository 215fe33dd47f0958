"""Signing key rotation without downtime (``server/auth/keys.py``): a new key signs, the
previous one keeps verifying the tokens it signed and stays in the JWKS until they can
no longer be alive; every process sees the keys of the store."""

from __future__ import annotations

import requests

from server import clock
from server.auth import keys
from server.auth.keys import KeyRing
from server.store import SigningKey
from tests.server.auth.helpers import bearer, ring_of, store_of, token_of


def kid_of(token: str) -> str:
    import base64
    import json

    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def jwks_kids(live) -> list[str]:
    return [k["kid"] for k in requests.get(live.url("auth/jwks"), timeout=30).json()["keys"]]


def test_the_jwks_publishes_public_keys_only(live):
    token_of(live, "system/*.rs")
    published = requests.get(live.url("auth/jwks"), timeout=30)
    assert published.headers["Content-Type"].startswith("application/jwk-set+json")
    for key in published.json()["keys"]:
        assert key["kty"] == "EC" and key["alg"] == "ES256" and key["use"] == "sig"
        assert "d" not in key


def test_after_rotation_the_new_key_signs_and_the_old_one_still_verifies(live):
    old_token = token_of(live, "system/*.cruds")
    old_kid = kid_of(old_token)
    new = keys.rotate(store_of(live))  # as `amparo keys rotate` does, from another process
    ring_of(live)._refresh(force=True)  # instead of waiting REFRESH_S for the next read
    new_token = token_of(live, "system/*.cruds")
    assert kid_of(new_token) == new.kid != old_kid
    assert set(jwks_kids(live)) == {new.kid, old_kid}
    for token in (old_token, new_token):
        assert requests.get(live.url("Patient"), headers=bearer(token),
                            timeout=30).status_code == 200


def test_a_key_made_by_another_process_verifies_at_once(live):
    """A token signed with a key this process has not loaded yet (an unknown kid makes it
    read the store again)."""
    ring_of(live).signing_key()  # loaded before the other process rotates
    other = KeyRing(store_of(live), grace_s=660)
    keys.rotate(store_of(live))
    from server.auth.tokens import issue

    token, _ = issue(other, live.base, "c", "Organization/x", "system/*.rs", "TREAT", 300)
    assert requests.get(live.url("Patient"), headers=bearer(token),
                        timeout=30).status_code == 200


def test_an_old_key_drops_out_once_its_tokens_cannot_be_alive(store):
    now = clock.now()[1]
    hour = 3_600_000_000
    for n, created in enumerate((now - 3 * hour, now - 2 * hour, now - 60_000_000)):
        key = keys.new_key()
        store.add_signing_key(SigningKey(f"k{n}", key.private_jwk, created))
    ring = KeyRing(store, grace_s=600)
    assert [k["kid"] for k in ring.public_jwks()["keys"]] == ["k2", "k1"]
    assert ring.signing_key()[0] == "k2"
    assert ring.verifying_key("k0") is None and ring.verifying_key("k1") is not None


def test_the_first_key_is_made_when_the_store_has_none(store):
    ring = KeyRing(store, grace_s=600)
    kid, _ = ring.signing_key()
    assert [k.kid for k in store.signing_keys()] == [kid]
    keys.ensure(store)  # already one: nothing new
    assert len(store.signing_keys()) == 1
