"""The access gate: the single place every read path asks "may this caller see this?",
deciding with the consent library (``consent``; DESIGN.md, "Who may see what").

Two faces, one answer:

- ``query_filter(principal, type)``: an ``AccessFilter`` holding the caller's keys
  (``consent.principal_keys`` plus the public key), which the store applies inside every
  search, chain, ``_has``, include and history query, so totals, paging and includes
  only ever count what the caller may see.
- ``check(principal, action, stored, reader)``: the per-resource answer for one id
  (vread, instance history, a write's target; a read asks ``Reader.read_visible``). It
  asks the store whether the resource's keys meet the same filter
  (``Reader.readable``), so it agrees with ``query_filter`` exactly.
- ``shown``: a visible resource as the caller may see it (a permit's redaction).
- ``change_decision``: whether a caller who sees a resource may also change it.

Keys are computed on write (``access_keys``): ``consent.access_keys(resource, context)``
with a ``consent.Context`` built from the store inside the unit of work (``contexts``):
the survivor the resource is about, her cases (EpisodeOfCare) and care teams, her
Consents, the resource's author and the kinds of every institution they name. The
conformance and terminology resources and the directory (``PUBLIC_TYPES``), unless
labelled R or V, carry the public key instead: they hold no survivor data.

The author of a resource is a ``meta.tag`` of ``AUTHOR_SYSTEM`` whose code is the
authoring institution's Organization id (``PLATFORM`` for the platform's own loads),
set by the server on create and kept on every later write whoever makes it (a client's
own tag of that system is replaced). A tag rather than ``meta.source``: ``source`` is
the client's to set (its system's URI), a tag of our system is searchable (``_tag``)
and travels with every version, its history and a store copy.

Writing one of her cases, care teams or Consents recomputes the keys of her whole record
in the same unit of work (``rekey``), and sets her timer (``REKEY``) to the next instant
a period of her Consents starts or ends; the timer worker (``server/timers.py``) computes
them again then (``rekey_due``).

Internal callers (``amparo init``/``demo``, the CLI: ``ANONYMOUS``, no client and no
institution) are not filtered. A hidden resource is always reported like a missing one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson

import consent
from server import clock
from server.search.query import SearchQuery
from server.store import (
    UNRESTRICTED,
    AccessFilter,
    AccessKeys,
    Reader,
    StoredVersion,
    UnitOfWork,
)

PUBLIC_KEY = "*"
AUTHOR_SYSTEM = "https://fhir.amparo.cl/CodeSystem/institucion-autora"
PLATFORM = "plataforma"
KIND_SYSTEM = "https://fhir.amparo.cl/CodeSystem/tipo-institucion"

#: Types that hold no survivor data and every caller with the scope reads: the server's
#: conformance and terminology resources, and what ``consent/policies/directory.json``
#: grants to every institution for every purpose (who is who, shared definitions). A
#: resource of these types labelled R or V (a Casa de Acogida) is decided by consent.
PUBLIC_TYPES = frozenset({
    "StructureDefinition", "ValueSet", "CodeSystem", "ConceptMap", "SearchParameter",
    "CapabilityStatement", "OperationDefinition", "NamingSystem", "ImplementationGuide",
    "CompartmentDefinition", "StructureMap", "TerminologyCapabilities", "SubscriptionTopic",
    "Measure", "Organization", "PractitionerRole", "Questionnaire", "PlanDefinition",
})
#: The resources that define a survivor's context: writing one recomputes her keys.
CONTEXT_TYPES = frozenset({"EpisodeOfCare", "CareTeam", "Consent"})
#: Where the survivor's record lives: (type, search parameter naming her). Resources of
#: other types that point at her get their keys on their own writes only.
RECORD_TYPES = (
    "RelatedPerson", "Encounter", "EpisodeOfCare", "CareTeam", "Consent", "Observation",
    "RiskAssessment", "QuestionnaireResponse", "ServiceRequest", "Task", "CarePlan",
    "DocumentReference", "Flag", "DetectedIssue", "Condition", "Procedure",
    "Communication", "CommunicationRequest", "Appointment", "Composition",
    "DiagnosticReport", "Goal", "List", "MedicationRequest",
)
_SURVIVOR_ELEMENTS = ("subject", "patient", "for", "beneficiary")
_OVER = frozenset({"entered-in-error", "cancelled"})
#: The timers (``server/timers.py``) of survivors' records: ``access-keys:Patient/<id>``.
REKEY = "access-keys"
#: How long an institution's kind is trusted (seconds); its writes here forget it at once.
KIND_TTL = 60.0


@dataclass(frozen=True)
class Principal:
    """Who is asking: filled from the access token by the auth layer (``server/auth/``).

    ``client_id`` and ``institution`` (``Organization/<id>``) are the token's client and
    the institution it was registered for; ``purpose`` the token's HL7 v3 PurposeOfUse
    code and ``justification`` the reason given with the break-the-glass purpose
    (``BTG``); ``scopes`` the granted SMART system scopes (``system/Patient.rs``);
    ``user`` the staff member the institution's system says it acts for (the
    ``X-Amparo-User`` request header), if any; ``token_id`` the token's ``jti`` (audit).

    ``platform_links`` is never set from a token: it marks an operator-run ingestion
    (``amparo ingest``), for which the platform links the survivors the institution
    writes (``server/linkage/``): her certain match is looked for among every survivor,
    not only those the institution may see, its contact joins her case, and a probable
    match is proposed to the platform's review rather than to the institution."""

    client_id: str | None = None
    institution: str | None = None
    user: str | None = None
    purpose: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    justification: str | None = None
    token_id: str | None = None
    platform_links: bool = False

    @property
    def internal(self) -> bool:
        """True for the platform itself (loads, CLI): no client, no institution."""
        return self.client_id is None and self.institution is None


ANONYMOUS = Principal()

_AUTHOR = consent.Decision(True, ("author",), ("La institución autora escribe sus registros.",))
_UNCHECKED = consent.Decision(True, ("platform",), ("Carga interna de la plataforma.",))


@dataclass(frozen=True)
class Survivor:
    """What the store says about one survivor's record, for her resources' contexts."""

    care_team: frozenset[str] = frozenset()
    care_team_refs: frozenset[str] = frozenset()
    consents: tuple[dict, ...] = ()
    named: frozenset[str] = frozenset()  # institutions her Consents name


class AccessGate:
    """The gate (see the module docstring). ``store`` answers institution kinds."""

    def __init__(self, store: Reader | None = None, kind_ttl: float = KIND_TTL,
                 enabled: bool = True):
        self.store = store
        self.kind_ttl = kind_ttl
        self.enabled = enabled  # False: permit-all, the benchmark's baseline
        self._kinds: dict[str, tuple[str | None, float]] = {}
        self._keys: dict[Principal, tuple[frozenset[str], float]] = {}
        self._lock = threading.Lock()

    # -- reads ------------------------------------------------------------------------

    def query_filter(self, principal: Principal, type: str | None) -> AccessFilter:
        """The keys ``principal`` holds, for the store to apply inside its queries."""
        if principal.internal or not self.enabled:
            return UNRESTRICTED
        return AccessFilter(self.principal_keys(principal))

    def match_filter(self, principal: Principal, type: str) -> AccessFilter:
        """The keys a conditional interaction finds its match with: the caller's, except
        for a survivor looked for by a platform-linked ingestion (``platform_links``),
        which is found among every survivor, since the platform keeps one record per
        woman whoever met her first."""
        if principal.platform_links and type == "Patient":
            return UNRESTRICTED
        return self.query_filter(principal, type)

    def check(self, principal: Principal, action: str, stored: StoredVersion,
              reader: Reader) -> bool:
        """True when ``principal`` may see ``stored``'s resource: its stored keys meet the
        caller's (asked of the store, like a search; a deleted resource keeps the keys
        of its last content)."""
        return reader.readable(stored.type, stored.id, self.query_filter(principal, stored.type))

    def redactions(self, principal: Principal, stored: StoredVersion,
                   reader: Reader) -> tuple[str, ...]:
        """The elements ``principal`` may not see in ``stored`` (() for all of it): a
        permit that obliges a redaction gave only a ``|redact:`` variant of its key, so
        the resource is visible but does not meet the caller's plain keys. Asked only of
        the types a redacting grant covers (the survivor's Patient)."""
        if principal.internal or not self.enabled or stored.deleted \
                or stored.type not in consent.redactable_types():
            return ()
        keys = self.principal_keys(principal)
        plain = consent.plain_keys(keys)
        if reader.readable(stored.type, stored.id, AccessFilter(plain)):
            return ()
        met = frozenset(k for k in keys - plain
                        if reader.readable(stored.type, stored.id, AccessFilter(frozenset((k,)))))
        return consent.redacting(met)

    def shown(self, principal: Principal, stored: StoredVersion,
              reader: Reader) -> StoredVersion:
        """``stored`` as ``principal`` may see it: redacted when a permit says so (the
        elements removed, the ``REDACTED`` label added; ``consent.redact``)."""
        elements = self.redactions(principal, stored, reader)
        if not elements:
            return stored
        copy = consent.redact(orjson.loads(stored.body),
                              (consent.Obligation("redact", elements),))
        return stored._replace(body=orjson.dumps(copy))

    def change_decision(self, principal: Principal, action: str, resource: dict,
                        reader: Reader, survivors: dict[str, Survivor] | None = None
                        ) -> consent.Decision:
        """Whether ``principal`` may ``action`` (update, patch, delete) ``resource``, which
        it can see, and on what basis (``consent.decide``; reasons in Spanish). Its author
        institution always may; anyone else needs a grant that gives the action."""
        if principal.internal or not self.enabled:
            return _UNCHECKED
        if principal.institution is not None and author_of(resource) == principal.institution:
            return _AUTHOR
        return consent.decide(self.consent_principal(principal), action, resource,
                              self.context(resource, reader, survivors))

    def principal_keys(self, principal: Principal) -> frozenset[str]:
        """The keys ``principal`` holds: computed once per token and kind period (a
        token's principal is the same on each of its requests)."""
        now = time.monotonic()
        cached = self._keys.get(principal)
        if cached is not None and cached[1] > now:
            return cached[0]
        keys = consent.principal_keys(self.consent_principal(principal)) | {PUBLIC_KEY}
        if len(self._keys) >= 4096:  # tokens expire: forget them all now and then
            self._keys.clear()
        self._keys[principal] = (keys, now + self.kind_ttl)
        return keys

    def consent_principal(self, principal: Principal) -> consent.Principal:
        """The request's principal as the consent library takes it, with the kind of its
        institution read from its Organization (``type``, tipo-institucion)."""
        return consent.Principal(
            institution=principal.institution,
            kind=self.kind_of(principal.institution) if principal.institution else None,
            client_id=principal.client_id, purpose=principal.purpose,
            scopes=principal.scopes, user=principal.user,
            justification=principal.justification)

    def kind_of(self, institution: str, reader: Reader | None = None) -> str | None:
        """The tipo-institucion code of ``Organization/<id>`` (None if unknown), cached
        ``kind_ttl`` seconds."""
        now = time.monotonic()
        with self._lock:
            cached = self._kinds.get(institution)
        if cached is not None and cached[1] > now:
            return cached[0]
        reader = reader or self.store
        kind = None
        if reader is not None and institution.startswith("Organization/"):
            found = reader.read("Organization", institution.split("/", 1)[1])
            if found is not None and not found.deleted:
                kind = kind_in(orjson.loads(found.body))
        with self._lock:
            self._kinds[institution] = (kind, now + self.kind_ttl)
        return kind

    def forget(self, institution: str) -> None:
        """Drop a cached kind (an Organization was written in this process)."""
        with self._lock:
            self._kinds.pop(institution, None)
            self._keys.clear()

    # -- writes -----------------------------------------------------------------------

    def access_keys(self, resource: dict, reader: Reader | None,
                    survivors: dict[str, Survivor] | None = None) -> AccessKeys:
        """The keys ``resource`` is stored with, each with its basis: public, or
        ``consent.access_basis`` under its context read through ``reader``
        (``survivors`` caches her record's part)."""
        labels = {c.get("code") for c in (resource.get("meta") or {}).get("security") or []
                  if isinstance(c, dict) and c.get("system") == consent.CONFIDENTIALITY}
        if resource.get("resourceType") in PUBLIC_TYPES and not labels & {"R", "V"}:
            return {PUBLIC_KEY: "public"}
        keyed = consent.access_basis(resource, self.context(resource, reader, survivors))
        return {key: " ".join(basis) for key, basis in keyed.items()}

    def rekey(self, uow: UnitOfWork, patient: str,
              record: Iterable[tuple[str, str, int, dict]],
              survivors: dict[str, Survivor] | None = None) -> None:
        """Recompute, in ``uow``, the keys of her ``record`` (``(type, id, version,
        content)`` of each current version) after her context changed, and set her timer
        (``REKEY``) to the next instant a period of her Consents starts or ends, when
        they must be computed again (``consent.keys_valid_until``)."""
        survivors = {} if survivors is None else survivors
        for type, id, version, body in record:
            uow.set_access_keys(type, id, version, self.access_keys(body, uow, survivors))
        about = survivors.get(patient) or survivor_record(uow, patient)
        until = consent.keys_valid_until(consent.Context(consents=about.consents))
        uow.set_timer(f"{REKEY}:{patient}", None if until is None else clock.to_us(until))

    def context(self, resource: dict, reader: Reader | None,
                survivors: dict[str, Survivor] | None = None) -> consent.Context:
        """The ``consent.Context`` of ``resource``: its author, and her record's."""
        author = author_of(resource)
        target = survivor_of(resource)
        about = Survivor()
        if target is not None and reader is not None:
            if survivors is not None and target in survivors:
                about = survivors[target]
            else:
                about = survivor_record(reader, target)
                if survivors is not None:
                    survivors[target] = about
        known = set(about.care_team) | set(about.named)
        if author:
            known.add(author)
        known.update(_references(resource, ("performer", "owner")))
        kinds = {inst: kind for inst in sorted(known)
                 if (kind := self.kind_of(inst, reader)) is not None}
        return consent.Context(author=author, care_team=about.care_team,
                               care_team_refs=about.care_team_refs, institutions=kinds,
                               consents=about.consents)


def rekey_due(uow: UnitOfWork, patient: str) -> None:
    """Her timer (``REKEY``, ``server/timers.py``) fired: a period of one of her Consents
    started or ended, so her record's keys are computed again as of now."""
    AccessGate().rekey(uow, patient, ((v.type, v.id, v.version, orjson.loads(v.body))
                                      for v in record_of(uow, patient)))


def survivor_record(reader: Reader, patient: str) -> Survivor:
    """Her cases' and care teams' institutions and her Consents, read through ``reader``."""
    return survivor_from([*_all(reader, "EpisodeOfCare", patient),
                          *_all(reader, "CareTeam", patient),
                          *_all(reader, "Consent", patient)], reader)


def survivor_from(resources: Iterable[dict], reader: Reader | None) -> Survivor:
    """Her ``Survivor`` from the current content of her cases (EpisodeOfCare), care teams
    and Consents (other types are ignored); a care team a case names but that is not
    among them is read through ``reader``."""
    team: set[str] = set()
    refs: set[str] = set()
    teams: dict[str, dict] = {}
    consents: list[dict] = []
    for resource in resources:
        type = resource.get("resourceType")
        if type == "Consent":
            consents.append(resource)
        elif resource.get("status") in _OVER:
            continue
        elif type == "EpisodeOfCare":
            team.update(_references(resource, ("managingOrganization",)))
            refs.update(r for r in _references(resource, ("team",))
                        if r.startswith("CareTeam/"))
        elif type == "CareTeam":
            teams[f"CareTeam/{resource.get('id')}"] = resource
    for ref in refs - teams.keys():
        found = reader.read("CareTeam", ref.split("/", 1)[1]) if reader else None
        if found is not None and not found.deleted:
            teams[ref] = orjson.loads(found.body)
    for ref, care_team in teams.items():
        refs.add(ref)
        team.update(_references(care_team, ("managingOrganization",)))
        for participant in care_team.get("participant") or []:
            team.update(_references(participant, ("member", "onBehalfOf")))
    named = {r for c in consents for r in _actors(c.get("provision"))}
    return Survivor(frozenset(t for t in team if t.startswith("Organization/")),
                    frozenset(refs), tuple(consents),
                    frozenset(n for n in named if n.startswith("Organization/")))


def record_of(reader: Reader, patient: str) -> Iterator[StoredVersion]:
    """The current versions of her record: the Patient and ``RECORD_TYPES`` naming her."""
    found = reader.read("Patient", patient.split("/", 1)[1])
    if found is not None and not found.deleted:
        yield found
    for type in RECORD_TYPES:
        yield from _search(reader, type, patient)


def is_auditor(principal: Principal) -> bool:
    """Auditors are the clients granted a read or search scope that names AuditEvent
    itself (``system/AuditEvent.rs``, v1 ``system/AuditEvent.read``): a wildcard
    (``system/*.rs``) does not make one, the trail is nobody's data but theirs
    (``server/api/audit.py`` serves it to them alone)."""
    for scope in principal.scopes:
        resource, _, permissions = scope.partition("/")[2].partition(".")
        if resource == "AuditEvent" and (permissions in ("read", "*")
                                         or set(permissions) & {"r", "s"}):
            return True
    return False


def author_of(resource: dict) -> str | None:
    """The authoring institution (``Organization/<id>``) its author tag names, or None
    (the platform, or no tag)."""
    for tag in (resource.get("meta") or {}).get("tag") or []:
        if isinstance(tag, dict) and tag.get("system") == AUTHOR_SYSTEM:
            code = tag.get("code")
            return f"Organization/{code}" if code and code != PLATFORM else None
    return None


def author_code(resource: dict | None) -> str | None:
    for tag in ((resource or {}).get("meta") or {}).get("tag") or []:
        if isinstance(tag, dict) and tag.get("system") == AUTHOR_SYSTEM:
            return tag.get("code")
    return None


def survivor_of(resource: dict) -> str | None:
    """``Patient/<id>`` of the survivor ``resource`` is about (itself for a Patient)."""
    if resource.get("resourceType") == "Patient":
        return f"Patient/{resource['id']}" if resource.get("id") else None
    for element in _SURVIVOR_ELEMENTS:
        for ref in _references(resource, (element,)):
            parts = ref.split("/")
            if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
                return f"Patient/{parts[-1]}"
    return None


def kind_in(organization: dict) -> str | None:
    for concept in organization.get("type") or []:
        for coding in (concept or {}).get("coding") or []:
            if coding.get("system") == KIND_SYSTEM and coding.get("code"):
                return coding["code"]
    return None


def _references(resource: dict, elements: tuple[str, ...]) -> list[str]:
    """The ``reference`` strings of ``elements`` (a Reference or a list of them)."""
    out: list[str] = []
    for element in elements:
        value = resource.get(element)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("reference"), str):
                out.append(item["reference"])
    return out


def _actors(provision: object) -> Iterator[str]:
    """The actors' references of a Consent provision and its nested ones."""
    if not isinstance(provision, dict):
        return
    for actor in provision.get("actor") or []:
        if isinstance(actor, dict):
            yield from _references(actor, ("reference",))
    for child in provision.get("provision") or []:
        yield from _actors(child)


def _search(reader: Reader, type: str, patient: str) -> Iterator[StoredVersion]:
    from server.search.parse import parse_criteria

    query = parse_criteria(type, [("patient", patient)])
    yield from reader.scan(SearchQuery(type, query.conditions, count=500, total=False))


def _all(reader: Reader, type: str, patient: str) -> list[dict]:
    return [orjson.loads(v.body) for v in _search(reader, type, patient)]
