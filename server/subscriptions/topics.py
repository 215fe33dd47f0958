"""The SubscriptionTopics of the implementation guide (``profiles/ig/SubscriptionTopic-*``)
as the matcher uses them.

A topic is data: each ``resourceTrigger`` names a resource type, the interactions that
count, and a FHIRPath criterion over ``%current`` (the version just written) and
``%previous`` (the one it replaced, empty on a create), evaluated with fhirpathpy; each
``canFilterBy`` names a filter a subscriber may set, defined by a search parameter of the
trigger's resource (``filterDefinition``), so a filter means exactly what that search
means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import fhirpathpy

from profiles import ig

#: The Flag topics' canonical prefix (every topic of ours is under it).
BASE = "https://fhir.amparo.cl/SubscriptionTopic/"
#: The topic only auditors may subscribe to.
BREAK_GLASS = BASE + "acceso-emergencia"
#: The topic whose ``owner`` filter is always the subscriber's own institution.
REFERRAL_ASSIGNED = BASE + "derivacion-asignada"


@dataclass(frozen=True)
class Trigger:
    resource: str
    interactions: frozenset[str]
    #: the FHIRPath criterion, compiled once (parsing it costs milliseconds per event)
    criteria: Callable[[dict, dict], list] | None

    def fires(self, interaction: str, current: dict | None, previous: dict | None) -> bool:
        """Whether this change is an event of the topic."""
        if interaction not in self.interactions:
            return False
        if self.criteria is None:
            return True
        return self.criteria(current or {}, {"current": current, "previous": previous}) \
            == [True]


@dataclass(frozen=True)
class Topic:
    url: str
    title: str
    triggers: tuple[Trigger, ...]
    #: filter name -> (resource type, search parameter code) it is evaluated with
    filters: dict[str, tuple[str, str]]

    @property
    def resources(self) -> frozenset[str]:
        return frozenset(t.resource for t in self.triggers)

    def fires(self, type: str, interaction: str, current: dict | None,
              previous: dict | None) -> bool:
        return any(t.resource == type and t.fires(interaction, current, previous)
                   for t in self.triggers)


@cache
def topics() -> dict[str, Topic]:
    """Every topic of the guide, by canonical URL."""
    return {r["url"]: _topic(r) for r in ig.subscription_topics()}


def topics_for(type: str) -> list[Topic]:
    """The topics a change of ``type`` may be an event of."""
    return [t for t in topics().values() if type in t.resources]


def _topic(resource: dict) -> Topic:
    triggers = tuple(
        Trigger(t["resource"], frozenset(t.get("supportedInteraction") or
                                         ("create", "update", "delete")),
                fhirpathpy.compile(t["fhirPathCriteria"]) if t.get("fhirPathCriteria")
                else None)
        for t in resource.get("resourceTrigger") or [])
    filters = {f["filterParameter"]: (f["resource"], _code(f["filterDefinition"]))
               for f in resource.get("canFilterBy") or []}
    return Topic(resource["url"], resource.get("title", ""), triggers, filters)


def _code(definition: str) -> str:
    """``http://hl7.org/fhir/SearchParameter/Flag-patient`` -> ``patient``;
    ``Resource-id`` -> ``_id``."""
    name = definition.rsplit("/", 1)[-1].split("-", 1)[1]
    return "_id" if name == "id" else name
