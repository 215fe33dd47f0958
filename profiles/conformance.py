"""The profiles a deployment validates against, by canonical URL, with their validators
built once and kept (building one walks the whole snapshot; validating with it walks
only the elements where the profile adds a rule).

``definitions`` are StructureDefinitions carrying snapshots: the implementation guide's
profiles and extensions, and any definition they build on (CL Core extensions). Value
set membership comes from ``member`` (the terminology's ``$validate-code``), so this
module needs neither the terminology nor the server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from profiles._issues import ValidationIssue
from profiles.validator import Member, ProfileValidator, matches_pattern


class Conformance:
    def __init__(self, definitions: Iterable[dict], member: Member | None = None):
        self._by_url = {d["url"]: d for d in definitions
                        if d.get("resourceType") == "StructureDefinition" and "url" in d}
        self.member = member
        self._validators: dict[str, ProfileValidator] = {}
        self._patterns: dict[str, list | None] = {}
        self._lock = threading.Lock()

    def definition(self, url: str) -> dict | None:
        """A StructureDefinition by canonical URL (``|version`` ignored)."""
        return self._by_url.get(url.split("|", 1)[0])

    def urls(self) -> list[str]:
        return sorted(self._by_url)

    def validator(self, url: str) -> ProfileValidator | None:
        """The validator of a known profile with a snapshot; None otherwise."""
        url = url.split("|", 1)[0]
        found = self._validators.get(url)
        if found is not None:
            return found
        definition = self._by_url.get(url)
        if definition is None or "snapshot" not in definition:
            return None
        with self._lock:
            found = self._validators.get(url)
            if found is None:
                found = self._validators[url] = ProfileValidator(
                    definition, self.definition, self.member)
        return found

    def validate(self, resource: dict, profiles: Iterable[str]) -> list[ValidationIssue]:
        """Every problem of ``resource`` against each of ``profiles``. A profile this
        server does not know is an ``error`` issue with code ``not-supported`` (the caller
        decides whether that refuses the resource), as is one for another type."""
        issues: list[ValidationIssue] = []
        type = resource.get("resourceType", "")
        for i, url in enumerate(profiles):
            where = f"{type}.meta.profile[{i}]"
            validator = self.validator(url)
            if validator is None:
                issues.append(ValidationIssue(
                    "error", "not-supported", f"the profile {url} is not known to this "
                    "server", where))
            elif validator.type != type:
                issues.append(ValidationIssue(
                    "error", "invalid", f"the profile {url} is for {validator.type}, not "
                    f"{type}", where))
            else:
                issues += validator.validate(resource)
        return issues

    def _top_level(self, url: str) -> list[tuple[str, bool, object]] | None:
        if url not in self._patterns:
            definition = self.definition(url)
            self._patterns[url] = _top_level_values(definition) \
                if definition is not None and "snapshot" in definition else None
        return self._patterns[url]

    def recognised(self, resource: dict, urls: Iterable[str]) -> list[str]:
        """Of ``urls`` (profiles of the resource's type), those the resource is an
        instance of, told apart as a slice discriminator would: by the fixed and pattern
        values each profile sets on top-level elements (ViolenceIncident's
        ``Observation.code``). A profile that sets none takes every resource of its type.
        When several match, only the most specific (the most such values) is kept."""
        matched: list[tuple[int, str]] = []
        for url in urls:
            values = self._top_level(url)
            if values is None:
                continue
            if all(_holds(resource.get(name), pattern, value) for name, pattern, value in values):
                matched.append((len(values), url))
        if not matched:
            return []
        best = max(n for n, _ in matched)
        return [url for n, url in matched if n == best]


def _holds(found: object, pattern: bool, value: object) -> bool:
    """Whether an element (any repetition of it) has the profile's fixed or pattern value."""
    items = found if isinstance(found, list) else [found]
    return any(matches_pattern(item, value) if pattern else item == value for item in items)


def _top_level_values(definition: dict) -> list[tuple[str, bool, object]]:
    """(element name, is a pattern, value) of the fixed/pattern values on the root's
    direct children (not slices, not choices)."""
    out = []
    for element in definition["snapshot"]["element"]:
        path, id = element["path"], element.get("id", element["path"])
        if path.count(".") != 1 or ":" in id or path.endswith("[x]"):
            continue
        for key, value in element.items():
            if key.startswith(("fixed", "pattern")):
                out.append((path.split(".", 1)[1], key.startswith("pattern"), value))
    return out
