"""``POST [base]/$convert-data``: an institution's export (a CSV, a JSON array, HL7 v2
messages) through a mapping of ``mappings/``, answered with the FHIR it would become,
storing nothing: what a partner system calls to see how its file will be read before
``amparo ingest`` loads it.

Input, a Parameters: ``inputData`` (valueString: the file's text, or valueBase64Binary
for its bytes), ``mapping`` (valueString: the mapping's name, ``amparo ingest --list``),
and optionally ``extractionDate`` (valueDate: events later than it are rejected;
default today). Output, a Bundle of type ``collection``: per record that would be
stored, its transaction Bundle (as ``amparo ingest`` would send it); last, an
OperationOutcome with one issue per record (its outcome, and for a rejected one, why:
the field and what was wrong), each located at ``record <n>``.

The same operation as Microsoft's FHIR converter names it (their templates are Liquid;
ours are the declarative mappings). Needs a token with ``r`` (it reads nothing stored).
"""

from __future__ import annotations

import base64
import binascii
from datetime import date

import orjson

import mappings
from server import errors
from server.api.router import Context, FhirRequest, FhirResponse, route

_INPUTS = ("inputData", "mapping", "extractionDate")


@route("POST", "$convert-data", None, "system")
def convert_data(ctx: Context, req: FhirRequest) -> FhirResponse:
    parameters = _parameters(req.json(ctx.settings))
    try:
        mapping = mappings.load(parameters["mapping"])
    except KeyError:
        raise errors.unprocessable(f"no mapping {parameters['mapping'][:64]!r} "
                                   f"(known: {', '.join(mappings.names())})") from None
    try:
        results = list(mappings.convert(mapping, parameters["data"], "inputData",
                                    parameters.get("extracted")))
    except mappings.Unreadable as exc:
        raise errors.unprocessable(f"inputData: {exc}") from None
    entries = [{"resource": r.bundle} for r in results if r.bundle is not None]
    issues = [_issue(r) for r in results]
    entries.append({"resource": {"resourceType": "OperationOutcome",
                                 "issue": issues or [{"severity": "information",
                                                      "code": "informational",
                                                      "diagnostics": "sin registros"}]}})
    return FhirResponse(200, orjson.dumps({"resourceType": "Bundle", "type": "collection",
                                           "entry": entries}))


def _issue(result: mappings.Result) -> dict:
    problems = "; ".join(f"{i.field}: {i.message}" for i in result.issues)
    rejected = result.outcome == "rejected"
    return {"severity": "error" if rejected else "warning" if result.issues else "information",
            "code": "processing" if rejected else "informational",
            "diagnostics": f"{result.outcome}" + (f" ({problems})" if problems else ""),
            "location": [f"record {result.position}"]}


def _parameters(body: object) -> dict:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise errors.invalid("$convert-data takes a Parameters resource")
    found: dict = {}
    for parameter in body.get("parameter") or []:
        if not isinstance(parameter, dict) or parameter.get("name") not in _INPUTS:
            raise errors.invalid(f"$convert-data takes {', '.join(_INPUTS)}")
        name = parameter["name"]
        if name in found:
            raise errors.invalid(f"{name} may be given once")
        found[name] = parameter
    if "inputData" not in found or "mapping" not in found:
        raise errors.invalid("$convert-data needs inputData and mapping")
    data = found["inputData"]
    if isinstance(data.get("valueString"), str):
        raw = data["valueString"].encode()
    elif isinstance(data.get("valueBase64Binary"), str):
        try:
            raw = base64.b64decode(data["valueBase64Binary"], validate=True)
        except (binascii.Error, ValueError):
            raise errors.invalid("inputData.valueBase64Binary is not base64") from None
    else:
        raise errors.invalid("inputData is a valueString or a valueBase64Binary")
    name = found["mapping"].get("valueString")
    if not isinstance(name, str) or not name:
        raise errors.invalid("mapping is a valueString (a mapping's name)")
    out = {"data": raw, "mapping": name}
    if "extractionDate" in found:
        try:
            out["extracted"] = date.fromisoformat(found["extractionDate"].get("valueDate", ""))
        except (TypeError, ValueError):
            raise errors.invalid("extractionDate is a valueDate (YYYY-MM-DD)") from None
    return out
