"""Bulk Data Access: ``$export`` kick-off at the system, Patient and Group levels, and
its status URL (GET: progress or manifest; DELETE: cancel). The files are served by
``bulk_files.py``; the work is done in the background by ``server/bulk/worker.py``.
See https://hl7.org/fhir/uv/bulkdata/STU2/export.html

Kick-off (GET ``[base]/$export``, ``[base]/Patient/$export``,
``[base]/Group/[id]/$export``) needs ``Prefer: respond-async`` and answers 202 with
``Content-Location: [base]/bulk-export/[job]``, having stored the job; its parameters
are read by ``server/bulk/kickoff.py`` (400 or 403 for what cannot be honoured, nothing
stored). Who gets what:

- a token of the statistics purpose (``server/analytics/statistics-export.json``,
  PUBHLTH) gets the de-identified export, and only it, if its institution's kind is one
  the policy names (403 otherwise); never at the Group level nor with ``_typeFilter``
  (403: either would let it pick out chosen survivors);
- a break-the-glass token gets no export (403): it is for one woman at imminent risk;
- any other token gets exactly what its institution could search, through the consent
  gate; a Group export needs the Group to be readable by it (404 like a missing one).

At most ``MAX_ACTIVE`` exports of one client run at once: one more is 429 with
``Retry-After``, as the IG suggests. An R4 client (``fhirVersion=4.0``) is refused with
406: the files are R4B. Each kick-off is audited like any request; the completed export
writes its own AuditEvent (``server/bulk/audit.py``).
"""

from __future__ import annotations

from urllib.parse import urlencode

import orjson

import consent
from server import clock, errors
from server.access import Principal
from server.analytics.policy import statistics_policy
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.api.versions import R4
from server.auth.scopes import allows
from server.bulk.access import owned
from server.bulk.config import ExportConfig
from server.bulk.files import remove
from server.bulk.job import ACTIVE, new_job
from server.bulk.kickoff import parse_prefer, read_request
from server.bulk.manifest import RETRY_AFTER, status
from server.bulk.request import GROUP, PATIENT, SYSTEM
from server.store import StoredVersion

MAX_ACTIVE = 3
STATUS_PATH = "bulk-export"


@route("GET", "$export", None, "system")
def export_system(ctx: Context, req: FhirRequest) -> FhirResponse:
    return _kick_off(ctx, req, SYSTEM)


@route("GET", "Patient/$export", None, "type")
def export_patients(ctx: Context, req: FhirRequest) -> FhirResponse:
    return _kick_off(ctx, req, PATIENT)


@route("GET", "Group/:id/$export", None, "instance")
def export_group(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    return _kick_off(ctx, req, GROUP, id)


@route("GET", f"{STATUS_PATH}/:id", None, "system")
def export_status(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    _alone(req)
    code, manifest, headers = status(owned(ctx.repo.store, ctx.principal, id), ctx.base_url)
    return FhirResponse(code, manifest, headers)


@route("DELETE", f"{STATUS_PATH}/:id", None, "system")
def export_cancel(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    """Cancel a running export, or discard a finished one: the job and its files go,
    and the status URL answers 404 from now on."""
    _alone(req)
    store = ctx.repo.store
    owned(store, ctx.principal, id)
    with store.unit_of_work() as uow:
        uow.delete_export_job(id)
        uow.commit()
    remove(_config(ctx).job_directory(id))
    return FhirResponse(202, None)


def _kick_off(ctx: Context, req: FhirRequest, level: str,
              group: str | None = None) -> FhirResponse:
    _alone(req)
    if ctx.version == R4:
        raise errors.not_acceptable("bulk exports are FHIR 4.3.0 (R4B): ask without "
                                    "fhirVersion=4.0")
    respond_async, lenient = parse_prefer(req.header("prefer"))
    if not respond_async:
        raise errors.invalid("$export is asynchronous: send Prefer: respond-async")
    principal = ctx.principal
    deidentified = _mode(ctx, principal, level)
    members, read = (), None
    if level == GROUP:
        read = ctx.repo.read(principal, "Group", group)  # hidden or missing: 404
        members = _members(read)
    request = read_request(
        req.params, level=level, request_url=_url(ctx, req), transaction=clock.now(),
        searchable=lambda type: allows(principal.scopes, type, "s"),
        exportable=statistics_policy().types if deidentified else None,
        deidentified=deidentified, lenient=lenient, group=group, members=members)
    store = ctx.repo.store
    if len(store.export_jobs(ACTIVE, client_id=principal.client_id,
                             limit=MAX_ACTIVE)) >= MAX_ACTIVE:
        raise errors.FhirError(429, "throttled", f"this client already has {MAX_ACTIVE} "
                               "exports running; wait for one to finish or cancel one",
                               headers={"Retry-After": RETRY_AFTER})
    job = new_job(request, principal)
    with store.unit_of_work() as uow:
        uow.save_export_job(job.job())
        uow.commit()
    location = f"{ctx.base_url}/{STATUS_PATH}/{job.id}"
    return FhirResponse(202, None, {"Content-Location": location}, version=read)


def _mode(ctx: Context, principal: Principal, level: str) -> bool:
    """Whether the export is de-identified (see the module docstring); 403 for a
    principal that may have no export at this level."""
    if principal.purpose == consent.BREAK_GLASS:
        raise errors.FhirError(403, "forbidden", "break-the-glass access is for one woman at "
                               "imminent risk, never a bulk export")
    policy = statistics_policy()
    if not policy.applies_to(principal.purpose):
        return False
    kind = ctx.repo.gate.kind_of(principal.institution) if principal.institution else None
    if not policy.grants(kind):
        raise errors.FhirError(403, "forbidden", "this institution may not obtain the "
                               "de-identified statistics export")
    if level == GROUP:
        raise errors.FhirError(403, "forbidden", "a de-identified export covers every "
                               "survivor: it is not available for a Group")
    return True


def _members(group: StoredVersion) -> tuple[str, ...]:
    """The ids of the Group's active Patient members."""
    out = []
    for member in orjson.loads(group.body).get("member") or ():
        ref = ((member or {}).get("entity") or {}).get("reference")
        if isinstance(ref, str) and ref.startswith("Patient/") and not member.get("inactive"):
            out.append(ref.split("/")[1])
    return tuple(dict.fromkeys(out))


def _url(ctx: Context, req: FhirRequest) -> str:
    query = urlencode(req.params, safe=",")
    return f"{ctx.base_url}/{req.path}" + (f"?{query}" if query else "")


def _alone(req: FhirRequest) -> None:
    """A bundle entry arrives with its resource already parsed (None for a GET without
    one): the asynchronous pattern has no place inside a batch or a transaction."""
    if req.parsed is None or isinstance(req.parsed, dict):
        raise errors.invalid("bulk export requests are sent alone, not in a bundle")


def _config(ctx: Context) -> ExportConfig:
    return ExportConfig.from_env(ctx.settings.store)
