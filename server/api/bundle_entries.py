"""Bundle entries: parsing each ``entry`` of a batch/transaction into a ``FhirRequest``,
and naming the entry an error came from."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import parse_qsl

from server import errors
from server.api.router import Context, FhirRequest, FhirResponse
from server.api.write import JSON_PATCH, implied_if_none_exist, refuse_read_only
from server.validation import validate

_METHODS = ("DELETE", "POST", "PUT", "PATCH", "GET", "HEAD")
_HEADERS = {"ifMatch": "if-match", "ifNoneMatch": "if-none-match",
            "ifNoneExist": "if-none-exist", "ifModifiedSince": "if-modified-since"}


@dataclass
class Entry:
    """One bundle entry on its way through processing."""

    index: int
    method: str
    url: str
    full_url: str | None
    request: FhirRequest
    type: str | None
    id: str | None
    conditional: bool
    response: FhirResponse | None = None
    #: an earlier conditional create with the same criteria: this entry is that resource
    same_as: Entry | None = None
    #: a survivor's create made conditional on her identity by the server, not the client
    implied: bool = False


def parse_entry(ctx: Context, index: int, raw: object, prefer_header: str | None,
           validate_now: bool) -> Entry:
    where = f"Bundle.entry[{index}]"
    try:
        return _parse(ctx, index, raw, prefer_header, validate_now, where)
    except errors.FhirError as error:
        raise located(error, None, index) from None


def _parse(ctx: Context, index: int, raw: object, prefer_header: str | None,
                 validate_now: bool, where: str) -> Entry:
    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise errors.invalid("each entry needs a request", [f"{where}.request"])
    request = raw["request"]
    method, url = request.get("method"), request.get("url")
    if method not in _METHODS or not isinstance(url, str) or not url:
        raise errors.invalid("entry.request needs a method (GET, HEAD, POST, PUT, PATCH, "
                             "DELETE) and a url", [f"{where}.request"])
    full_url = raw.get("fullUrl")
    if full_url is not None and not isinstance(full_url, str):
        raise errors.invalid("fullUrl must be a string", [f"{where}.fullUrl"])
    path, _, query = _relative(ctx, url).partition("?")
    segments = [s for s in path.split("/") if s]
    type = segments[0] if segments else None
    id = segments[1] if len(segments) == 2 and method in ("PUT", "DELETE", "PATCH") else None
    headers = {name: request[key] for key, name in _HEADERS.items()
               if isinstance(request.get(key), str)}
    if prefer_header:
        headers["prefer"] = prefer_header
    fhir_request = FhirRequest(method, path, parse_qsl(query, keep_blank_values=True),
                               headers, parsed=raw.get("resource"))
    if _writes(method, segments):
        # before validation, conditional matching or anything else is done
        refuse_read_only(type, method, allow_header=False)
    conditional = bool(query) and method in ("PUT", "DELETE", "PATCH") and len(segments) == 1
    implied = None
    if method in ("POST", "PUT") and validate_now:
        if type is None or (method == "POST" and len(segments) != 1):
            raise errors.invalid(f"{method} needs a url of the form [type]"
                                 f"{'' if method == 'POST' else '/[id] or [type]?criteria'}")
        if raw.get("resource") is None:
            raise errors.invalid(f"a {method} entry needs a resource", [f"{where}.resource"])
        fhir_request.valid = validate(raw["resource"], type, f"{where}.resource",
                                     ctx.settings.profiles)
        implied = implied_if_none_exist(ctx.principal, type, fhir_request.valid.resource)
        if method == "POST" and implied and "if-none-exist" not in headers:
            headers["if-none-exist"] = implied
        else:
            implied = None
    if method == "PATCH":
        fhir_request.raw, fhir_request.content_type = _patch_body(raw.get("resource"), where)
        fhir_request.parsed = None
    return Entry(index, method, url, full_url, fhir_request, type, id, conditional,
                 implied=implied is not None)


def _writes(method: str, segments: list[str]) -> bool:
    """Whether the entry is a create, update, patch or delete (not a read, a search or an
    operation such as ``POST ValueSet/$expand``)."""
    if any(s.startswith("$") or s == "_search" for s in segments):
        return False
    return method in ("PUT", "DELETE", "PATCH") or (method == "POST" and len(segments) == 1)


def _relative(ctx: Context, url: str) -> str:
    if url.startswith(ctx.base_url + "/"):
        return url[len(ctx.base_url) + 1:]
    if "://" in url.split("?")[0]:
        raise errors.invalid("entry.request.url must be relative to this server's base")
    return url.lstrip("/")


def _patch_body(resource: object, where: str) -> tuple[bytes, str]:
    """A PATCH entry carries its JSON Patch as a Binary (FHIRPath Patch is not supported)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary" \
            or resource.get("contentType") != JSON_PATCH:
        raise errors.unsupported_media_type(
            f"a PATCH entry needs a Binary resource of contentType {JSON_PATCH}")
    try:
        return base64.b64decode(resource.get("data", ""), validate=True), JSON_PATCH
    except (binascii.Error, ValueError, TypeError):
        raise errors.invalid("the PATCH Binary's data is not base64",
                             [f"{where}.resource.data"]) from None


def located(error: errors.FhirError, entry: Entry | None,
             index: int | None = None) -> errors.FhirError:
    """``error`` with its issues naming the bundle entry that caused it."""
    if entry is not None:
        index = entry.index
    if index is None:
        return error
    where = f"Bundle.entry[{index}]"
    for issue in error.issues:
        if not issue.diagnostics.startswith(where):
            label = f"{where} ({entry.method} {entry.url[:100]})" if entry else where
            issue.diagnostics = f"{label}: {issue.diagnostics}"
        if not issue.expression:
            issue.expression = [where]
        elif not issue.expression[0].startswith("Bundle."):
            issue.expression = [f"{where}.{e}" for e in issue.expression]
    return error
