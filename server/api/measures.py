"""``Measure/[id]/$evaluate-measure``: one of the guide's indicators over a period, as a
summary MeasureReport (https://hl7.org/fhir/R4B/measure-operation-evaluate-measure.html;
ours, ``OperationDefinition/Measure-evaluate-measure``, adds ``stratifier``).

GET with the parameters in the query, or POST with a ``Parameters`` body:

- ``periodStart``, ``periodEnd`` (required): whole months (``server/indicators/period.py``);
- ``reportType``: only ``population`` (the default): a report about one woman
  (``subject``) or listing them (``subject-list``) is exactly what indicators must never
  be, so those, ``subject`` and ``practitioner`` are 400 ``not-supported``;
- ``stratifier`` (ours, repeated or comma-separated): the stratifier codes of the Measure
  to report (default: all of them); one the Measure does not have is 400.

Who may call it: any authenticated client whose token allows reading Measure (``r``, as
for any operation on a type: ``server/auth/permissions.py``), whatever its purpose or
institution. The figures are computed over every record of the platform, not over what
the caller may read, because they are aggregates and nothing smaller than the threshold
leaves (``server/indicators/suppression.py``); survivors who declined statistics are not
in them. The request is audited like every other.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from server import errors
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.indicators.definitions import definitions
from server.indicators.evaluation import evaluate
from server.indicators.measures import measure_report
from server.indicators.period import PeriodError, parse_period

_SINGLE = ("periodStart", "periodEnd", "reportType")
_REFUSED = ("subject", "practitioner", "measure", "lastReceivedOn")
_NAME = "$evaluate-measure"


@route("GET", "Measure/:id/$evaluate-measure", None, "instance")
def evaluate_get(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    return _evaluate(ctx, id, _from_query(req))


@route("POST", "Measure/:id/$evaluate-measure", None, "instance")
def evaluate_post(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    return _evaluate(ctx, id, _from_query(req) + _from_body(ctx, req))


def _evaluate(ctx: Context, id: str, args: list[tuple[str, str]]) -> FhirResponse:
    measure = definitions().get(id)
    if measure is None:
        raise errors.not_found(f"Measure/{id[:64]} is not one of the indicators")
    inputs = _inputs(args)
    if inputs.get("reportType", "population") != "population":
        raise errors.not_supported("$evaluate-measure reports only populations "
                                   "(reportType=population): indicators never describe "
                                   "one woman or list them")
    for name in ("periodStart", "periodEnd"):
        if name not in inputs:
            raise errors.invalid(f"$evaluate-measure needs {name}")
    try:
        period = parse_period(inputs["periodStart"], inputs["periodEnd"])
    except PeriodError as error:
        raise errors.invalid(str(error)) from None
    k = ctx.settings.indicator_min_cell
    offered = {s for group in measure.groups for s in group.stratifiers}
    chosen = {s.strip() for text in inputs.get("stratifier", []) for s in text.split(",")}
    unknown = sorted(chosen - offered)
    if unknown:
        raise errors.invalid(f"Measure/{id} has no stratifier {', '.join(unknown)[:100]} "
                             f"(it has: {', '.join(sorted(offered)) or 'none'})")
    evaluation = evaluate(ctx.repo.store, period, datetime.now(UTC), k)
    report = measure_report(evaluation, measure, chosen or None)
    return FhirResponse(200, orjson.dumps(report))


def _inputs(args: list[tuple[str, str]]) -> dict:
    inputs: dict = {}
    for name, value in args:
        if name in _REFUSED:
            raise errors.not_supported(f"{_NAME} does not take '{name}' here: indicators "
                                       "are evaluated over the whole population")
        if name == "stratifier":
            inputs.setdefault(name, []).append(value)
        elif name in _SINGLE:
            if name in inputs:
                raise errors.invalid(f"{_NAME} takes '{name}' once")
            inputs[name] = value
        else:
            raise errors.not_supported(f"{_NAME} has no parameter '{name[:64]}'")
    return inputs


def _from_query(req: FhirRequest) -> list[tuple[str, str]]:
    return [(name, value) for name, value in req.params if not name.startswith("_")]


def _from_body(ctx: Context, req: FhirRequest) -> list[tuple[str, str]]:
    """The ``Parameters`` body's inputs, each a primitive (date, code or string)."""
    if not req.raw:
        return []
    body = req.resource(ctx.settings, "Parameters").resource
    found = []
    for i, parameter in enumerate(body.get("parameter", [])):
        values = [v for k, v in parameter.items() if k.startswith("value")]
        if len(values) != 1 or not isinstance(values[0], str):
            raise errors.invalid(f"{_NAME}: parameter '{parameter.get('name', '')[:64]}' "
                                 "needs one value (a date, code or string)",
                                 [f"Parameters.parameter[{i}]"])
        found.append((parameter["name"], values[0]))
    return found
