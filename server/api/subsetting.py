"""``_summary`` and ``_elements``: the part of each resource a search returns.

See https://hl7.org/fhir/R4B/search.html#summary and #elements. A subset is tagged
SUBSETTED so that nobody mistakes it for the whole resource (and writes it back).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from profiles.r4b import summary_elements
from server.api.responses import fragment
from server.store.port import StoredVersion

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "subsetted"}
#: Kept by every subset: without them the resource cannot be identified or versioned.
_ALWAYS = ("resourceType", "id", "meta")


def subsetter(summary: str | None,
              elements: tuple[str, ...] | None) -> Callable[[StoredVersion], object]:
    """The function turning a stored resource into what the bundle carries: the stored
    JSON untouched (no ``_summary``/``_elements``, or ``_summary=false``), else the
    subset search.html#summary and #elements describe, tagged SUBSETTED."""
    if summary in (None, "false", "count") and elements is None:
        return lambda m: fragment(m.body)

    def trim(m: StoredVersion) -> dict:
        resource = orjson.loads(m.body)
        data = summary_elements().get(m.type, {})
        names = data.get("elements", {})
        if summary == "data":
            resource.pop("text", None)
            keep = None
        else:
            if summary == "true":
                base = data.get("summary", [])
            elif summary == "text":
                base = ["text", *data.get("mandatory", [])]
            else:
                base = [*(elements or ()), *data.get("mandatory", [])]
            keep = set(_ALWAYS)
            for name in base:
                keep.update(names.get(name, (name,)))
        if keep is not None:
            resource = {k: v for k, v in resource.items() if k.removeprefix("_") in keep}
        meta = resource.setdefault("meta", {})
        tags = meta.setdefault("tag", [])
        if not any(t.get("code") == "SUBSETTED" and t.get("system") == SUBSETTED["system"]
                   for t in tags if isinstance(t, dict)):
            tags.append(dict(SUBSETTED))
        return resource

    return trim
