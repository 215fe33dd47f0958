"""Where bulk exports write their files and how long they keep them (environment, with
safe defaults; documented in the README).

- ``AMPARO_EXPORT_DIR``: the directory of the export files, one subdirectory per job.
  Every server process, on every machine, must see the same directory (status, files
  and DELETE may reach any process): beside a SQLite file by default
  (``<file>.exports``), else ``var/exports``.
- ``AMPARO_EXPORT_TTL``: seconds a completed export's files stay downloadable (its
  ``Expires``); then the worker removes them and the job (default a day).
- ``AMPARO_EXPORT_FILE_RESOURCES``: resources per NDJSON file before the next part
  starts (default 100,000, the Bulk Data IG's example).
- ``AMPARO_EXPORT_PAGE_SIZE``: resources read, written and committed at a time
  (default 1,000): what a crash can make the next run redo, and about what the export
  holds in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TTL = 24 * 3600
DEFAULT_FILE_RESOURCES = 100_000
DEFAULT_PAGE_SIZE = 1000


@dataclass(frozen=True)
class ExportConfig:
    directory: Path
    ttl_seconds: int = DEFAULT_TTL
    file_resources: int = DEFAULT_FILE_RESOURCES
    page_size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_env(cls, store_url: str) -> ExportConfig:
        """The configuration of the exports of the store at ``store_url``."""
        directory = os.environ.get("AMPARO_EXPORT_DIR")
        if not directory:
            directory = (store_url.removeprefix("sqlite:///") + ".exports"
                         if store_url.startswith("sqlite:///") else "var/exports")
        return cls(Path(directory), _positive("AMPARO_EXPORT_TTL", DEFAULT_TTL),
                   _positive("AMPARO_EXPORT_FILE_RESOURCES", DEFAULT_FILE_RESOURCES),
                   _positive("AMPARO_EXPORT_PAGE_SIZE", DEFAULT_PAGE_SIZE))

    def job_directory(self, job_id: str) -> Path:
        return self.directory / job_id


def _positive(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise SystemExit(f"{name} must be a positive integer, got {value!r}")
    return number
