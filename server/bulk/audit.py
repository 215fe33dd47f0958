"""The AuditEvent of a completed export: what left the platform, to whom and why.

The kick-off, every status request and every download are audited like any request
(``server/audit/recorder.py``); this event records the disclosure itself, in the unit of
work that marks the export complete, so that a completed export never lacks it. Like a
search's event (BALP's query), it names the requester (client, institution, asserted
user), the purpose, the kick-off's query (base64: it can carry a RUN in a
``_typeFilter``) and the basis of the access decisions the exported resources met
(``Progress.basis``; for a de-identified export the statistics policy); the job is an
entity (its id, ``https://fhir.amparo.cl/sid/exportacion``) whose details give the level,
the mode and how many resources of each type were written. It does not list the
resources one by one: an export can hold millions.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from server.audit.events import ENTITY_TYPE, OBJECT_ROLE, Interaction, audit_event
from server.bulk.job import State

__all__ = ["EXPORT_SYSTEM", "export_event"]

EXPORT_SYSTEM = "https://fhir.amparo.cl/sid/exportacion"


def export_event(state: State, recorded: str) -> dict:
    """The event of ``state``'s export, completed at ``recorded``."""
    who = state.principal
    query = urlsplit(state.request.request_url).query or None
    basis = state.progress.basis
    event = audit_event(Interaction("operation", query=query), recorded=recorded,
                        permitted=True, client_id=who["client_id"],
                        institution=who["institution"], user=who["user"],
                        purpose=who["purpose"], basis=basis)
    counts: dict[str, int] = {}
    for file in state.progress.files:
        counts[file.type] = counts.get(file.type, 0) + file.count
    details = [{"type": "nivel", "valueString": state.request.level},
               {"type": "modo", "valueString": "desidentificado"
                if state.request.deidentified else "identificado"},
               *({"type": type, "valueString": str(n)} for type, n in sorted(counts.items()))]
    if state.progress.basis_more:
        details.append({"type": "reglas-no-listadas",
                        "valueString": str(state.progress.basis_more)})
    event.setdefault("entity", []).insert(0, {
        "what": {"identifier": {"system": EXPORT_SYSTEM, "value": state.id}},
        "type": {"system": ENTITY_TYPE, "code": "2"},
        "role": {"system": OBJECT_ROLE, "code": "20", "display": "Job"},
        "name": "$export", "detail": details})
    return event
