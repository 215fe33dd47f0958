"""``Patient/$match``: which survivors already known to the network this woman may be.

POST a ``Parameters`` body with ``resource`` (a Patient), and optionally
``onlyCertainMatches`` (valueBoolean) and ``count`` (valueInteger, default 10, at most
100); or the Patient itself as the body. The answer is a ``searchset`` Bundle of the
matches the caller may see, best first, each with ``search.mode`` ``match``, its
``search.score`` and the ``match-grade`` extension (certain, probable, possible); the
rules are ``server/linkage/compare.py``'s.
See: https://hl7.org/fhir/R4B/patient-operation-match.html
"""

from __future__ import annotations

import orjson

from server import errors
from server.api.responses import bundle, fragment
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.linkage.match import matches
from server.validation import validate

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
DEFAULT_COUNT, MAX_COUNT = 10, 100


@route("POST", "Patient/$match", None, "type")
def match(ctx: Context, req: FhirRequest) -> FhirResponse:
    if req.params and any(not name.startswith("_") for name, _ in req.params):
        raise errors.FhirError(400, "not-supported",
                               "$match takes its parameters in a Parameters body")
    patient, only_certain, count = _inputs(req.json(ctx.settings))
    validate(patient, "Patient")  # R4B structure: a malformed name is a 422, not a guess
    found = matches(ctx.repo, ctx.principal, patient, only_certain=only_certain,
                    count=count, reader=ctx.reader)
    entries = [{"fullUrl": f"{ctx.base_url}/Patient/{version.id}",
                "resource": fragment(version.body),
                "search": {"extension": [{"url": MATCH_GRADE, "valueCode": verdict.grade}],
                           "mode": "match", "score": verdict.score}}
               for version, verdict in found]
    return FhirResponse(200, orjson.dumps(bundle("searchset", entries, total=len(entries))))


def _inputs(body: object) -> tuple[dict, bool, int]:
    """(the Patient, onlyCertainMatches, count) from the body."""
    if not isinstance(body, dict):
        raise errors.invalid("$match needs a Parameters body or a Patient")
    if body.get("resourceType") != "Parameters":
        return body, False, DEFAULT_COUNT
    patient, only_certain, count = None, False, DEFAULT_COUNT
    parameters = body.get("parameter")
    for i, parameter in enumerate(parameters if isinstance(parameters, list) else [None]):
        where = [f"Parameters.parameter[{i}]"]
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if name == "resource" and isinstance(parameter.get("resource"), dict):
            patient = parameter["resource"]
        elif name == "onlyCertainMatches" and isinstance(parameter.get("valueBoolean"), bool):
            only_certain = parameter["valueBoolean"]
        elif name == "count" and type(parameter.get("valueInteger")) is int \
                and 1 <= parameter["valueInteger"] <= MAX_COUNT:
            count = parameter["valueInteger"]
        else:
            raise errors.invalid("a $match parameter is 'resource' (a Patient), "
                                 "'onlyCertainMatches' (valueBoolean) or 'count' "
                                 f"(valueInteger, 1 to {MAX_COUNT})", where)
    if patient is None:
        raise errors.invalid("$match needs the 'resource' parameter (a Patient)")
    return patient, only_certain, count
