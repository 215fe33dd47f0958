"""search-type (GET and POST ``_search``). See: https://hl7.org/fhir/R4B/http.html#search

The access gate's filter is part of the store query (``Repository.search``), so
``total``, the pages and the included resources count only what the caller may see.

``Bundle.total`` (https://hl7.org/fhir/R4B/search.html#total): counting every match is
a second query that grows with the result, so by default (no ``_total``) the total is
given only when it is free: when the first page holds every match (the total is then
the number of entries). ``_total=accurate`` or ``estimate`` (both counted exactly),
``_summary=count`` and ``_count=0`` always count; ``_total=none`` never gives one.

Included resources (``_include``/``_revinclude``) follow the matches with
``search.mode`` ``include``. ``_summary`` (true, text, data, count) and ``_elements``
trim every returned resource and tag it SUBSETTED (search.html#summary, #elements).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from server import errors
from server.api.responses import bundle, prefer
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.api.subsetting import subsetter
from server.search.parse import page_token, parse_search

FORM = "application/x-www-form-urlencoded"


@route("GET", ":type", "search-type", "type")
def search_type(ctx: Context, req: FhirRequest, type: str) -> FhirResponse:
    return run_search(ctx, req, type, req.params)


@route("POST", ":type/_search", "search-type", "type")
def search_type_post(ctx: Context, req: FhirRequest, type: str) -> FhirResponse:
    return run_search(ctx, req, type, form_params(req))


def form_params(req: FhirRequest) -> list[tuple[str, str]]:
    """A POST _search's parameters: the URL's and the form body's."""
    media = (req.content_type or "").split(";")[0].strip().lower()
    params = list(req.params)
    if req.raw:
        if media != FORM:
            raise errors.unsupported_media_type(f"POST _search takes {FORM}")
        try:
            params += parse_qsl(req.raw.decode("utf-8"), keep_blank_values=True,
                                strict_parsing=False, max_num_fields=1000)
        except (UnicodeDecodeError, ValueError):
            raise errors.invalid("the form body is not valid") from None
    return params


def run_search(ctx: Context, req: FhirRequest, type: str,
               params: list[tuple[str, str]]) -> FhirResponse:
    parsed = parse_search(type, params, default_count=ctx.settings.default_count,
                          max_count=ctx.settings.max_count,
                          strict=prefer(req, "handling") == "strict")
    query = parsed.query
    page = ctx.repo.search(ctx.principal, query, ctx.reader)
    if ctx.audit is not None:
        ctx.audit.based_on(ctx.repo.basis(ctx.principal, [*page.matches, *page.included],
                                          ctx.reader))
    # ``applied`` keeps a sent _count; the links carry the one in effect, once.
    base = [*(p for p in parsed.applied if p[0] != "_count"), ("_count", str(query.count))]
    links = [("self", _url(ctx, type, base))]
    for relation, direction, cursor in (("next", "a", page.next_cursor),
                                        ("previous", "b", page.previous_cursor)):
        if cursor is not None:
            token = page_token(direction, cursor)
            links.append((relation, _url(ctx, type, [*base, ("_page", token)])))
    trim = subsetter(parsed.summary, parsed.elements)
    entries = [{"fullUrl": f"{ctx.base_url}/{m.type}/{m.id}", "resource": trim(m),
                "search": {"mode": mode}}
               for mode, found in (("match", page.matches), ("include", page.included))
               for m in found]
    if parsed.ignored:
        entries.append({"resource": _ignored(parsed.ignored), "search": {"mode": "outcome"}})
    total = None if parsed.total == "none" else page.total
    return FhirResponse(200, bundle("searchset", entries, total=total, links=links))


def _ignored(names: tuple[str, ...]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [
        {"severity": "warning", "code": "not-supported",
         "diagnostics": f"search parameter {name} is not supported and was ignored"}
        for name in names]}


def _url(ctx: Context, type: str, params: list[tuple[str, str]]) -> str:
    return f"{ctx.base_url}/{type}?{urlencode(params)}"
