"""Showing a sync as it runs: rich progress bars on a terminal, plain (or JSON) log lines otherwise.

Both displays are observers of the sync engine (`pinaudience.engine.events.SyncEvent`, which includes the
client's events): they are called from the event loop's thread, and with `ReadProgress` from the
thread that prepares the file, so each guards its state with a lock. Both take their clock from
outside (and the rich one its console), so tests drive them with a `FakeClock` and a string buffer.

A long run always shows it is alive: rich redraws a spinner and the elapsed time several times a
second; the log display writes a heartbeat line when nothing was logged for `heartbeat_s`, which a
`Ticker` thread checks once a second (a 429 wait or the planning of a large file sends no event).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pinaudience.clock import Clock
from pinaudience.engine.events import AudienceDone, PhaseStarted, ReadProgress, SyncEvent, UploadProgress
from pinaudience.pinterest.events import RateLimitHit, RetryScheduled, TokenRefreshed

log = logging.getLogger("pinaudience.progress")

PHASE_WORDS = {
    "reading": "reading and preparing the file",
    "resolving": "finding the list and audience",
    "planning": "planning adds and removes",
    "uploading": "uploading",
    "finishing": "compacting the state and reading the audience",
}


class Display(Protocol):
    """What a sync command hands to the engine as its observer, and ticks while it runs."""

    def __call__(self, event: SyncEvent) -> None: ...

    def tick(self) -> None:
        """Called about once a second from a timer thread: the chance to show the run is alive."""
        ...

    def __enter__(self) -> Display: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class _Counters:
    """Retries and 429s of the audience under way (the client's events do not name the audience)."""

    def __init__(self) -> None:
        self.retries = 0
        self.rate_limited = 0
        self.refreshes = 0

    def text(self) -> str:
        parts = []
        if self.retries:
            parts.append(f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}")
        if self.rate_limited:
            parts.append(f"{self.rate_limited}× 429")
        return ", ".join(parts)


# --- rich, on a terminal ----------------------------------------------------------------------------


class _RateColumn(ProgressColumn):
    """The windowed speed of the task, in the unit the task says (rows/s while reading, records/s uploading)."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit")
        speed = task.speed
        if not unit or speed is None:
            return Text("")
        return Text(f"{speed * float(task.fields.get('scale', 1.0)):,.0f} {unit}/s", style="cyan")


class RichDisplay:
    """Progress bars on `console`: one line per phase of each audience, with counts, rate, ETA and retries."""

    def __init__(self, console: Console, *, clock: Clock, auto_refresh: bool = True) -> None:
        self.console = console
        self.clock = clock
        self.progress = Progress(
            SpinnerColumn(finished_text=" "),
            TextColumn("{task.description}"),
            BarColumn(bar_width=28),
            TaskProgressColumn(),
            TextColumn("{task.fields[counts]}"),
            _RateColumn(),
            TimeRemainingColumn(compact=True),
            TimeElapsedColumn(),
            TextColumn("[yellow]{task.fields[extra]}"),
            console=console,
            auto_refresh=auto_refresh,
            get_time=clock.monotonic,
            speed_estimate_period=20.0,
        )
        self._lock = threading.Lock()
        self._task: TaskID | None = None
        self._audience = ""
        self._phase = ""
        self._counters = _Counters()

    def __enter__(self) -> RichDisplay:
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._finish_task()
        self.progress.stop()

    def tick(self) -> None:
        return None  # rich's own refresh thread redraws the spinner and elapsed time

    def refresh(self) -> None:
        self.progress.refresh()

    def _finish_task(self) -> None:
        if self._task is not None:
            task = next((t for t in self.progress.tasks if t.id == self._task), None)
            if task is not None and not task.finished:
                total = task.total if task.total is not None else 1.0
                self.progress.update(self._task, total=total, completed=total)
                self.progress.stop_task(self._task)

    def __call__(self, event: SyncEvent) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, event: SyncEvent) -> None:
        if isinstance(event, PhaseStarted):
            self._finish_task()
            if event.audience != self._audience:
                self._audience = event.audience
                self._counters = _Counters()
            self._phase = event.phase
            self._task = self.progress.add_task(
                f"{event.audience}: {PHASE_WORDS.get(event.phase, event.phase)}",
                total=None,
                counts="",
                extra=self._counters.text(),
                unit="",
                scale=1.0,
            )
        elif isinstance(event, ReadProgress) and self._task is not None and self._phase == "reading":
            p = event.progress
            scale = p.rows_read / p.bytes_read if p.bytes_read else 0.0
            self.progress.update(
                self._task,
                total=p.total_bytes or None,
                completed=p.bytes_read,
                counts=f"{p.rows_read:,} rows",
                unit="rows",
                scale=scale,
            )
        elif isinstance(event, UploadProgress) and self._task is not None and self._phase == "uploading":
            self.progress.update(
                self._task,
                total=max(event.records_total, 1),
                completed=event.records_done,
                counts=f"{event.records_done:,}/{event.records_total:,} {event.noun}, "
                f"{event.batches_done:,}/{event.batches_total:,} batches",
                unit=event.noun,
            )
        elif isinstance(event, RetryScheduled | RateLimitHit):
            if isinstance(event, RetryScheduled):
                self._counters.retries += 1
            else:
                self._counters.rate_limited += 1
            if self._task is not None:
                self.progress.update(self._task, extra=self._counters.text())
        elif isinstance(event, AudienceDone):
            self._finish_task()
            self._task = None
            report = event.report
            if report.status == "ok":
                what = "dry run" if report.dry_run else "done"
                line = (
                    f"[green]✓[/] {event.audience}: {what}: +{report.added:,} −{report.removed:,} "
                    f"(planned +{report.planned_adds:,} −{report.planned_removes:,})"
                )
            else:
                kind = report.error.kind if report.error else "error"
                line = f"[red]✗[/] {event.audience}: {kind}"
            self.progress.console.print(line, highlight=False)


# --- log lines, anywhere else -------------------------------------------------------------------------


class LogDisplay:
    """Progress as log lines through `logging` (plain or JSON, as the handler formats them).

    Phase changes and retries are logged by the engine and the client themselves; this adds read and
    upload progress at most every `interval_s` per phase (and the last step always), a line per finished
    audience, and a heartbeat after `heartbeat_s` of silence.
    """

    def __init__(self, *, clock: Clock, interval_s: float = 15.0, heartbeat_s: float = 60.0) -> None:
        self.clock = clock
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s
        self._lock = threading.Lock()
        self._last_line = clock.monotonic()
        self._last_progress = float("-inf")
        self._phase_started = clock.monotonic()
        self._audience = ""
        self._phase = "starting"
        self._latest = ""
        self._last_read = (-1, -1)
        self._counters = _Counters()

    def __enter__(self) -> LogDisplay:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def _emit(self, message: str, **fields: object) -> None:
        log.info(message, extra={"fields": fields})
        self._last_line = self.clock.monotonic()

    def __call__(self, event: SyncEvent) -> None:
        with self._lock:
            self._handle(event)

    def _due(self, final: bool) -> bool:
        now = self.clock.monotonic()
        if final or now - self._last_progress >= self.interval_s:
            self._last_progress = now
            return True
        return False

    def _handle(self, event: SyncEvent) -> None:
        now = self.clock.monotonic()
        if isinstance(event, PhaseStarted):
            if event.audience != self._audience:
                self._counters = _Counters()
            self._audience, self._phase = event.audience, event.phase
            self._phase_started = now
            self._last_progress = now  # the engine logs the phase itself; the first progress line waits
            self._last_line = now
            self._latest = ""
        elif isinstance(event, ReadProgress):
            p = event.progress
            share = f" ({p.bytes_read / p.total_bytes:.0%} of the file)" if p.total_bytes else ""
            self._latest = f"{p.rows_read:,} rows read{share}"
            final = p.total_bytes is not None and p.bytes_read >= p.total_bytes
            if (p.rows_read, p.bytes_read) == self._last_read:
                return  # prepare reports the end twice: after its last batch, and exactly once done
            if self._due(final):
                self._last_read = (p.rows_read, p.bytes_read)
                self._emit(
                    f"{event.audience}: {self._latest}",
                    event="read_progress",
                    audience=event.audience,
                    rows_read=p.rows_read,
                    bytes_read=p.bytes_read,
                    total_bytes=p.total_bytes,
                )
        elif isinstance(event, UploadProgress):
            elapsed = max(now - self._phase_started, 1e-9)
            rate = event.records_done / elapsed if now > self._phase_started else 0.0
            left = (event.records_total - event.records_done) / rate if rate > 0 else None
            eta = f", about {_duration(left)} left" if left is not None and left > 0 else ""
            self._latest = (
                f"{event.records_done:,} of {event.records_total:,} {event.noun} sent "
                f"({event.batches_done:,}/{event.batches_total:,} batches, {rate:,.0f} {event.noun}/s{eta})"
            )
            if self._due(event.records_done >= event.records_total):
                self._emit(
                    f"{event.audience}: {self._latest}",
                    event="upload_progress",
                    audience=event.audience,
                    records_done=event.records_done,
                    records_total=event.records_total,
                    batches_done=event.batches_done,
                    batches_total=event.batches_total,
                    records_per_s=round(rate, 1),
                )
        elif isinstance(event, RetryScheduled):
            self._counters.retries += 1
            self._last_line = now  # the client logged it
        elif isinstance(event, RateLimitHit):
            self._counters.rate_limited += 1
        elif isinstance(event, TokenRefreshed):
            self._last_line = now
        elif isinstance(event, AudienceDone):
            r = event.report
            if r.status == "ok":
                self._emit(
                    f"{event.audience}: {'dry run' if r.dry_run else 'done'}: added {r.added:,}, removed "
                    f"{r.removed:,} (planned {r.planned_adds:,} and {r.planned_removes:,}), {r.requests:,} "
                    f"requests, {r.retries:,} retries, {r.rate_limited:,} rate-limited, {r.duration_s:.1f} s",
                    event="audience_done",
                    audience=event.audience,
                    status=r.status,
                    customer_list_id=r.customer_list_id,
                    audience_id=r.audience_id,
                    added=r.added,
                    removed=r.removed,
                )
            self._phase = "between audiences"
            self._latest = ""

    def tick(self) -> None:
        with self._lock:
            now = self.clock.monotonic()
            if now - self._last_line < self.heartbeat_s:
                return
            detail = f": {self._latest}" if self._latest else ""
            extra = self._counters.text()
            self._emit(
                f"{self._audience or 'sync'}: still {PHASE_WORDS.get(self._phase, self._phase)} after "
                f"{_duration(now - self._phase_started)}{detail}{f' ({extra})' if extra else ''}",
                event="heartbeat",
                audience=self._audience,
                phase=self._phase,
                phase_s=round(now - self._phase_started, 1),
            )


class QuietDisplay:
    """`--quiet`: nothing while it runs."""

    def __call__(self, event: SyncEvent) -> None:
        return None

    def tick(self) -> None:
        return None

    def __enter__(self) -> QuietDisplay:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class Ticker:
    """Calls `target` every `period_s` seconds of real time from a daemon thread, until the block ends."""

    def __init__(self, target: Display, period_s: float = 1.0) -> None:
        self.target = target
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pinaudience-ticker", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.target.tick()
            except Exception:
                log.debug("progress display tick failed", exc_info=True)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
