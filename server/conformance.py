"""The implementation guide's profiles at run time: one ``Conformance`` per process (its
validators are built on first use and kept), with value set membership from the
terminology, and which profiles apply to a resource."""

from __future__ import annotations

from functools import cache

from profiles import ig
from profiles.conformance import Conformance
from terminology.expansion import is_member


@cache
def conformance() -> Conformance:
    return Conformance(ig.structure_definitions() + ig.external_definitions(), is_member)


def applicable_profiles(resource: dict) -> list[str]:
    """The profiles a resource is checked against: those it claims (``meta.profile``),
    else the implementation guide's profiles of its type that recognise it by their
    fixed and pattern values (``Conformance.recognised``): an Observation is a
    ViolenceIncident by its code, a ServiceRequest a ProtectionMeasure or a Referral."""
    meta = resource.get("meta")
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    if isinstance(claimed, list) and claimed:
        return [url for url in claimed if isinstance(url, str)]
    return conformance().recognised(resource, _profile_urls(resource.get("resourceType", "")))


@cache
def _profile_urls(type: str) -> tuple[str, ...]:
    """The guide's profiles of ``type`` (the loader copies definitions: ask it once)."""
    return tuple(p["url"] for p in ig.profiles_for(type)) if isinstance(type, str) else ()


def enforced_profiles(resource: dict, mode: str) -> list[str]:
    """The profiles a write of ``resource`` must conform to under ``mode`` (``Settings.
    profiles``): the ones it claims that this server holds (a claim of a profile it does
    not hold is not judged, as other servers do), and under ``strict``, when it claims
    none, those of the guide that recognise it."""
    if mode == "off":
        return []
    meta = resource.get("meta")
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    if isinstance(claimed, list) and claimed:
        return [url for url in claimed
                if isinstance(url, str) and conformance().validator(url) is not None]
    if mode == "strict":
        return applicable_profiles(resource)
    return []


def warm_up() -> None:
    """Build every profile's validator and expand the value sets they bind to, once per
    process at start, rather than inside a worker's first writes."""
    checker = conformance()
    for definition in ig.structure_definitions():
        validator = checker.validator(definition["url"])
        if validator is None:
            continue
        for node in validator.nodes.values():
            if node.binding is not None:
                is_member(node.binding[1], None, "")
