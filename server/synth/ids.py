"""Deterministic identities: business identifiers, ``urn:uuid`` fullUrls, transaction entries.

Every synthetic resource has a business identifier under ``https://fhir.amparo.cl/sid/``
(or a national one, the RUN). Its fullUrl is a UUIDv5 of type, system and value, so the same
resource gets the same fullUrl in every bundle and every run; its entry is a POST with
``ifNoneExist`` on that identifier, so that reloading creates nothing new and a later
contact that sends the same survivor, case or aggressor finds the one created before.
See https://hl7.org/fhir/R4B/http.html#ccreate and .../bundle.html#transaction.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from functools import lru_cache
from typing import Any

from .terms import SID

__all__ = ["conditional", "ident", "post", "put_conditional", "rng", "seed_int", "urn"]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://fhir.amparo.cl/synth")


def rng(seed: int, *parts: object) -> random.Random:
    """Return a Random for one part of the world (a case, a block): independent of the rest.

    Seeding from a string is stable across runs and platforms (it hashes with SHA-512).
    """
    return random.Random(":".join(["amparo-synth", str(seed), *map(str, parts)]))


def seed_int(seed: int, *parts: object) -> int:
    """Return a 64-bit integer seed for Faker, derived like ``rng``."""
    label = ":".join(["amparo-synth", str(seed), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.sha256(label).digest()[:8], "big")


def ident(kind: str, value: str) -> dict[str, str]:
    """Return an Amparo business identifier ``https://fhir.amparo.cl/sid/<kind>|value``."""
    return {"system": SID + kind, "value": value}


@lru_cache(maxsize=4096)
def urn(resource_type: str, system: str, value: str) -> str:
    """Return the deterministic ``urn:uuid:`` fullUrl of the resource with this identifier."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{resource_type}|{system}|{value}')}"


def conditional(resource_type: str, identifier: dict[str, str]) -> str:
    """Return a conditional reference ``Type?identifier=system|value`` to an earlier resource."""
    return f"{resource_type}?identifier={identifier['system']}|{identifier['value']}"


def post(resource: dict[str, Any], identifier: dict[str, str]) -> dict[str, Any]:
    """Return a transaction entry that creates ``resource`` unless its identifier exists."""
    kind = resource["resourceType"]
    return {
        "fullUrl": urn(kind, identifier["system"], identifier["value"]),
        "resource": resource,
        "request": {
            "method": "POST",
            "url": kind,
            "ifNoneExist": f"identifier={identifier['system']}|{identifier['value']}",
        },
    }


def put_conditional(resource: dict[str, Any], identifier: dict[str, str]) -> dict[str, Any]:
    """Return a transaction entry that updates the resource with this identifier.

    Used only for the status of a referral Task, which changes when the receiving
    institution acts (https://hl7.org/fhir/R4B/http.html#cond-update).
    """
    kind = resource["resourceType"]
    return {
        "fullUrl": urn(kind, identifier["system"], identifier["value"]),
        "resource": resource,
        "request": {"method": "PUT", "url": conditional(kind, identifier)},
    }
