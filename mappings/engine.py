"""The engine: an export file and a mapping in, one ``Result`` per record out (its
outcome, the reasons and warnings, and for an ingested record the FHIR transaction
bundle to store).

For each record (``readers.py``), in order:

1. its fields are converted (``values.py``): a problem with a ``required`` field
   rejects the record, one with another field is a warning;
2. the outcome, by the rules of ``../shared/fixtures/institutions/README.md`` section 5.1:
   **duplicate** (the same key and the same content as an earlier record of the file),
   **rejected** (a required field missing or unreadable, or an event date later than the
   extraction date), **out of scope** (``outcome.inScope`` false), **contact only**
   (``outcome.identified`` false: no identifiable woman), else **ingested**;
3. the resources of the mapping (``templates.py``) whose ``$when`` holds, with ids derived
   from the mapping, the record's key and the resource's name (uuid5), so ingesting the
   same file again writes the same resources (unchanged: no new version), and a
   Provenance naming the institution, the file, the record and the mapping's version
   (``recordInstitution``, a FHIRPath giving an Organization id or reference: the
   record's own institution in a feed of several, e.g. each hospital's; ``%institution``
   too).

The survivor is created with a conditional create on her source identifier (the
server makes one on her RUN or document too), so a woman the platform already knows is
the same Patient (``server/linkage``) and re-ingesting finds her again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from mappings import templates
from mappings.readers import Record, read
from mappings.values import CONVERSIONS

INGESTED, CONTACT, DUPLICATE, OUT_OF_SCOPE, REJECTED = (
    "ingested", "contact-only", "duplicate", "out-of-scope", "rejected")
OUTCOMES = (INGESTED, CONTACT, DUPLICATE, OUT_OF_SCOPE, REJECTED)
NAMESPACE = uuid.UUID("2f6a9d1c-0b7e-4c35-9a41-6e8d2b5f7c13")
CANONICAL = "https://fhir.amparo.cl/mappings/"
PROVENANCE_ACTIVITY = {"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                       "code": "CREATE", "display": "create"}


@dataclass(frozen=True)
class Issue:
    """A problem with one field: a warning, or why the record was rejected (Spanish)."""

    field: str
    message: str
    severity: str = "warning"  # or "error"


@dataclass
class Result:
    position: int
    key: str | None
    outcome: str
    issues: list[Issue] = field(default_factory=list)
    bundle: dict | None = None
    #: the record's own institution (``recordInstitution``; else the mapping's): an
    #: ``Organization/<id>`` or the fullUrl of the bundle's entry that makes it
    institution: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(f"{i.field}: {i.message}" for i in self.issues
                         if i.severity == "error")


def convert(mapping: dict, data: bytes, source: str, extracted: date | None = None,
        now: datetime | None = None) -> Iterator[Result]:
    """Every record of ``data`` (the file named ``source``) through ``mapping``. Event
    dates later than ``extracted`` (else than ``now``) reject their record."""
    limit = extracted or (now or datetime.now(UTC)).date()
    seen: dict[str, str] = {}
    for record in read(mapping["reader"], data):
        yield one(mapping, record, source, limit, seen)


def one(mapping: dict, record: Record, source: str, limit: date,
        seen: dict[str, str]) -> Result:
    fields, issues = fields_of(mapping, record)
    key = fields.get(mapping["key"])
    key = str(key) if key is not None else None
    if key is not None and seen.get(key) == record.content:
        return Result(record.position, key, DUPLICATE)
    if key is not None:
        seen[key] = record.content
    rules = mapping.get("outcome", {})
    for name in [mapping["key"], *rules.get("required", [])]:
        if fields.get(name) is None and not any(i.field == name for i in issues):
            issues.append(Issue(name, "campo obligatorio vacío", "error"))
    for name in rules.get("notAfterExtraction", []):
        when = fields.get(name)
        if isinstance(when, str) and when[:10] > limit.isoformat():
            issues.append(Issue(name, f"fecha {when[:10]} posterior a la extracción "
                                      f"({limit.isoformat()})", "error"))
    if any(i.severity == "error" for i in issues):
        return Result(record.position, key, REJECTED, issues)
    variables = _variables(mapping, key, source, record.position)
    if "inScope" in rules and not templates.holds(rules["inScope"], fields, variables):
        return Result(record.position, key, OUT_OF_SCOPE, issues)
    identified = "identified" not in rules or templates.holds(rules["identified"], fields,
                                                              variables)
    variables["identified"] = identified
    if "recordInstitution" in mapping:  # a feed of several institutions: the record's own
        own = templates.evaluate(mapping["recordInstitution"], fields, variables)
        if own:  # an Organization id, or a reference (``%<name>`` of a resource made here)
            variables["institution"] = own[0] if ":" in own[0] or "/" in own[0] \
                else f"Organization/{own[0]}"
    bundle = transaction(mapping, fields, variables, source, record.position)
    return Result(record.position, key, INGESTED if identified else CONTACT, issues, bundle,
                  variables["institution"])


def fields_of(mapping: dict, record: Record) -> tuple[dict[str, Any], list[Issue]]:
    """The record's fields as the mapping converts them, and the problems found."""
    fields: dict[str, Any] = {}
    issues: list[Issue] = []
    required = set(mapping.get("outcome", {}).get("required", []))
    for name, spec in mapping["fields"].items():
        only = spec.get("onlyIf")  # read only when another column says so (a RUN column)
        if only and (record.get(only["path"]) or "").strip() not in only["in"]:
            continue
        paths = spec["path"] if isinstance(spec["path"], list) else [spec["path"]]
        value, problem = CONVERSIONS[spec.get("type", "text")](
            [record.get(p) for p in paths], spec)
        if value is not None:
            fields[name] = value
        if problem:
            issues.append(Issue(name, problem, "error" if name in required else "warning"))
    return fields, issues


def _variables(mapping: dict, key: str | None, source: str, position: int) -> dict:
    """``%key`` & co., and ``%<name>`` the reference of each named resource."""
    variables: dict[str, Any] = {
        "key": key, "source": source, "position": position, "mapping": mapping["name"],
        "institution": f"Organization/{mapping['institution']}"}
    for resource in mapping["resources"]:
        id = resource_id(mapping, key, resource["name"])
        variables[resource["name"]] = f"urn:uuid:{id}" if resource.get("conditional") \
            else f"{resource['resource']['resourceType']}/{id}"
    return variables


def resource_id(mapping: dict, key: str | None, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{mapping['name']}|{key}|{name}"))


def transaction(mapping: dict, fields: dict, variables: dict, source: str,
                position: int) -> dict:
    entries = []
    for resource in mapping["resources"]:
        if "$when" in resource and not templates.holds(resource["$when"], fields, variables):
            continue
        body = templates.render(resource["resource"], fields, variables)
        if body is None:
            continue
        id = resource_id(mapping, variables["key"], resource["name"])
        type = body["resourceType"]
        if resource.get("conditional"):
            condition = templates.render(resource["conditional"], fields, variables)
            entries.append({"fullUrl": f"urn:uuid:{id}", "resource": body,
                            "request": {"method": "POST", "url": type,
                                        **({"ifNoneExist": condition} if condition else {})}})
        else:
            body["id"] = id
            entries.append({"fullUrl": f"{type}/{id}", "resource": body,
                            "request": {"method": "PUT", "url": f"{type}/{id}"}})
    if entries:
        entries.append(_provenance(mapping, entries, variables, source, position))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _provenance(mapping: dict, entries: list[dict], variables: dict, source: str,
                position: int) -> dict:
    id = resource_id(mapping, variables["key"], "provenance")
    return {"fullUrl": f"Provenance/{id}", "request": {"method": "PUT",
                                                       "url": f"Provenance/{id}"},
            "resource": {
                "resourceType": "Provenance", "id": id,
                "target": [{"reference": e["fullUrl"]} for e in entries],
                "recorded": _recorded(variables),
                "policy": [f"{CANONICAL}{mapping['name']}|{mapping['version']}"],
                "activity": {"coding": [PROVENANCE_ACTIVITY]},
                "agent": [{"type": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                    "code": "author"}]}, "who": {"reference": variables["institution"]}}],
                "entity": [{"role": "source", "what": {
                    "identifier": {"system": f"{CANONICAL}{mapping['name']}/registro",
                                   "value": str(variables["key"])},
                    "display": f"{source}, registro {position}"}}]}}


def _recorded(variables: dict) -> str:
    """The ingestion's instant is not the record's: Provenance.recorded is stamped when
    the bundle is made (re-ingesting keeps the stored one: see ``amparo ingest``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
