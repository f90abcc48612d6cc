"""What the sync engine tells its observer as it runs: the events a progress display or a log draws from.

Besides its own events, the engine passes on the client's (`pinaudience.pinterest.events`: requests,
retries, 429 waits, token refreshes). An observer is called from the event loop's thread, and with
`ReadProgress` from the thread that prepares the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pinaudience.engine.report import AudienceReport
from pinaudience.input.report import PrepareProgress
from pinaudience.pinterest.events import ClientEvent


@dataclass(frozen=True)
class PhaseStarted:
    """A step of one audience's sync began: reading, resolving, planning, uploading, finishing."""

    audience: str
    phase: str


@dataclass(frozen=True)
class ReadProgress:
    """Rows and bytes of the input read so far."""

    audience: str
    progress: PrepareProgress


@dataclass(frozen=True)
class UploadProgress:
    """Records and batches acknowledged by Pinterest so far, of the planned totals."""

    audience: str
    records_done: int
    records_total: int
    batches_done: int
    batches_total: int
    noun: str = "records"
    """What is counted: `records` of a customer list, or `events` of a conversion upload."""


@dataclass(frozen=True)
class AudienceDone:
    """One audience finished (well or not); its report is final."""

    audience: str
    report: AudienceReport


SyncEvent = PhaseStarted | ReadProgress | UploadProgress | AudienceDone | ClientEvent
SyncObserver = Callable[[SyncEvent], None]


def ignore(_: SyncEvent) -> None:
    """The observer of a run nobody watches."""
    return None
