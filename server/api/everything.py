"""``Patient/[id]/$everything`` and ``EpisodeOfCare/[id]/$everything``: her record, or
her case's part of it, as a timeline (``server/timeline/``).
See: https://hl7.org/fhir/R4B/patient-operation-everything.html (the case's is this
server's own, with the same parameters and answer.)

GET, with the parameters:

- ``start``, ``end`` (date or dateTime): care dates, inclusive at the precision written
  (``end=2025-03`` keeps March); they apply to each record's clinical date
  (``server/timeline/dates.py``), not to the Patient or the case itself;
- ``_since`` (instant): only records updated at or after it;
- ``_type`` (types, comma-separated, repeatable): only records of these types;
- ``_count`` (page size, default and maximum those of search: ``AMPARO_DEFAULT_COUNT``,
  ``AMPARO_MAX_COUNT``) and ``_offset`` (where the page starts, carried by the links).

Anything else, a parameter given twice (``_type`` aside), a malformed value or a type
outside her record is 400. The answer is a ``searchset`` Bundle: the Patient (or the
case) first, then the records oldest first, every entry ``search.mode`` ``match``;
``total`` counts the entries of the whole timeline, all pages; links ``self``, ``next``
and ``previous``. A page is a position in the timeline computed anew on each request, so
a record written between two pages can shift the next one by an entry. Her record is
read up to ``server.timeline.MAX_RECORDS`` resources: beyond that, every page carries an
OperationOutcome entry (``search.mode`` ``outcome``, ``incomplete``) saying it was cut,
so that a caller narrows it with ``_type``, ``_since``, ``start`` or ``end``.

Consent and scopes: the Patient or the case is read like a read (a hidden one is 404,
exactly as a missing one), and the operation needs ``r`` on its type
(``server/auth/permissions.py``). The records come from searches under the caller's
principal, so the consent gate leaves out what it may not see, and ``total`` and the
pages count only what it sees; types the token's scopes do not allow reading are left
out (a ``_type`` naming one is 403).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from server import errors
from server.access import RECORD_TYPES
from server.api.responses import bundle, fragment
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.timeline import (
    MAX_RECORDS,
    Entry,
    Window,
    case_record,
    entry,
    her_record,
    readable_types,
    timeline,
)
from server.timeline.dates import bounds

_SINGLE = ("start", "end", "_since", "_count", "_offset")
_NEUTRAL = ("_format", "_pretty")


@dataclass(frozen=True)
class Asked:
    window: Window
    count: int
    offset: int
    params: tuple[tuple[str, str], ...]  # as applied, for the links


@route("GET", "Patient/:id/$everything", None, "instance")
def patient_everything(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    asked = inputs(ctx, req, ("Patient", *RECORD_TYPES))
    patient = entry(ctx.repo.read(ctx.principal, "Patient", id, ctx.reader))
    types = readable_types(ctx.principal, (t for t in RECORD_TYPES
                                           if asked.window.keeps_type(t)))
    record = her_record(ctx.repo, ctx.principal, patient.ref, types, ctx.reader)
    return answer(ctx, f"Patient/{id}/$everything", asked,
                  timeline(patient, record.entries, asked.window), record.truncated)


@route("GET", "EpisodeOfCare/:id/$everything", None, "instance")
def case_everything(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    asked = inputs(ctx, req, RECORD_TYPES)
    case = entry(ctx.repo.read(ctx.principal, "EpisodeOfCare", id, ctx.reader))
    record = case_record(ctx.repo, ctx.principal, case, ctx.reader)
    return answer(ctx, f"EpisodeOfCare/{id}/$everything", asked,
                  timeline(case, record.entries, asked.window), record.truncated)


def inputs(ctx: Context, req: FhirRequest, types: tuple[str, ...]) -> Asked:
    """The operation's parameters (see the module docstring); 400 for a bad one, 403 for
    a ``_type`` the token's scopes do not allow reading."""
    seen: set[str] = set()
    wanted: list[str] = []
    values: dict[str, str] = {}
    for name, value in req.params:
        if name in _NEUTRAL:
            continue
        if name == "_type":
            wanted += [t.strip() for t in value.split(",")]
            continue
        if name not in _SINGLE:
            raise errors.invalid(f"$everything has no parameter '{name[:64]}' (it takes "
                                 "start, end, _since, _type, _count and _offset)")
        if name in seen:
            raise errors.invalid(f"the parameter {name} is given more than once")
        seen.add(name)
        values[name] = value
    start, end, since = (_date(values, n) for n in ("start", "end", "_since"))
    if start is not None and end is not None and start[0] > end[1]:
        raise errors.invalid("start is after end")
    for type in wanted:
        if type not in types:
            raise errors.invalid(f"_type '{type[:64]}' is not a type of her record "
                                 f"(one of {', '.join(types)})")
        if not readable_types(ctx.principal, (type,)):
            raise errors.FhirError(403, "forbidden", "the access token's scopes do not "
                                   f"allow read on {type} resources")
    count = _integer(values, "_count", ctx.settings.default_count, 1, ctx.settings.max_count)
    offset = _integer(values, "_offset", 0, 0, None)
    window = Window(start[0] if start else None, end[1] if end else None,
                    since[0] if since else None, frozenset(wanted) if wanted else None)
    applied = [(n, values[n]) for n in ("start", "end", "_since") if n in values]
    if wanted:
        applied.append(("_type", ",".join(dict.fromkeys(wanted))))
    return Asked(window, count, offset, (*applied, ("_count", str(count))))


def answer(ctx: Context, path: str, asked: Asked, entries: list[Entry],
           truncated: bool) -> FhirResponse:
    """One page of the timeline as a searchset Bundle (see the module docstring)."""
    page = entries[asked.offset:asked.offset + asked.count]
    if ctx.audit is not None:
        ctx.audit.based_on(ctx.repo.basis(ctx.principal, [e.version for e in page],
                                          ctx.reader))
    found = [{"fullUrl": f"{ctx.base_url}/{e.ref}", "resource": fragment(e.version.body),
              "search": {"mode": "match"}} for e in page]
    if truncated:
        found.append({"resource": _cut(), "search": {"mode": "outcome"}})
    links = [("self", _url(ctx, path, asked, asked.offset))]
    if asked.offset + asked.count < len(entries):
        links.append(("next", _url(ctx, path, asked, asked.offset + asked.count)))
    if asked.offset > 0:
        links.append(("previous", _url(ctx, path, asked, max(0, asked.offset - asked.count))))
    return FhirResponse(200, bundle("searchset", found, total=len(entries), links=links))


def _date(values: dict[str, str], name: str) -> tuple[int, int] | None:
    if name not in values:
        return None
    found = bounds(values[name])
    if found is None:
        raise errors.invalid(f"{name} is a date, YYYY[-MM[-DD[Thh:mm[:ss[.f]][zone]]]]")
    return found


def _integer(values: dict[str, str], name: str, default: int, low: int,
             high: int | None) -> int:
    text = values.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < low or (high is not None and int(text) > high):
        limit = f"{low} to {high}" if high is not None else f"{low} or more"
        raise errors.invalid(f"{name} is a whole number, {limit}")
    return int(text)


def _cut() -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{
        "severity": "warning", "code": "incomplete",
        "diagnostics": f"the timeline was cut at {MAX_RECORDS} records: narrow it with "
                       "_type, _since, start or end"}]}


def _url(ctx: Context, path: str, asked: Asked, offset: int) -> str:
    params = [*asked.params, *((("_offset", str(offset)),) if offset else ())]
    return f"{ctx.base_url}/{path}?{urlencode(params)}"
