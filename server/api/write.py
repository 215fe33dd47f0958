"""create, update, patch, delete and their conditional forms.

See: https://hl7.org/fhir/R4B/http.html#create (and #update, #patch, #delete, #ccreate,
#cond-update). Handlers parse the request, make one repository call inside a unit of
work, and shape the response; the FHIR rules themselves live in ``server.repository``.

Conformance resources (``READ_ONLY_TYPES``) are the server's own definitions, loaded by
``amparo init`` through the repository (``server.loading``), never through these
handlers: every write interaction on them, alone or as a bundle entry
(``server.api.bundle_entries``), is refused with 405 Method Not Allowed and an
OperationOutcome (``not-supported``), before anything is read or validated.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from server import errors
from server.access import Principal
from server.api.body import parse_json
from server.api.responses import parse_etag, written
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.auth.scopes import allows
from server.linkage.identity import certain_identifiers
from server.search.parse import parse_criteria
from server.search.query import SearchQuery
from server.search.syntax import MAX_VALUES, escape

JSON_PATCH = "application/json-patch+json"
#: Types served read-only (read, vread, search, history): what the search registry, the
#: validator and the terminology operations rely on must change only with the code that
#: loads them. The CapabilityStatement lists no write interaction for them.
READ_ONLY_TYPES = frozenset({"StructureDefinition", "ValueSet", "CodeSystem", "ConceptMap",
                             "SearchParameter", "OperationDefinition", "SubscriptionTopic",
                             "Measure"})
#: Every type no API call writes: the conformance resources and the audit trail.
NOT_WRITABLE = READ_ONLY_TYPES | {"AuditEvent"}
#: What a read-only type's URLs still accept (RFC 9110: a 405 names them in ``Allow``).
READ_ONLY_ALLOW = "GET, HEAD"


def refuse_read_only(type: str | None, method: str, allow_header: bool = True) -> None:
    """405 for a write (``method``: POST, PUT, PATCH or DELETE) of a read-only type.

    ``allow_header``: False for a bundle entry, whose refusal answers ``POST [base]``
    (a transaction's 405 must not claim that the base URL takes only GET).

    405 rather than 403: the refusal is a property of the resource type on this server
    for every caller, not a decision about who asks (http.html#delete: a server that
    refuses to delete resources of a type as a blanket policy returns 405; the
    CapabilityStatement does not list the interaction).
    """
    if type == "AuditEvent":
        raise errors.FhirError(
            405, "not-supported",
            f"the audit trail is append-only ({method} is not allowed): the server writes "
            "an AuditEvent for every interaction, and nobody changes or removes one",
            headers={"Allow": READ_ONLY_ALLOW} if allow_header else None)
    if type in READ_ONLY_TYPES:
        raise errors.FhirError(
            405, "not-supported",
            f"{type} resources are read-only on this server ({method} is not allowed): "
            "they are the server's conformance resources, loaded by 'amparo init'",
            headers={"Allow": READ_ONLY_ALLOW} if allow_header else None)


@route("POST", ":type", "create", "type")
def create(ctx: Context, req: FhirRequest, type: str) -> FhirResponse:
    refuse_read_only(type, req.method)
    valid = req.resource(ctx.settings, type)
    criteria = if_none_exist(req, type)
    implied = criteria is None and \
        (criteria := _same_identity(ctx.principal, type, valid.resource)) is not None
    with ctx.writing() as w:
        outcome = ctx.repo.create(w, valid, criteria, id=req.assigned_id)
    return written(ctx, req, outcome.status, outcome.version, "created" if outcome.status == 201
                   else SAME_IDENTITY if implied
                   else "an existing resource matched If-None-Exist")


@route("PUT", ":type/:id", "update", "instance")
def update(ctx: Context, req: FhirRequest, type: str, id: str) -> FhirResponse:
    refuse_read_only(type, req.method)
    valid = req.resource(ctx.settings, type)
    if valid.resource.get("id") != id:
        raise errors.invalid("the resource id must equal the id in the URL", ["id"])
    if_none_match = req.header("if-none-match")
    with ctx.writing() as w:
        outcome = ctx.repo.update(w, type, id, valid, parse_etag(req.header("if-match")),
                                  if_none_match is not None and if_none_match.strip() == "*")
    return written(ctx, req, outcome.status, outcome.version, "updated")


@route("PUT", ":type", "update", "type")
def conditional_update(ctx: Context, req: FhirRequest, type: str) -> FhirResponse:
    refuse_read_only(type, req.method)
    valid = req.resource(ctx.settings, type)
    query = criteria(req, type)
    with ctx.writing() as w:
        outcome = ctx.repo.conditional_update(w, query, valid, parse_etag(req.header("if-match")))
    return written(ctx, req, outcome.status, outcome.version, "updated")


@route("DELETE", ":type/:id", "delete", "instance")
def delete(ctx: Context, req: FhirRequest, type: str, id: str) -> FhirResponse:
    refuse_read_only(type, req.method)
    with ctx.writing() as w:
        outcome = ctx.repo.delete(w, type, id, parse_etag(req.header("if-match")))
    return written(ctx, req, outcome.status, outcome.version, f"{type}/{id} deleted")


@route("DELETE", ":type", "delete", "type")
def conditional_delete(ctx: Context, req: FhirRequest, type: str) -> FhirResponse:
    refuse_read_only(type, req.method)
    query = criteria(req, type)
    with ctx.writing() as w:
        outcome = ctx.repo.conditional_delete(w, query)
    return written(ctx, req, outcome.status, outcome.version, "deleted")


@route("PATCH", ":type/:id", "patch", "instance")
def patch(ctx: Context, req: FhirRequest, type: str, id: str) -> FhirResponse:
    refuse_read_only(type, req.method)
    operations = patch_document(ctx, req)
    with ctx.writing() as w:
        outcome = ctx.repo.patch(w, type, id, operations, parse_etag(req.header("if-match")))
    return written(ctx, req, outcome.status, outcome.version, "patched")


@route("PATCH", ":type", "patch", "type")
def conditional_patch(ctx: Context, req: FhirRequest, type: str) -> FhirResponse:
    refuse_read_only(type, req.method)
    operations = patch_document(ctx, req)
    query = criteria(req, type)
    with ctx.writing() as w:
        outcome = ctx.repo.conditional_patch(w, query, operations,
                                             parse_etag(req.header("if-match")))
    return written(ctx, req, outcome.status, outcome.version, "patched")


def patch_document(ctx: Context, req: FhirRequest) -> object:
    """The JSON Patch operations of a PATCH (415 for other patch formats)."""
    media = (req.content_type or "").split(";")[0].strip().lower()
    if media != JSON_PATCH:
        raise errors.unsupported_media_type(
            f"PATCH takes a JSON Patch document ({JSON_PATCH}); FHIRPath Patch is not supported")
    if req.raw is None:
        raise errors.invalid("the request has no body")
    return parse_json(req.raw, ctx.settings.max_json_depth)


def criteria(req: FhirRequest, type: str) -> SearchQuery:
    """The search criteria of a conditional update/delete/patch (the URL's query)."""
    if not req.params:
        raise errors.invalid(f"{req.method} {type} needs an id or search criteria")
    return parse_criteria(type, req.params)


SAME_IDENTITY = "she is already known: an existing Patient has the same RUN or document"


def implied_if_none_exist(principal: Principal, type: str | None,
                          resource: object) -> str | None:
    """The ``If-None-Exist`` a survivor's create carries without saying so: one woman is
    one Patient, so creating one with a valid RUN or an identity document that a Patient
    the caller may see already has returns that Patient (200) instead (issue 7, rule
    5.2.1 of the institutions' fixtures). A hidden Patient is no match, as for any
    conditional create: hidden is missing (except for an ingestion, whose survivors the
    platform links: ``AccessGate.match_filter``). So is everything, for a caller whose scopes do
    not let it search survivors (``s``): what it may not look for is not found for it."""
    if type != "Patient" or not isinstance(resource, dict) or \
            not (principal.internal or allows(principal.scopes, type, "s")):
        return None
    found = certain_identifiers(resource)[:MAX_VALUES]
    if not found:
        return None
    return urlencode({"identifier": ",".join(f"{escape(system)}|{escape(value)}"
                                             for system, value in found)})


def _same_identity(principal: Principal, type: str, resource: dict) -> SearchQuery | None:
    implied = implied_if_none_exist(principal, type, resource)
    return None if implied is None else parse_criteria(type, parse_qsl(implied))


def if_none_exist(req: FhirRequest, type: str) -> SearchQuery | None:
    header = req.header("if-none-exist")
    if header is None:
        return None
    query = header.split("?", 1)[1] if "?" in header else header
    return parse_criteria(type, parse_qsl(query, keep_blank_values=True))
