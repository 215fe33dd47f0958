"""The auth registry of the storage port (``port.py``, "The auth registry") on every
adapter: OAuth clients, client assertion ids (replay refusal) and signing keys."""

from __future__ import annotations

import threading

import pytest

from server import clock
from server.store import OAuthClient, SigningKey


def client(id: str = "c1", **fields) -> OAuthClient:
    return OAuthClient(**{"client_id": id, "institution": "Organization/linea-1455",
                          "name": "Sistema 1455", "scopes": ("system/*.rs",),
                          "purposes": ("COC", "TREAT"), "secret_hash": "scrypt$x",
                          "created_us": 5, **fields})


def test_a_saved_client_is_read_back_as_it_was_saved(store):
    saved = client(jwks='{"keys": []}')
    store.save_client(saved)
    assert store.get_client("c1") == saved


def test_an_unknown_client_is_none(store):
    assert store.get_client("nobody") is None


def test_saving_a_client_again_replaces_it(store):
    store.save_client(client())
    store.save_client(client(scopes=("system/Patient.r", "system/Flag.rs"), purposes=("BTG",),
                             secret_hash=None, jwks='{"keys": []}', active=False))
    again = store.get_client("c1")
    assert again.scopes == ("system/Patient.r", "system/Flag.rs")
    assert (again.purposes, again.secret_hash, again.active) == (("BTG",), None, False)


def test_a_jti_is_accepted_once_until_it_expires(store):
    later = clock.now()[1] + 60_000_000
    assert store.use_jti("c1", "j-1", later) is True
    assert store.use_jti("c1", "j-1", later) is False
    assert store.use_jti("c2", "j-1", later) is True  # another issuer's jti
    assert store.use_jti("c1", "j-2", later) is True


def test_an_expired_jti_may_be_used_again(store):
    assert store.use_jti("c1", "j", clock.now()[1] - 1) is True
    assert store.use_jti("c1", "j", clock.now()[1] + 60_000_000) is True
    assert store.use_jti("c1", "j", clock.now()[1] + 60_000_000) is False


def test_of_threads_racing_with_one_jti_exactly_one_wins(store):
    later = clock.now()[1] + 60_000_000
    results: list[bool] = []
    start = threading.Barrier(6)

    def race() -> None:
        start.wait()
        results.append(store.use_jti("c1", "raced", later))

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]


def test_signing_keys_are_listed_newest_first(store):
    assert store.signing_keys() == []
    old, new = SigningKey("k1", '{"kty":"EC"}', 10), SigningKey("k2", '{"kty":"EC"}', 20)
    store.add_signing_key(old)
    store.add_signing_key(new)
    assert store.signing_keys() == [new, old]


def test_a_taken_kid_is_refused(store):
    store.add_signing_key(SigningKey("k1", "{}", 10))
    with pytest.raises(ValueError, match="k1"):
        store.add_signing_key(SigningKey("k1", "{}", 11))
