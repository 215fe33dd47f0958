"""The NDJSON files of a job, one directory per job (``ExportConfig.job_directory``).

Each file holds resources of one type, one JSON object per line, at most
``ExportConfig.file_resources`` of them. A run of the worker (``worker.py``) only ever
appends to files it created itself, named ``<Type>-<run>-<n>.ndjson``: a run that takes
over a job after a crash starts new files rather than continuing the dead run's last
one, so two runs can never write into the same file, even if the dead one was only
stalled. What counts of a file is its committed length (``OutputFile.bytes``, recorded
with the page in the store): downloads serve exactly that many bytes, so whatever a
dead or stalled run wrote after its last commit is never served.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from server.bulk.job import OutputFile

__all__ = ["Parts", "clean", "committed", "finish", "intact", "remove"]

CHUNK = 64 * 1024


class Parts:
    """Appends lines to a job's files for one run (``attempt``), starting a new file
    for a new type and after ``per_file`` resources."""

    def __init__(self, directory: Path, files: tuple[OutputFile, ...], attempt: int,
                 per_file: int):
        self.directory = directory
        self.files = list(files)
        self.attempt = attempt
        self.per_file = per_file
        self._open: BinaryIO | None = None  # the last of ``files``, created by this run

    def write(self, type: str, lines: list[bytes]) -> None:
        """Append ``lines`` (each one resource's JSON, without its newline)."""
        while lines:
            last = self.files[-1] if self.files else None
            if self._open is None or last is None or last.type != type \
                    or last.count >= self.per_file:
                self._start(type)
                last = self.files[-1]
            batch, lines = lines[:self.per_file - last.count], lines[self.per_file - last.count:]
            data = b"\n".join(batch) + b"\n"
            self._open.write(data)
            self.files[-1] = replace(last, count=last.count + len(batch),
                                     bytes=last.bytes + len(data))

    def flush(self) -> None:
        """Hand what was written to the operating system (a killed process loses none
        of it), before the page is recorded as committed."""
        if self._open is not None:
            self._open.flush()

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None

    def _start(self, type: str) -> None:
        self.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{type}-{self.attempt}-{len(self.files) + 1}.ndjson"
        self._open = open(self.directory / name, "xb")  # noqa: SIM115 - kept open
        self.files.append(OutputFile(type, name))


def intact(directory: Path, files: tuple[OutputFile, ...]) -> bool:
    """Whether every committed file is there with at least its committed length (the
    disk can lose what a power cut caught unflushed; then the export starts again)."""
    for file in files:
        path = directory / file.name
        if not path.is_file() or path.stat().st_size < file.bytes:
            return False
    return True


def clean(directory: Path, files: tuple[OutputFile, ...]) -> None:
    """Remove the files a dead run started after its last commit (not in ``files``)."""
    names = {f.name for f in files}
    if directory.is_dir():
        for path in directory.iterdir():
            if path.name not in names:
                path.unlink(missing_ok=True)


def finish(directory: Path, files: tuple[OutputFile, ...]) -> None:
    """When the export completes: flush every file to disk. Nothing is cut or removed:
    a download serves a file's committed length whatever follows it, and a stalled run
    that lost its lease may still hold one of these files open."""
    for file in files:
        with open(directory / file.name, "rb") as handle:
            os.fsync(handle.fileno())


def committed(directory: Path, file: OutputFile) -> Iterator[bytes]:
    """The committed bytes of ``file``, a chunk at a time (a download streams them,
    never holding the file in memory). The file is opened now: ``FileNotFoundError``
    before the first byte, not halfway through a response."""
    handle = open(directory / file.name, "rb")  # noqa: SIM115 - closed by _chunks
    return _chunks(handle, file.bytes)


def _chunks(handle: BinaryIO, left: int) -> Iterator[bytes]:
    with handle:
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def remove(directory: Path) -> None:
    """Remove a job's directory and its files (cancelled, failed or expired)."""
    shutil.rmtree(directory, ignore_errors=True)
