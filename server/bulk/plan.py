"""An export as a list of steps: each one search, keyset-paged, whose matches go to its
type's files. The same request always gives the same steps, so a worker that resumes a
job finds its place by the step's index and the page cursor it recorded.

- A system export searches each type whole; a Patient export searches each type of a
  survivor's record for the resources that name a survivor (``patient:missing=false``;
  every Patient); a Group export searches them for its members, 100 at a time
  (``patient=Patient/a,Patient/b...``; the Patients by ``_id``).
- ``_since`` adds ``_lastUpdated=gt<since>``; ``transactionTime`` is applied to each
  match by the worker (changed later: left out).
- A type with ``_typeFilter`` queries gets one step per query (and member batch), each
  AND-ed with the above. Their matches are OR-ed without repeats: a resource of a later
  query that an earlier one of the same batch also matches was written already, and
  ``Step.earlier`` lists those queries so that the worker skips it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from server.bulk.request import GROUP, PATIENT, ExportRequest
from server.search.parse import parse_condition, parse_search
from server.search.query import Condition

__all__ = ["MEMBERS_PER_STEP", "Step", "steps"]

MEMBERS_PER_STEP = 100


@dataclass(frozen=True)
class Step:
    """One search of ``type``: ``conditions`` AND-ed; ``earlier`` the conditions of the
    same type's earlier ``_typeFilter`` queries over the same resources."""

    type: str
    conditions: tuple[Condition, ...]
    earlier: tuple[tuple[Condition, ...], ...] = ()


def steps(request: ExportRequest) -> list[Step]:
    """Every step of ``request``, in order (type by type)."""
    out: list[Step] = []
    for type in request.types:
        filters = [parse_search(type, parse_qsl(q, keep_blank_values=True),
                                strict=True).query.conditions
                   for q in request.type_filters.get(type, ())] or [()]
        for scope in _scopes(request, type):
            if request.since is not None:
                scope = (*scope, parse_condition(type, "_lastUpdated", f"gt{request.since}"))
            queries = [(*scope, *filter) for filter in filters]
            out += [Step(type, query, tuple(queries[:i])) for i, query in enumerate(queries)]
    return out


def _scopes(request: ExportRequest, type: str) -> list[tuple[Condition, ...]]:
    """The level's conditions on ``type``: one tuple per step (a Group's member batch)."""
    if request.level == PATIENT:
        return [()] if type == "Patient" else \
            [(parse_condition(type, "patient:missing", "false"),)]
    if request.level != GROUP:
        return [()]
    scopes = []
    for start in range(0, len(request.members), MEMBERS_PER_STEP):
        batch = request.members[start:start + MEMBERS_PER_STEP]
        if type == "Patient":
            scopes.append((Condition("_id", "id", tuple(batch)),))
        else:
            scopes.append((parse_condition(type, "patient",
                                           ",".join(f"Patient/{m}" for m in batch)),))
    return scopes
