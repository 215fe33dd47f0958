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
    else the implementation guide's profile of its type when the guide has exactly one
    (a ServiceRequest may be a Referral or a ProtectionMeasure: it must say which)."""
    meta = resource.get("meta")
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    if isinstance(claimed, list) and claimed:
        return [url for url in claimed if isinstance(url, str)]
    profiles = ig.profiles_for(resource.get("resourceType", ""))
    return [profiles[0]["url"]] if len(profiles) == 1 else []
