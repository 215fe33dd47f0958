"""What an ``$export`` kick-off asked, as a plain value the job keeps (``job.py``) and
the worker plans from (``plan.py``); ``kickoff.py`` parses it from the request.

See https://hl7.org/fhir/uv/bulkdata/STU2/export.html#query-parameters
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SYSTEM, PATIENT, GROUP = "system", "patient", "group"


@dataclass(frozen=True)
class ExportRequest:
    """One kick-off: its ``level`` (``system``, ``patient`` or ``group``), the resource
    types exported in order, ``_since`` as sent (an instant) and its microseconds,
    ``_typeFilter`` queries by type (each a query string, the type's matches OR-ed),
    the Group's id and its members' Patient ids read at kick-off, whether the export is
    de-identified (the statistics purpose), the kick-off URL for the manifest, its
    ``transactionTime`` (text and microseconds: resources changed later are left out)
    and the parameters ignored under ``Prefer: handling=lenient``."""

    level: str
    types: tuple[str, ...]
    request_url: str
    transaction_time: str
    transaction_us: int
    since: str | None = None
    since_us: int | None = None
    type_filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    group: str | None = None
    members: tuple[str, ...] = ()
    deidentified: bool = False
    ignored: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ExportRequest:
        return cls(**{**data, "types": tuple(data["types"]),
                      "type_filters": {t: tuple(q) for t, q in data["type_filters"].items()},
                      "members": tuple(data["members"]), "ignored": tuple(data["ignored"])})
