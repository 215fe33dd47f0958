"""``EpisodeOfCare/[id]/$summary``: what a caseworker needs of a case on one screen.

GET, no parameters (but ``_format``, ``_pretty``). The answer is a ``Parameters``
resource whose parameters ``server/timeline/summary.py`` documents: the current risk
level and its trend, the open referrals with their due dates, the active protection
measures, the open alerts, the institutions involved and the last contact.

Consent and scopes: the case is read like a read (a hidden case is 404, exactly as a
missing one); the operation needs ``r`` on EpisodeOfCare (``server/auth/permissions.py``).
Everything else comes from the case's part of her record as the caller may see it
(``server.timeline.case_record``: searches under its principal, of the types its scopes
allow reading), so the summary never counts what the caller may not see. An
institution's name is given when the caller may read its Organization.
"""

from __future__ import annotations

import orjson

from server import clock, errors
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.timeline import case_record, case_summary, entry, readable_types


@route("GET", "EpisodeOfCare/:id/$summary", None, "instance")
def summary(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    unknown = sorted({name for name, _ in req.params} - {"_format", "_pretty"})
    if unknown:
        raise errors.invalid(f"$summary takes no parameters ({', '.join(unknown)[:100]})")
    case = entry(ctx.repo.read(ctx.principal, "EpisodeOfCare", id, ctx.reader))
    record = case_record(ctx.repo, ctx.principal, case, ctx.reader)
    if ctx.audit is not None:
        ctx.audit.based_on(ctx.repo.basis(ctx.principal, [e.version for e in record.entries],
                                          ctx.reader))
    answer = case_summary(case, record.entries, _names(ctx), clock.now()[1])
    return FhirResponse(200, orjson.dumps(answer))


def _names(ctx: Context):
    """Looks up an institution's name through the caller's own reads (cached per request)."""
    may_read = bool(readable_types(ctx.principal, ("Organization",)))
    known: dict[str, str | None] = {}

    def name_of(reference: str) -> str | None:
        type, _, id = reference.partition("/")
        if not may_read or type != "Organization" or not id:
            return None
        if reference not in known:
            try:
                found = orjson.loads(ctx.repo.read(ctx.principal, type, id, ctx.reader).body)
                known[reference] = found.get("name")
            except errors.FhirError:
                known[reference] = None  # missing, deleted or hidden: no name to give
        return known[reference]
    return name_of
