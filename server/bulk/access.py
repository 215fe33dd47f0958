"""Whose export it is: the status URL, its DELETE and the files answer only the client
that kicked the export off, with a token of the same purpose of use.

Why that rule: a client is registered for one institution (``amparo client create
--org``), so the same client means the same institution and the same system; the files
were selected, and for PUBHLTH de-identified, for the kick-off's purpose, so a token of
that client asked for another purpose (a TREAT token reading a PUBHLTH export, or the
reverse) gets nothing. The token itself cannot be required: an export outlives the
kick-off's token (600 s by default). Anyone else, another client of the same institution
included, gets 404, exactly as for a job that does not exist (job ids are random
UUIDs). The files also need, at download, a token whose scopes allow searching their
type (the Bulk Data IG: "scopes that cover all resources being exported").
"""

from __future__ import annotations

from server import errors
from server.access import Principal
from server.bulk.job import State, state_of
from server.store import Reader

__all__ = ["owned"]


def owned(reader: Reader, principal: Principal, id: str) -> State:
    """Job ``id`` when ``principal`` may see it (see the module docstring); 404 else."""
    job = reader.export_job(id)
    state = state_of(job) if job is not None else None
    if state is None or principal.client_id is None \
            or state.principal["client_id"] != principal.client_id \
            or state.principal["institution"] != principal.institution \
            or state.principal["purpose"] != principal.purpose:
        raise errors.not_found("no bulk export here")
    return state
