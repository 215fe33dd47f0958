"""``Patient/$merge`` (the R5 operation, served on R4B) and ``Patient/$unmerge`` (ours).

``$merge`` takes a ``Parameters`` body: the source and the target, each as
``source-patient`` / ``target-patient`` (valueReference) or ``source-patient-identifier``
/ ``target-patient-identifier`` (valueIdentifier, repeatable: every one must be on the
single Patient they resolve to); optionally ``result-patient`` (the target as it should
be written) and ``preview`` (valueBoolean: check and report, write nothing). It answers
R5's output ``Parameters``: ``input``, ``outcome`` (an OperationOutcome saying what was
done) and ``result`` (the target as it is now).

``$unmerge`` takes ``source-patient`` and ``target-patient`` of an earlier merge and
undoes it; ``result`` is the source, active again. What both do, and what the consent
model adds, is ``server/linkage/merge.py``'s. Both need ``u`` on Patient.
See: https://hl7.org/fhir/R5/patient-operation-merge.html
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from server import errors
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.linkage.merge import Merged, merge, unmerge
from server.repository import Write
from server.search.parse import parse_criteria
from server.search.syntax import escape

_MERGE_INPUTS = {"source-patient": "valueReference", "target-patient": "valueReference",
                 "source-patient-identifier": "valueIdentifier",
                 "target-patient-identifier": "valueIdentifier",
                 "result-patient": "resource", "preview": "valueBoolean"}
_UNMERGE_INPUTS = {"source-patient": "valueReference", "target-patient": "valueReference"}


@route("POST", "Patient/$merge", None, "type")
def merge_patients(ctx: Context, req: FhirRequest) -> FhirResponse:
    body, given = _inputs(ctx, req, _MERGE_INPUTS)
    preview = bool(given.get("preview", [False])[0])
    with ctx.writing() as w:
        source = _patient_id(ctx, w, given, "source")
        target = _patient_id(ctx, w, given, "target")
        result = (given.get("result-patient") or [None])[0]
        done = merge(ctx.repo, w, source, target, result, preview)  # a preview writes nothing
    verb = "se fusionaría" if preview else "se fusionó"
    return _answer(body, done, f"Patient/{source} {verb} en Patient/{target}")


@route("POST", "Patient/$unmerge", None, "type")
def unmerge_patients(ctx: Context, req: FhirRequest) -> FhirResponse:
    body, given = _inputs(ctx, req, _UNMERGE_INPUTS)
    with ctx.writing() as w:
        source = _patient_id(ctx, w, given, "source")
        target = _patient_id(ctx, w, given, "target")
        done = unmerge(ctx.repo, w, source, target)
    return _answer(body, done, f"se deshizo la fusión de Patient/{source} en Patient/{target}")


def _inputs(ctx: Context, req: FhirRequest, accepted: dict[str, str]
            ) -> tuple[dict, dict[str, list]]:
    """The Parameters body and its values by name (each name's value key checked)."""
    if any(not name.startswith("_") for name, _ in req.params):
        raise errors.FhirError(400, "not-supported",
                               "this operation takes its parameters in a Parameters body")
    body = req.json(ctx.settings)
    parameters = body.get("parameter") if isinstance(body, dict) and \
        body.get("resourceType") == "Parameters" else None
    if not isinstance(parameters, list):
        raise errors.invalid("the operation needs a Parameters body")
    given: dict[str, list] = {}
    for i, parameter in enumerate(parameters):
        name = parameter.get("name") if isinstance(parameter, dict) else None
        key = accepted.get(name)
        value = parameter.get(key) if key else None
        if key is None or value is None or (key == "valueBoolean" and type(value) is not bool) \
                or (key != "valueBoolean" and not isinstance(value, dict)):
            raise errors.invalid(f"unknown or malformed parameter; this operation takes "
                                 f"{', '.join(sorted(accepted))}", [f"Parameters.parameter[{i}]"])
        given.setdefault(name, []).append(value)
    for name, values in given.items():
        if len(values) > 1 and not name.endswith("-identifier"):
            raise errors.invalid(f"'{name}' may be given once")
    return body, given


def _patient_id(ctx: Context, w: Write, given: dict[str, list], role: str) -> str:
    """The id of the source or target Patient, by reference or by identifiers (which must
    resolve to exactly one Patient the caller sees)."""
    reference = (given.get(f"{role}-patient") or [{}])[0].get("reference")
    identifiers = given.get(f"{role}-patient-identifier") or []
    if reference is not None:
        parts = reference.split("/_history/")[0].split("/") if isinstance(reference, str) \
            else []
        if len(parts) < 2 or parts[-2] != "Patient" or not parts[-1]:
            raise errors.invalid(f"{role}-patient must reference a Patient")
        return parts[-1]
    if not identifiers:
        raise errors.invalid(f"the {role} is needed: {role}-patient or "
                             f"{role}-patient-identifier")
    criteria = []
    for identifier in identifiers:
        system, value = identifier.get("system"), identifier.get("value")
        if not isinstance(value, str) or not isinstance(system, str | None):
            raise errors.invalid(f"{role}-patient-identifier needs a value")
        criteria.append(("identifier", f"{escape(system or '')}|{escape(value)}"
                         if system else escape(value)))
    query = replace(parse_criteria("Patient", criteria), count=2, total=False)
    found = ctx.repo.search(ctx.principal, query, w.uow).matches
    if len(found) != 1:
        raise errors.unprocessable(f"{role}-patient-identifier must name exactly one "
                                   f"Patient (it names {'none' if not found else 'several'})")
    return found[0].id


def _answer(body: dict, done: Merged, said: str) -> FhirResponse:
    details = [said]
    if done.moved:
        details.append(f"{done.moved} registro(s) de ella quedaron con la nueva referencia")
    if done.kept:
        details.append(f"{done.kept} registro(s) de otras instituciones siguen nombrando "
                       "el registro de origen, cuyo enlace indica dónde está ahora")
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "information", "code": "informational", "diagnostics": d}
        for d in details]}
    parameters = [{"name": "input", "resource": body},
                  {"name": "outcome", "resource": outcome},
                  {"name": "result", "resource": done.patient}]
    return FhirResponse(200, orjson.dumps({"resourceType": "Parameters",
                                           "parameter": parameters}))
