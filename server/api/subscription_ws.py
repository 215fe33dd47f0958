"""``Subscription/[id]/$get-ws-binding-token`` and ``Subscription/$get-ws-binding-token``
(Subscriptions Backport IG): a short-lived token that binds a websocket connection to
websocket subscriptions, and the URL to connect to (``server/subscriptions/websocket.py``).

See: https://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition-backport-subscription-get-ws-binding-token.html

Each subscription is read like a read (hidden is 404, like missing; deleted 410) and
must have the ``websocket`` channel (422). At the type level the ``id`` parameters
(query, or a ``Parameters`` body on POST) name them; without any the request fails
(the definition allows that). Needs ``r`` on Subscription. The answer's ``Parameters``:
``token``, ``expiration``, ``subscription`` (``Subscription/<id>``, one per
subscription) and ``websocket-url``.
"""

from __future__ import annotations

import orjson
from flask import current_app

from server import errors
from server.api.router import ID, Context, FhirRequest, FhirResponse, route
from server.subscriptions import websocket
from server.subscriptions.subscription import spec

_ID_VALUES = ("valueId", "valueString")


@route("GET", "Subscription/$get-ws-binding-token", None, "type")
@route("POST", "Subscription/$get-ws-binding-token", None, "type")
@route("GET", "Subscription/:id/$get-ws-binding-token", None, "instance")
@route("POST", "Subscription/:id/$get-ws-binding-token", None, "instance")
def binding_token(ctx: Context, req: FhirRequest, id: str | None = None) -> FhirResponse:
    named = _ids(ctx, req)
    ids = named if id is None else [id]  # at the instance level ``id`` is ignored
    if not ids:
        raise errors.invalid("Indique con 'id' las suscripciones websocket a enlazar.")
    for each in ids:
        _websocket_subscription(ctx, each)
    url = websocket.public_url(ctx.base_url)
    if url is None:
        raise errors.not_supported("Este servidor no tiene el canal websocket activo "
                                   "(AMPARO_WS_PORT o AMPARO_WS_URL).")
    ring = current_app.extensions["amparo"].auth.ring
    token, expires = websocket.issue(ring, ctx.base_url, ctx.principal, ids)
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": [
        {"name": "token", "valueString": token},
        {"name": "expiration", "valueDateTime": websocket.expiration(expires)},
        *({"name": "subscription", "valueString": f"Subscription/{each}"} for each in ids),
        {"name": "websocket-url", "valueUrl": url}]})


def _websocket_subscription(ctx: Context, id: str) -> None:
    sub = spec(orjson.loads(ctx.repo.read(ctx.principal, "Subscription", id,
                                          ctx.reader).body))
    if sub.channel != "websocket":
        raise errors.unprocessable(f"Subscription/{id} no usa el canal websocket.",
                                   ["Subscription.channel.type"])


def _ids(ctx: Context, req: FhirRequest) -> list[str]:
    """The ``id`` parameters, in order, once each; 400 for any other parameter."""
    found: list[str] = []
    for name, value in req.params:
        if name == "id":
            found.append(value)
        elif name not in ("_format", "_pretty"):
            raise errors.invalid(f"$get-ws-binding-token no tiene el parámetro "
                                 f"{name[:64]!r}.")
    if req.method == "POST" and req.raw:
        body = req.resource(ctx.settings, "Parameters").resource
        for i, parameter in enumerate(body.get("parameter", [])):
            values = [parameter[k] for k in _ID_VALUES if k in parameter]
            if parameter.get("name") != "id" or len(values) != 1:
                raise errors.invalid("$get-ws-binding-token solo recibe parámetros 'id' "
                                     "(valueId).", [f"Parameters.parameter[{i}]"])
            found.append(values[0])
    ids = list(dict.fromkeys(found))
    if len(ids) > websocket.MAX_SUBSCRIPTIONS:
        raise errors.invalid(f"Un token enlaza a lo más {websocket.MAX_SUBSCRIPTIONS} "
                             "suscripciones.")
    for each in ids:
        if not isinstance(each, str) or not ID.fullmatch(each):
            raise errors.invalid(f"{str(each)[:64]!r} no es un id válido.")
    return ids
