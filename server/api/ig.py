"""The implementation guide as a FHIR package over HTTP: ``GET [base]/ig/package.tgz``.

The package is what ``amparo ig package`` writes (``profiles.package``): built once per
process, on the first request, and served from memory as ``application/gzip`` with a
strong ETag (its SHA-256), so ``If-None-Match`` gets a 304. A plain path rather than an
operation (``ImplementationGuide/[id]/$package``): the package is a file that tools
download (the HL7 validator's ``-ig`` takes a package's URL), not a FHIR resource.

Routing: ``dispatch`` tries routes in registration order, and a ``:type`` segment that is
no resource type raises 404 there; so this literal route works because it is registered
before ``read``'s ``:type/:id`` (``flask_app`` imports ``ig`` before ``read``).
``tests/server/api/test_ig_package.py`` fails if that ever changes.
See: https://hl7.org/fhir/R4B/packages.html
"""

from __future__ import annotations

import hashlib
import io
from functools import cache

from profiles.package import build_package
from server import errors
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.api.versions import R4, accepts_any

MEDIA_TYPE = "application/gzip"
PATH = "ig/package.tgz"
#: What a download tool may send in Accept for the package instead of FHIR JSON.
_FILE_TYPES = {MEDIA_TYPE, "application/x-gzip", "application/tar+gzip",
               "application/octet-stream"}


def asks_for_package(path: str, accept: str | None) -> bool:
    """True for a request of the package that accepts it as a file (``Accept:
    application/gzip``): it is served without the FHIR content negotiation, which would
    refuse such an Accept with 406."""
    return path == PATH and accepts_any(accept, _FILE_TYPES)


@route("GET", PATH, None, "system")
def package(ctx: Context, req: FhirRequest) -> FhirResponse:
    """The package.tgz (200), or 304 when If-None-Match names its ETag."""
    if ctx.version == R4:
        raise errors.not_acceptable("the implementation guide is a FHIR 4.3.0 (R4B) package")
    if _in_bundle(req):
        raise errors.invalid("the IG package is a file, not a resource a bundle can carry: "
                             "GET it alone")
    body, tag = _package()
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if _matches(req.header("if-none-match"), tag):
        return FhirResponse(304, None, headers)
    return FhirResponse(200, body, {**headers, "Content-Type": MEDIA_TYPE,
                                    "Content-Disposition": 'attachment; filename="package.tgz"'})


@cache
def _package() -> tuple[bytes, str]:
    """The package's bytes and ETag, built once per process."""
    out = io.BytesIO()
    build_package(out)
    body = out.getvalue()
    return body, f'"{hashlib.sha256(body).hexdigest()}"'


def _in_bundle(req: FhirRequest) -> bool:
    """A bundle entry arrives with its resource already parsed (None for a GET without
    one); a request over HTTP has not read its body yet. A bundle response embeds bodies
    as JSON, which the gzip bytes are not."""
    return req.parsed is None or isinstance(req.parsed, dict)


def _matches(if_none_match: str | None, tag: str) -> bool:
    """If-None-Match compares weakly (RFC 9110 section 13.1.2): ``W/`` is ignored."""
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or tag in tags
