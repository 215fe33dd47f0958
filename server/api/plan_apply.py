"""``PlanDefinition/$apply``: the CasePlan of a survivor made from the minimum service
package, at her intake, whichever institution she came to first.

``PlanDefinition/[id]/$apply`` applies the stored package (``amparo init`` stores it as
``PlanDefinition/paquete-minimo``); ``PlanDefinition/$apply`` applies the
``planDefinition`` given in the body, else that same stored package (R4B requires the
parameter at type level: a default spares every partner system from naming it). What is
applied must be a MinimumServicePackage, and only the platform's own package may carry
its canonical URL (422 otherwise). Inputs, in a ``Parameters``
body (POST) or the query (GET): ``subject`` (1..1 here: ``Patient/<id>``), ``encounter``
(one of hers), ``practitioner`` (who applies it, a contributor of the plan),
``organization`` (only the caller's own institution); R4B's ``userType``,
``userLanguage``, ``userTaskContext``, ``setting`` and ``settingContext`` change nothing.

She is read as the caller may read her: hidden or missing is the same 404. The plan
names her open case (``server.cases.open_case``, found as the platform finds it when
it links a record); with no open case the answer is 422: her first contact (an
Encounter) opens it. The answer is the CarePlan itself, not stored (R4B: the output
``return``): the client creates it with a plain POST, for instance with
``If-None-Exist: caso=EpisodeOfCare/<id>`` so that a second intake does not make a
second plan; the write rule of ``server/plans/activities.py`` then keeps each service's
state. See: https://hl7.org/fhir/R4B/plandefinition-operation-apply.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from server import clock, errors
from server.access import ANONYMOUS
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.cases import open_case
from server.plans import PACKAGE_ID, PACKAGE_URL, case_plan, check_package
from server.repository import Write

#: the reference each input takes (``Type/id``, relative or under this server's base)
TARGETS = {"subject": ("Patient",), "encounter": ("Encounter",),
           "practitioner": ("PractitionerRole", "Practitioner"),
           "organization": ("Organization",)}
IGNORED = frozenset({"userType", "userLanguage", "userTaskContext", "setting",
                     "settingContext"})
REFERENCE = re.compile(r"([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")


@dataclass
class Inputs:
    references: dict[str, str]  # input name -> ``Type/id``
    definition: dict | None = None  # ``planDefinition``, at type level
    where: str = "PlanDefinition"  # where the definition came from, for its problems


@route("POST", "PlanDefinition/$apply", None, "type")
@route("GET", "PlanDefinition/$apply", None, "type")
@route("POST", "PlanDefinition/:id/$apply", None, "instance")
@route("GET", "PlanDefinition/:id/$apply", None, "instance")
def apply(ctx: Context, req: FhirRequest, id: str | None = None) -> FhirResponse:
    given = _inputs(ctx, req)
    if given.definition is not None and id is not None:
        raise errors.invalid("planDefinition se da solo en PlanDefinition/$apply, no al "
                             "aplicar una definición guardada")
    subject = given.references.get("subject")
    if subject is None:
        raise errors.invalid("$apply necesita el parámetro 'subject' (Patient/<id>)")
    package = _package(ctx, given, id)
    ctx.repo.read(ctx.principal, "Patient", subject.split("/")[1], ctx.reader)  # 404 hidden
    encounter = given.references.get("encounter")
    if encounter is not None:
        _check_encounter(ctx, encounter, subject)
    institution = ctx.principal.institution
    if given.references.get("organization", institution) != institution:
        raise errors.FhirError(403, "forbidden", "una institución aplica el paquete solo "
                               "en su propio nombre (organization)")
    # $apply writes nothing: her case is read from the store (or the transaction's unit)
    # as the platform reads it when it links a record, without taking the writer
    at = clock.now()
    case = open_case(ctx.repo, Write(ctx.reader or ctx.repo.store, ANONYMOUS, at), subject)
    if case is None:
        raise errors.FhirError(422, "business-rule", "la sobreviviente no tiene un caso "
                               "abierto: registre primero su contacto con la institución "
                               "(Encounter), que lo abre", ["Parameters.parameter"])
    plan = case_plan(package, subject, case, at[0], author=institution, encounter=encounter,
                     practitioner=given.references.get("practitioner"))
    return FhirResponse(200, orjson.dumps(plan))


def _inputs(ctx: Context, req: FhirRequest) -> Inputs:
    """The references and the definition, from the query (GET) or a Parameters body."""
    given = Inputs({})
    if req.method == "GET":
        for name, value in req.params:
            if not name.startswith("_"):
                _take(ctx, given, name, value, [name])
        return given
    if req.params and any(not name.startswith("_") for name, _ in req.params):
        raise errors.FhirError(400, "not-supported",
                               "$apply por POST recibe sus parámetros en un Parameters")
    body = req.json(ctx.settings)
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise errors.invalid("$apply por POST necesita un Parameters")
    parameters = body.get("parameter")
    for i, parameter in enumerate(parameters if isinstance(parameters, list) else [None]):
        where = [f"Parameters.parameter[{i}]"]
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if name == "planDefinition" and isinstance(parameter.get("resource"), dict) \
                and given.definition is None:
            given.definition, given.where = parameter["resource"], f"{where[0]}.resource"
            continue
        value = parameter.get("valueString") if isinstance(parameter, dict) else None
        if value is None and isinstance(parameter, dict) \
                and isinstance(parameter.get("valueReference"), dict):
            value = parameter["valueReference"].get("reference")
        if not isinstance(name, str) or not isinstance(value, str):
            raise errors.invalid("un parámetro de $apply es 'planDefinition' (un "
                                 "PlanDefinition) o 'subject', 'encounter', "
                                 "'practitioner', 'organization' (valueString o "
                                 "valueReference)", where)
        _take(ctx, given, name, value, where)
    return given


def _take(ctx: Context, given: Inputs, name: str, value: str, where: list[str]) -> None:
    """Record one input reference, checked against its target types."""
    if name in IGNORED:
        return
    targets = TARGETS.get(name)
    if targets is None:
        raise errors.invalid(f"$apply no tiene el parámetro '{name[:64]}'", where)
    if name in given.references:
        raise errors.FhirError(400, "not-supported", f"$apply recibe un solo '{name}'")
    found = REFERENCE.fullmatch(value.removeprefix(f"{ctx.base_url}/"))
    if found is None or found.group(1) not in targets:
        raise errors.invalid(f"'{name}' es una referencia a {' o '.join(targets)} "
                             f"({targets[0]}/<id>)", where)
    given.references[name] = found.group(0)


def _package(ctx: Context, given: Inputs, id: str | None) -> dict:
    """What to apply: the given definition, else the stored one (404 if unknown); a
    MinimumServicePackage (422), and under the package's canonical URL only the
    platform's own (422: a copy with other services would make plans that claim to
    instantiate the minimum package and offer less)."""
    stored = PACKAGE_ID if given.definition is None and id is None else id
    package = given.definition or _read(ctx, stored)
    check_package(package, given.where)
    if package.get("url") == PACKAGE_URL and stored != PACKAGE_ID \
            and package.get("action") != _read(ctx, PACKAGE_ID).get("action"):
        raise errors.FhirError(422, "business-rule", f"la URL canónica {PACKAGE_URL} es "
                               "la del paquete mínimo de la plataforma (PlanDefinition/"
                               f"{PACKAGE_ID}); otra definición no la usa", [given.where])
    return package


def _read(ctx: Context, id: str) -> dict:
    return orjson.loads(ctx.repo.read(ctx.principal, "PlanDefinition", id, ctx.reader).body)


def _check_encounter(ctx: Context, encounter: str, subject: str) -> None:
    """The encounter is one the caller may read, and hers (404, else 422)."""
    found = orjson.loads(ctx.repo.read(ctx.principal, "Encounter", encounter.split("/")[1],
                                       ctx.reader).body)
    if (found.get("subject") or {}).get("reference") != subject:
        raise errors.FhirError(422, "business-rule", f"{encounter} no es un contacto de "
                               f"{subject}", ["Parameters.parameter"])
