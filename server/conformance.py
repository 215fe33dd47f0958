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
    """The profiles a resource is checked against: those it claims (``meta.profile``)
    and the implementation guide's profiles of its type that recognise it by their
    fixed and pattern values (``Conformance.recognised``): an Observation is a
    ViolenceIncident by its code, a ServiceRequest a ProtectionMeasure or a Referral.
    Claiming another profile does not escape the guide's."""
    meta = resource.get("meta")
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    urls = [url for url in claimed if isinstance(url, str)] if isinstance(claimed, list) else []
    recognised = conformance().recognised(resource, _profile_urls(resource.get("resourceType")))
    return urls + [url for url in recognised if url not in urls]


@cache
def _profile_urls(type: object) -> tuple[str, ...]:
    """The guide's profiles of ``type`` (the loader copies definitions: ask it once)."""
    return tuple(p["url"] for p in ig.profiles_for(type)) if isinstance(type, str) else ()


def enforced_profiles(resource: dict, mode: str) -> list[str]:
    """The profiles a write of ``resource`` must conform to under ``mode`` (``Settings.
    profiles``): under ``strict`` the applicable ones, under ``claimed`` only those it
    claims; in both, only profiles this server holds (a claim of one it does not hold is
    not judged, as other servers do)."""
    if mode == "off":
        return []
    if mode == "strict":
        urls = applicable_profiles(resource)
    else:
        meta = resource.get("meta")
        claimed = meta.get("profile") if isinstance(meta, dict) else None
        urls = [u for u in claimed if isinstance(u, str)] if isinstance(claimed, list) else []
    return [url for url in urls if conformance().validator(url) is not None]


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
