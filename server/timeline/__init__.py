"""A survivor's timeline and a caseworker's summary of her case (issue 7).

- ``record``: her record, and one case's part of it, read as the caller may see it
  (the consent gate and the token's scopes);
- ``dates``: the date each record is about, from ``clinical-dates.json``;
- ``window``: the timeline, oldest first, narrowed to a window of dates and types;
- ``summary``: the case on one screen, as a ``Parameters`` resource.

The HTTP operations are ``server/api/everything.py`` (``$everything``) and
``server/api/case_summary.py`` (``$summary``).
"""

from .dates import clinical_date, timeline_date
from .record import (
    MAX_RECORDS,
    Entry,
    Record,
    case_part,
    case_record,
    entry,
    her_record,
    readable_types,
)
from .summary import case_summary
from .window import Window, timeline

__all__ = ["MAX_RECORDS", "Entry", "Record", "Window", "case_part", "case_record", "case_summary",
           "clinical_date", "entry", "her_record", "readable_types", "timeline",
           "timeline_date"]
