"""A case's life, decided by its lead institution: ``EpisodeOfCare/[id]/$close``,
``$reopen`` and ``$transfer`` (Parameters ``organization``, a valueReference to the new
lead).

The case and its care team are the platform's records (``server/cases.py``), so no
institution changes them with a plain update; these operations let the institution that
leads the case (``managingOrganization``) do what only it may: close the case
(``finished``, its period ended, the status it left in ``statusHistory``), reopen it (when
she has no other open case: one case per survivor) and hand the lead to another
institution, which joins the care team (the former lead stays on it). Anyone else is
refused with 403; a case the caller may not see is 404, like a missing one. The answer
is the case as it is now. Each needs ``u`` on EpisodeOfCare.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from server import cases, errors
from server.access import ANONYMOUS
from server.api.router import Context, FhirRequest, FhirResponse, route


@route("POST", "EpisodeOfCare/:id/$close", None, "instance")
def close(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    return _as_lead(ctx, req, id, lambda repo, w, case: cases.close(repo, w, case))


@route("POST", "EpisodeOfCare/:id/$reopen", None, "instance")
def reopen(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    return _as_lead(ctx, req, id, lambda repo, w, case: cases.reopen(repo, w, case))


@route("POST", "EpisodeOfCare/:id/$transfer", None, "instance")
def transfer(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    to = _organization(req.json(ctx.settings) if req.raw else None)
    return _as_lead(ctx, req, id, lambda repo, w, case: cases.transfer(repo, w, case, to))


def _as_lead(ctx: Context, req: FhirRequest, id: str, change) -> FhirResponse:
    if any(not name.startswith("_") for name, _ in req.params):
        raise errors.FhirError(400, "not-supported",
                               "this operation takes its parameters in a Parameters body")
    with ctx.writing() as w:
        case = orjson.loads(ctx.repo.read(ctx.principal, "EpisodeOfCare", id, w.uow).body)
        lead = (case.get("managingOrganization") or {}).get("reference")
        if ctx.principal.institution is None or ctx.principal.institution != lead:
            raise errors.FhirError(403, "forbidden", "solo la institución que lidera el caso "
                                   "(managingOrganization) lo cierra, reabre o traspasa")
        w.basis.append("case-lead")
        changed = change(ctx.repo, replace(w, principal=ANONYMOUS), case)
    return FhirResponse(200, orjson.dumps(changed))


def _organization(body: object) -> str:
    parameters = body.get("parameter") if isinstance(body, dict) and \
        body.get("resourceType") == "Parameters" else None
    if not isinstance(parameters, list) or len(parameters) != 1 \
            or not isinstance(parameters[0], dict) \
            or parameters[0].get("name") != "organization" \
            or not isinstance((parameters[0].get("valueReference") or {}).get("reference"), str):
        raise errors.invalid("$transfer needs a Parameters body with one 'organization' "
                             "(valueReference to the new lead institution)")
    return parameters[0]["valueReference"]["reference"]
