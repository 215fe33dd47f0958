"""The de-identified form of a survivor's records, for the statistics purpose (PUBHLTH).

A bulk export asked with that purpose (``server/bulk/``) reads the records through the
platform and writes only what ``Deidentifier.resource`` returns; the identified records
never leave. What it removes, and why (the policy data: ``statistics-export.json``):

- **Whole resources**: types not listed in the policy's ``keep`` (statements and other
  free-text documents, Consents, communications, the directory: free text cannot be
  de-identified reliably, and the directory is public anyway); records labelled very
  restricted (``V``: a shelter's whereabouts); every record of a survivor who declined
  statistical use (``statistics_consent.py``; the caller filters those).
- **Elements not listed** for the type, at the top level: the allowlist keeps the coded
  facts statistics need (gender, birth year, comuna, nationality, indigenous people,
  disability, forms of violence, risk levels, referral states, institutions, dates) and
  drops everything else, so that an element added to a profile later is removed until
  someone decides it may leave. Always removed: ``text`` (narrative), ``identifier``
  (RUN, passport, case and record numbers), ``name``, ``telecom``, ``photo``,
  ``contact``, ``link`` (merged records), ``contained``, ``note``.
- **Everywhere inside what is kept**: ``identifier``, free text (``text``, ``comment``,
  ``description``, ``detail``, ``rationale``, ``mitigation``, ``title`` and
  ``summary`` when a string, ``valueString`` and ``valueMarkdown`` but in a listed
  extension, such as an instrument's version), attachments, names, contact points and
  addresses of other people; a reference's ``display`` and ``identifier``; extensions
  whose URL is not listed (their content is unknown); codings' displays;
  ``meta`` but for its security labels and the author institution's tag (profiles too:
  the copy no longer conforms to them).
- **Addresses**: only the comuna (``city`` and its CL Core ``ComunasCl`` code), the
  province (``district``), the region (``state``) and the country remain; street lines,
  postal codes, text and periods are removed.
- **Ids and references**: every resource id becomes a pseudonym, HMAC-SHA-256 of
  ``Type/id`` under a random key drawn for this export and held only in the exporting
  process's memory (never stored, logged or written to a file); references are
  rewritten to the same pseudonyms, so records still link to one another inside the
  export and a survivor has one stable pseudonym across its files, but a different one
  in every other export (two exports cannot be joined). References to institutions
  (``Organization``) are kept: institutions are not people. Absolute, ``urn:`` and
  contained references are removed.
- **Dates**: a birth date becomes its year (removed altogether from the age of 90, as
  HIPAA's Safe Harbor does, since few women are that old); every other date or
  dateTime is shifted by a whole number of days between -30 and +30 drawn per survivor
  and export from the same key (her intervals, such as time to first contact or
  between incidents, stay exact) and loses its time of day; dates of a record with no
  survivor keep only year and month. Instants (``issued``) are not kept.

What remains is quasi-identifying (comuna, birth year, dates within a month): it goes
only to the purposes and institution kinds the policy names, never with a filter that
could single a woman out (the export refuses ``_typeFilter`` and Group exports in this
mode), and the indicators' small-cell rules apply to anything published from it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, date, datetime, timedelta

from server.access import AUTHOR_SYSTEM, survivor_of
from server.analytics.policy import StatisticsPolicy

__all__ = ["Deidentifier"]

#: Removed wherever they appear inside kept elements (free text, identifiers, people).
_DROPPED = frozenset({
    "identifier", "name", "telecom", "photo", "contact", "contained", "note", "attachment",
    "valueString", "valueMarkdown", "valueAttachment", "valueAddress", "valueHumanName",
    "valueContactPoint", "valueIdentifier", "authorString",
    "line", "postalCode", "text", "comment", "description", "rationale", "mitigation",
})
#: Removed where they hold a string (elsewhere they are structures: CarePlan.activity
#: .detail, a Questionnaire item's title never reaches here).
_FREE_TEXT = frozenset({"detail", "title", "summary", "display"})
_ADDRESS = ("use", "type", "city", "_city", "district", "_district", "state", "_state",
            "country", "_country")
#: A FHIR date or dateTime; one with a day is shifted wherever it appears, whatever its
#: element's name (so a date in an element nobody thought of cannot leak).
_DATE = re.compile(r"(\d{4})(-(\d{2})(-(\d{2})(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?")
_REFERENCE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[^/]+)?")
_KEPT_REFERENCES = frozenset({"Organization"})
_OLDEST = 90
_SHIFT_DAYS = 30


class Deidentifier:
    """The de-identification of one export: ``key`` (random, per export) keys the
    pseudonyms and date shifts; ``today`` sets who is 90 or older."""

    def __init__(self, policy: StatisticsPolicy, key: bytes, today: date | None = None):
        if len(key) < 16:
            raise ValueError("the pseudonym key must be at least 16 random bytes")
        self.policy = policy
        self._key = key
        self.today = today or datetime.now(UTC).date()

    def __repr__(self) -> str:  # never show the key (a log line, a traceback)
        return "Deidentifier(key=<hidden>)"

    def pseudonym(self, type: str, id: str) -> str:
        """The stable pseudonym of ``type/id`` in this export (32 hex digits)."""
        return hmac.new(self._key, f"{type}/{id}".encode(), hashlib.sha256).hexdigest()[:32]

    def shift(self, patient: str) -> int:
        """Her date shift in days (-30 to +30), the same for all her records."""
        digest = hmac.new(self._key, f"shift:{patient}".encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big") % (2 * _SHIFT_DAYS + 1) - _SHIFT_DAYS

    def resource(self, resource: dict) -> dict | None:
        """The de-identified copy of ``resource``; None when none may leave (a type the
        policy does not list, or a record labelled V)."""
        type = resource.get("resourceType")
        kept = self.policy.keep.get(type) if isinstance(type, str) else None
        if kept is None or "V" in _labels(resource) or not isinstance(resource.get("id"), str):
            return None
        patient = survivor_of(resource)
        days = self.shift(patient) if patient is not None else None
        out: dict = {"resourceType": type, "id": self.pseudonym(type, resource["id"])}
        meta = _meta(resource.get("meta"))
        if meta:
            out["meta"] = meta
        for key in sorted(kept - {"birthDate"}):
            for name in (key, f"_{key}"):
                if name in resource:
                    value = self._element(name, resource[name], days)
                    if value is not None:
                        out[name] = value
        if "birthDate" in kept and (year := self._birth_year(resource.get("birthDate"))):
            out["birthDate"] = year
        if isinstance(out.get("address"), list):
            out["address"] = [a for a in (_address(a) for a in out["address"]) if a] or None
            if out["address"] is None:
                del out["address"]
        return out

    # -- the walk ---------------------------------------------------------------------

    def _element(self, key: str, value: object, days: int | None,
                 extension: bool = False) -> object:
        """``value`` of element ``key`` de-identified (None: removed). ``extension``:
        inside a kept extension, whose own nested extensions have relative URLs."""
        if (key in _DROPPED or key.lstrip("_") in _DROPPED) \
                and not (extension and key == "valueString"):
            return None
        if isinstance(value, str):
            return None if key in _FREE_TEXT else self._date(value, days)
        if isinstance(value, list):
            items = [self._element(key, item, days, extension) for item in value]
            items = [item for item in items if item is not None]
            return items or None
        if not isinstance(value, dict):
            return value
        if key in ("extension", "modifierExtension"):
            url = value.get("url")
            if not isinstance(url, str) or (url not in self.policy.extensions
                                            and not (extension and "://" not in url)):
                return None
            extension = True
        if "reference" in value:
            return self._reference(value)
        out = {}
        for name, item in value.items():
            cleaned = self._element(name, item, days, extension)
            if cleaned is not None:
                out[name] = cleaned
        if key in ("extension", "modifierExtension") and set(out) == {"url"}:
            return None  # its value was removed: an extension needs one (ext-1)
        return out or None

    def _reference(self, reference: dict) -> dict | None:
        """A Reference with its target pseudonymised (an institution's kept as is), its
        display and identifier removed; None when its target cannot be kept."""
        found = _REFERENCE.fullmatch(str(reference.get("reference", "")))
        if found is None:
            return None
        type, id = found.group(1), found.group(2)
        target = f"{type}/{id}" if type in _KEPT_REFERENCES else \
            f"{type}/{self.pseudonym(type, id)}"
        out = {"reference": target}
        if isinstance(reference.get("type"), str):
            out["type"] = reference["type"]
        return out

    def _date(self, value: str, days: int | None) -> str:
        """A date or dateTime shifted by ``days`` to a day (a coarser one kept as is), or
        with no survivor (``days`` None) cut to its month."""
        found = _DATE.fullmatch(value)
        if found is None:
            return value
        if found.group(5) is None:  # a year or a month: coarse already
            return value
        if days is None:
            return value[:7]
        day = date(int(found.group(1)), int(found.group(3)), int(found.group(5)))
        return (day + timedelta(days=days)).isoformat()

    def _birth_year(self, born: object) -> str | None:
        """A birth date's year, not shifted; None from the age of 90 (or unreadable)."""
        found = _DATE.fullmatch(born) if isinstance(born, str) else None
        if found is None or self.today.year - int(found.group(1)) >= _OLDEST:
            return None
        return found.group(1)


def _labels(resource: dict) -> set[str]:
    meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
    return {c.get("code") for c in meta.get("security") or [] if isinstance(c, dict)}


def _meta(meta: object) -> dict:
    """Security labels and the author institution's tag; nothing else: no version, no
    timestamps, no source, and no profile (the de-identified copy no longer conforms to
    the guide's profiles, which require identifiers or names)."""
    if not isinstance(meta, dict):
        return {}
    out = {}
    security = [c for c in meta.get("security") or [] if isinstance(c, dict)]
    if security:
        out["security"] = security
    tags = [t for t in meta.get("tag") or [] if isinstance(t, dict)
            and t.get("system") == AUTHOR_SYSTEM]
    if tags:
        out["tag"] = tags
    return out


def _address(address: object) -> dict | None:
    """An address reduced to comuna, province, region and country."""
    if not isinstance(address, dict):
        return None
    kept = {k: address[k] for k in _ADDRESS if k in address}
    return kept if set(kept) - {"use", "type"} else None
