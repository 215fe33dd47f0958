"""One run of one export in a worker (``worker.py``): where it stands, its source of
pages, its files. A run begins when a worker takes a job up, first or after another
run died (then it resumes: same steps, from the committed page on, into new files),
and writes one page per ``advance``.

A de-identified export never resumes: its pseudonym key lives only in the memory of
the run that drew it (it is never stored), so a new run starts over with a new key
and its files replace the dead run's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from server.analytics.deidentify import Deidentifier
from server.analytics.policy import statistics_policy
from server.analytics.statistics_consent import decliners
from server.bulk.config import ExportConfig
from server.bulk.files import Parts, clean, intact, remove
from server.bulk.job import IN_PROGRESS, Progress, State
from server.bulk.plan import Step, steps
from server.bulk.reading import Deidentified, Identified, Page
from server.repository import Repository

__all__ = ["Run", "begin", "resumed"]


@dataclass
class Run:
    """A job being written by this process while its lease holds with ``token``."""

    state: State
    token: int
    steps: list[Step]
    source: Identified | Deidentified
    parts: Parts

    @property
    def done(self) -> bool:
        return self.state.progress.step >= len(self.steps)

    def advance(self) -> Progress:
        """Write the next page of the current step to the files and hand it to the
        operating system; the progress to commit for it."""
        progress = self.state.progress
        step = self.steps[progress.step]
        page: Page = self.source.page(step, progress.cursor)
        self.parts.write(step.type, page.lines)
        self.parts.flush()
        following = (progress.step + 1, None) if page.cursor is None \
            else (progress.step, page.cursor)
        return replace(progress.with_basis(page.rules), step=following[0],
                       cursor=following[1], files=tuple(self.parts.files),
                       written=progress.written + len(page.lines))

    def close(self) -> None:
        self.parts.close()


def resumed(state: State, config: ExportConfig) -> State:
    """The state a new run of ``state`` commits before it writes anything: in progress,
    its attempt counted, and its progress reset when it must start over (de-identified,
    or its files lost what was committed)."""
    progress = state.progress
    if state.request.deidentified or not intact(config.job_directory(state.id),
                                                progress.files):
        progress = Progress(attempts=progress.attempts)
    return replace(state, status=IN_PROGRESS,
                   progress=replace(progress, attempts=progress.attempts + 1))


def begin(state: State, token: int, repo: Repository, config: ExportConfig) -> Run:
    """The run of ``state`` as ``resumed`` made it and its lease's holder committed it:
    the files of the runs before removed when it starts over, else those a dead run
    started after its last commit."""
    directory = config.job_directory(state.id)
    if state.progress.files:
        clean(directory, state.progress.files)
    else:
        remove(directory)
    request = state.request
    if request.deidentified:
        source = Deidentified(repo.store, Deidentifier(statistics_policy(), os.urandom(32)),
                              decliners(repo.store, datetime.now(UTC)),
                              request.transaction_us, config.page_size)
    else:
        source = Identified(repo, state.runs_as(), request.transaction_us, config.page_size)
    return Run(state, token, steps(request), source,
               Parts(directory, state.progress.files, state.progress.attempts,
                     config.file_resources))
