"""A bulk export job as the store keeps it (``store.ExportJob``): who asked, what, and
how far the worker got, in its JSON ``body``.

Statuses: ``accepted`` (waiting for the worker), ``in-progress``, ``completed`` (files
downloadable until ``expires_us``), ``failed`` (nothing downloadable; the status request
answers an OperationOutcome). A cancelled job (DELETE) is removed, files and all.

``Progress`` is what the worker commits after each page it writes (``worker.py``): the
step it is in and the page cursor within it, the files written so far with the count
and the bytes of each that are committed (anything a crashed run wrote past them is
never served, and is cut off when the export completes), the rules of the access
decisions it met (for the audit event), and how many runs have started.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace

import orjson

from server.access import Principal
from server.bulk.request import ExportRequest
from server.store import ExportJob

__all__ = ["ACTIVE", "ACCEPTED", "COMPLETED", "FAILED", "IN_PROGRESS", "OutputFile",
           "Progress", "State", "new_job", "principal_of", "state_of"]

ACCEPTED, IN_PROGRESS, COMPLETED, FAILED = "accepted", "in-progress", "completed", "failed"
ACTIVE = (ACCEPTED, IN_PROGRESS)
#: Distinct access rules kept for the audit event; beyond them only their number.
MAX_BASIS = 256


@dataclass(frozen=True)
class OutputFile:
    """One NDJSON file: its resource type, name in the job's directory, how many
    resources and bytes of it are committed."""

    type: str
    name: str
    count: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Progress:
    step: int = 0
    cursor: tuple | None = None
    files: tuple[OutputFile, ...] = ()
    written: int = 0
    basis: tuple[str, ...] = ()
    basis_more: int = 0
    attempts: int = 0

    def with_basis(self, rules: tuple[str, ...]) -> Progress:
        """Note the rules behind a page's access decisions (at most ``MAX_BASIS``)."""
        known = set(self.basis)
        new = [r for r in dict.fromkeys(rules) if r not in known]
        room = max(MAX_BASIS - len(self.basis), 0)
        return replace(self, basis=(*self.basis, *new[:room]),
                       basis_more=self.basis_more + len(new[room:]))


@dataclass(frozen=True)
class State:
    """A job's body: its request, the principal it runs as (from the kick-off token),
    its progress, and why it failed (English, like every OperationOutcome here)."""

    id: str
    status: str
    created_us: int
    request: ExportRequest
    principal: dict
    progress: Progress = field(default_factory=Progress)
    expires_us: int = 0
    error: str | None = None

    def job(self) -> ExportJob:
        body = {"request": self.request.to_json(), "principal": self.principal,
                "progress": {**asdict(self.progress),
                             "cursor": list(self.progress.cursor)
                             if self.progress.cursor is not None else None},
                "error": self.error}
        return ExportJob(self.id, self.principal["client_id"], self.status, self.created_us,
                         self.expires_us, orjson.dumps(body))

    def runs_as(self) -> Principal:
        return principal_of(self.principal)


def new_job(request: ExportRequest, principal: Principal) -> State:
    """A job for ``request``, asked by ``principal`` (its token's client, institution,
    purpose, scopes and asserted user; never the token itself)."""
    return State(str(uuid.uuid4()), ACCEPTED, request.transaction_us, request,
                 {"client_id": principal.client_id, "institution": principal.institution,
                  "user": principal.user, "purpose": principal.purpose,
                  "scopes": sorted(principal.scopes)})


def state_of(job: ExportJob) -> State:
    body = orjson.loads(job.body)
    raw = body["progress"]
    progress = Progress(step=raw["step"],
                        cursor=tuple(raw["cursor"]) if raw["cursor"] is not None else None,
                        files=tuple(OutputFile(**f) for f in raw["files"]),
                        written=raw["written"], basis=tuple(raw["basis"]),
                        basis_more=raw["basis_more"], attempts=raw["attempts"])
    return State(job.id, job.status, job.created_us,
                 ExportRequest.from_json(body["request"]), body["principal"], progress,
                 job.expires_us, body.get("error"))


def principal_of(data: dict) -> Principal:
    """The ``Principal`` a job runs as: the kick-off's client, institution, purpose,
    scopes and user (break-the-glass never: such a kick-off is refused)."""
    return Principal(client_id=data["client_id"], institution=data["institution"],
                     user=data["user"], purpose=data["purpose"],
                     scopes=frozenset(data["scopes"]))
