"""Conversion events: send an events file to Pinterest's Conversions API, each acknowledged event once.

The order of one run (`send_events_file`):

1. read the file (`pinaudience.input.source.open_table`: CSV of any delimiter, gzip, Parquet) and check it has
   an identifier column and a time column (an `InputError` naming what is missing, before anything is sent);
2. prepare the events (`pinaudience.conversions.prepare_events`: normalise, hash, event ids, rejects);
3. lock the ad account's events (`<api base>|<ad account>|events`), so that two runs never interleave;
4. expire journal entries older than the retention window, and leave out every event whose id the journal holds
   (Pinterest acknowledged it to an earlier run);
5. send the rest in batches of up to 1,000, a few in flight (`writes_in_flight`), paced by the client under
   `ads_conversions`; after each answer (200, or a partial 422) record the processed ids in the journal in one
   committed transaction. Events Pinterest reported failed are not recorded: they go to the rejects file with
   their row and Pinterest's message, and a rerun sends them again (an event fixed in the file has a new derived
   id anyway). A 413 splits the batch in two and sends each half;
6. write the rejects file (rows and reasons, never a value) and report.

Why every event is sent at least once, and at most the batches in flight twice: the journal only ever holds ids
Pinterest acknowledged, so nothing unacknowledged is skipped; a run killed after Pinterest answered but before
the journal's commit leaves those ids out, so the rerun sends that batch again, and Pinterest de-duplicates
events by `event_id` (each event's is stable: the file's, or derived from its content). No pending state is
needed: a resend of an acknowledged event is harmless, a skipped unacknowledged one would be a loss, and only
the second is prevented by writing before sending.

Test mode (`?test=true`) neither reads nor writes the journal: Pinterest records nothing, and a test run should
judge every event of the file, including those already sent for real.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pinaudience.clock import Clock, SystemClock
from pinaudience.config import EventsSettings, Settings
from pinaudience.conversions import EventOptions, PreparedEvents, prepare_events, resolve_columns
from pinaudience.engine.events import PhaseStarted, SyncObserver, UploadProgress, ignore
from pinaudience.engine.report import ErrorInfo
from pinaudience.errors import ConfigError, InputError, PinaudienceError, RequestTooLarge
from pinaudience.input.source import open_table, read_error
from pinaudience.pinterest import limits
from pinaudience.pinterest.client import PinterestClient, open_client
from pinaudience.pinterest.models import EventsResult
from pinaudience.pinterest.ratelimit import RateLimiter
from pinaudience.pinterest.retry import RetryPolicy
from pinaudience.state import EventJournal, StateBackend, open_state
from pinaudience.state.store import lock_key
from pinaudience.support.files import write_atomic

if TYPE_CHECKING:
    from pathlib import Path

    import httpx
    import polars as pl

log = logging.getLogger("pinaudience.events")

EVENTS_LOCK = "events"
"""The state lock target of an ad account's events: one events run per (API base, ad account) at a time."""

DAY_S = 86_400.0

HASHED = tuple(limits.CONVERSION_HASHED_FIELDS)
PLAIN = ("client_ip_address", "client_user_agent", "click_id", "partner_id")
CUSTOM = ("order_id", "value", "currency")

IDENTIFIER_HINT = (
    "Give the file an `email` (or `em`) column, a device id column (`hashed_maids`, `gaid`, `idfa`), or both an "
    "`ip` and a `user_agent` column; or name the column with --map em=COLUMN (`[events.columns]` in the config)."
)


@dataclass
class EventsRunReport:
    """What one events run did: counts, Pinterest's messages, and on failure the error. Never a value of the file."""

    name: str
    input: str | None = None
    status: str = "ok"
    test: bool = False
    rows_read: int = 0
    events_ready: int = 0
    """Events prepared to send (valid, with an identifier), before the journal was consulted."""
    events_rejected: int = 0
    """Rows rejected before sending (`rejected_by_reason`)."""
    already_acknowledged: int = 0
    """Ready events left out because Pinterest acknowledged them to an earlier run (the journal holds their id)."""
    sent: int = 0
    """Events in the batches Pinterest answered."""
    received: int = 0
    """`num_events_received`, summed over the batches."""
    processed: int = 0
    """`num_events_processed`, summed: recorded by Pinterest (in test mode: judged, not recorded)."""
    failed: int = 0
    """Events Pinterest reported failed; their rows are in the rejects file with Pinterest's message."""
    failed_by_message: dict[str, int] = field(default_factory=dict)
    warnings_by_message: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    """Batches Pinterest answered."""
    batches_split: int = 0
    """Batches Pinterest refused as too large (413) and that were sent again in halves."""
    journal_expired: int = 0
    """Journal entries older than the retention window, deleted by this run."""
    rejects_file: str | None = None
    rejects_written: int = 0
    prepare: dict[str, Any] = field(default_factory=dict)
    """The prepare report: rejected_by_reason, invalid_by_field, hashed_by_field, prehashed_by_field, event ids
    derived, duplicate event ids, and the columns each field was read from."""
    requests: dict[str, Any] = field(default_factory=dict)
    """The client's counters: requests, retries, 429s, token refreshes."""
    request_ids: list[str] = field(default_factory=list)
    """Pinterest's request ids of the batches with failed events (its support asks for them)."""
    duration_s: float = 0.0
    error: ErrorInfo | None = None

    def fail(self, exc: BaseException) -> None:
        self.status = "error"
        self.error = ErrorInfo.from_exception(exc) if isinstance(exc, PinaudienceError) else ErrorInfo.internal(exc)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- public entry points ---------------------------------------------------------------------------


def send_events_file(
    settings: Settings,
    events: EventsSettings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    observer: SyncObserver | None = None,
    store: StateBackend | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
) -> EventsRunReport:
    """Send one events file (`events`, else the settings' only `[[events]]` table); blocking. See the module."""
    return asyncio.run(
        send_events_file_async(
            settings,
            events,
            transport=transport,
            clock=clock,
            observer=observer,
            store=store,
            limiter=limiter,
            retry=retry,
        )
    )


async def send_events_file_async(
    settings: Settings,
    events: EventsSettings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    observer: SyncObserver | None = None,
    store: StateBackend | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
) -> EventsRunReport:
    """Send one events file. Errors the user can fix (`PinaudienceError`: a bad file, the state, Pinterest's
    refusals after every retry) end the run with `status = "error"` and the error in the report; what was
    acknowledged before stays journaled, so a rerun sends only the rest. Anything else is a bug and is raised."""
    spec = events if events is not None else _only_events(settings)
    clock = clock or SystemClock()
    notify = observer or ignore
    report = EventsRunReport(
        name=spec.label,
        input=None if spec.input is None else str(spec.input),
        test=spec.test,
        rejects_file=None if spec.rejects is None else str(spec.rejects),
    )
    started = clock.monotonic()
    run = _Run(spec, settings, clock, notify, report)
    try:
        run.phase("reading")
        prepared = run.prepare()
        own_store = store is None
        backend = store or open_state(settings.state, clock=clock)
        try:
            pinterest = settings.pinterest
            with backend.lock(lock_key(pinterest.api_base, pinterest.ad_account_id, EVENTS_LOCK)):
                journal = backend.event_journal(pinterest.api_base, pinterest.ad_account_id)
                async with open_client(
                    pinterest, transport=transport, clock=clock, observer=notify, limiter=limiter, retry=retry
                ) as client:
                    try:
                        await run.upload(client, journal, prepared)
                    finally:
                        report.requests = client.stats.to_dict()
        finally:
            if own_store:
                backend.close()
    except PinaudienceError as exc:
        report.fail(exc)
        log.warning("events run %s failed: %s", spec.label, exc.kind)
    finally:
        try:
            run.write_rejects()
        except PinaudienceError as exc:
            if report.error is None:
                report.fail(exc)
        report.duration_s = round(clock.monotonic() - started, 3)
    log.info(
        "%s: %s; %d sent, %d processed, %d failed, %d rejected before sending",
        spec.label,
        report.status,
        report.sent,
        report.processed,
        report.failed,
        report.events_rejected,
    )
    return report


def _only_events(settings: Settings) -> EventsSettings:
    if len(settings.events) != 1:
        raise ConfigError(
            f"the settings hold {len(settings.events)} events tables; name the one to send",
            resolution="Give one [[events]] table in the config file, or an events file on the command line.",
        )
    return settings.events[0]


# --- one run -----------------------------------------------------------------------------------------


class _Run:
    """One events file's run: what its steps share, and the rejects found on the way."""

    def __init__(
        self, spec: EventsSettings, settings: Settings, clock: Clock, notify: SyncObserver, report: EventsRunReport
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.clock = clock
        self.notify = notify
        self.report = report
        self.rejects: list[tuple[int, str]] = []

    def phase(self, name: str) -> None:
        log.info("%s: %s", self.spec.label, name)
        self.notify(PhaseStarted(self.spec.label, name))

    def prepare(self) -> PreparedEvents:
        import polars as pl

        spec = self.spec
        if spec.input is None:
            raise ConfigError("no events file is given", resolution="Give the events file: pinaudience events FILE.")
        source = open_table(spec.input)
        try:
            frame = source.scan_table().collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise read_error(exc, source.info) from None
        columns = resolve_columns(frame.columns, spec.mapping)
        path = spec.input
        if not (
            "em" in columns or "hashed_maids" in columns or {"client_ip_address", "client_user_agent"} <= set(columns)
        ):
            raise InputError(f"the events file {path} has no identifier column", resolution=IDENTIFIER_HINT)
        if "event_time" not in columns:
            raise InputError(
                f"the events file {path} has no event_time column",
                resolution="Give each event its time in an `event_time` (or `timestamp`) column: Unix seconds, or "
                "ISO 8601 with a zone; or name the column with --map event_time=COLUMN.",
            )
        options = EventOptions(
            event_name=spec.event_name,
            action_source=spec.action_source,
            max_age_s=None if spec.max_age_days is None else int(spec.max_age_days * DAY_S),
        )
        prepared = prepare_events(frame, spec.mapping, now=int(self.clock.now()), options=options)
        counts = prepared.report
        self.report.prepare = counts.to_dict()
        self.report.rows_read = counts.rows_read
        self.report.events_ready = counts.events_ready
        self.report.events_rejected = counts.events_rejected
        self.rejects.extend(zip(prepared.rejects["row"].to_list(), prepared.rejects["reason"].to_list(), strict=True))
        if counts.rows_read == 0:
            raise InputError(f"the events file {path} holds no rows")
        if counts.events_ready == 0:
            reasons = ", ".join(f"{reason} {n:,}" for reason, n in counts.rejected_by_reason.items())
            raise InputError(
                f"none of the {counts.rows_read:,} rows of {path} is an event to send ({reasons})",
                resolution=_resolution(counts.rejected_by_reason),
            )
        return prepared

    async def upload(self, client: PinterestClient, journal: EventJournal, prepared: PreparedEvents) -> None:
        spec, report = self.spec, self.report
        events = prepared.events
        if not spec.test:
            report.journal_expired = journal.expire(self.clock.now() - spec.retention_days * DAY_S)
            done = journal.acknowledged(events["event_id"].to_list())
            if done:
                import polars as pl

                events = events.filter(~pl.col("event_id").is_in(list(done)))
            report.already_acknowledged = prepared.report.events_ready - events.height
        batches = [events.slice(start, spec.batch_size) for start in range(0, events.height, spec.batch_size)]
        self.phase("uploading")
        log.info(
            "%s: %d events to send in %d batches (%d acknowledged before, %d rejected)",
            spec.label,
            events.height,
            len(batches),
            report.already_acknowledged,
            report.events_rejected,
        )
        total = events.height
        progress = {"events": 0, "batches": 0}
        pending = iter(batches)
        failure: list[BaseException] = []

        async def worker() -> None:
            for batch in pending:
                if failure:
                    return
                try:
                    await self._send(client, journal, batch)
                except Exception as exc:  # noqa: BLE001 - any failure stops the other workers; raised below
                    failure.append(exc)
                    return
                progress["events"] += batch.height
                progress["batches"] += 1
                self.notify(
                    UploadProgress(spec.label, progress["events"], total, progress["batches"], len(batches), "events")
                )

        in_flight = max(1, min(self.settings.pinterest.writes_in_flight, len(batches)))
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        if failure:
            raise failure[0]

    async def _send(self, client: PinterestClient, journal: EventJournal, batch: pl.DataFrame) -> None:
        try:
            result = await client.send_events(payloads(batch), test=self.spec.test)
        except RequestTooLarge:
            if batch.height < 2:
                raise
            self.report.batches_split += 1
            half = batch.height // 2
            await self._send(client, journal, batch.slice(0, half))
            await self._send(client, journal, batch.slice(half))
            return
        rows = batch["row"].to_list()
        ids = batch["event_id"].to_list()
        processed = [event_id for event_id, answer in zip(ids, result.events, strict=True) if answer.processed]
        if not self.spec.test:
            journal.record(processed)
        self._count(result, rows)

    def _count(self, result: EventsResult, rows: Sequence[int]) -> None:
        report = self.report
        report.batches += 1
        report.sent += len(result.events)
        report.received += result.received
        report.processed += result.processed
        report.failed += result.failed
        report.failed_by_message = dict(Counter(report.failed_by_message) + Counter(result.failed_by_message()))
        report.warnings_by_message = dict(Counter(report.warnings_by_message) + Counter(result.warnings_by_message()))
        for index, message in result.failures():
            self.rejects.append((rows[index], f"pinterest: {message}"))
        if result.failed and result.request_id and result.request_id not in report.request_ids:
            report.request_ids.append(result.request_id)

    def write_rejects(self) -> None:
        """The rejects file (`row,reason`, by row), when asked for: written even when the run failed."""
        if self.spec.rejects is None:
            return
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(("row", "reason"))
        writer.writerows(sorted(self.rejects))
        _write(self.spec.rejects, text.getvalue())
        self.report.rejects_written = len(self.rejects)


def _write(path: Path, text: str) -> None:
    try:
        write_atomic(path, text, durable=False)
    except OSError as exc:
        raise InputError(f"cannot write the rejects file {path} ({exc.strerror})") from None


def _resolution(reasons: dict[str, int]) -> str:
    """What to do about a file none of whose rows is an event, by its most common reason."""
    top = max(reasons, key=lambda r: reasons[r]) if reasons else ""
    if top in ("milliseconds", "microseconds", "nanoseconds"):
        return f"event_time holds {top}: export it as Unix seconds (divide by 1,000 for milliseconds)."
    if top in ("bad_time", "naive_time", "no_event_time"):
        return "Give event_time as Unix seconds, or ISO 8601 with a zone (2025-12-06T10:00:00Z); docs/events.md."
    if top == "too_old":
        return "Pinterest accepts events of the last 7 days only: export recent events."
    if top in ("no_event_name", "no_action_source"):
        return "Add the column to the file, or give a default with --event-name / --action-source."
    return "Write the rejects (--rejects FILE) to see each row's reason; docs/events.md explains them."


def payloads(batch: pl.DataFrame) -> list[dict[str, object]]:
    """The `events/create` payload of each prepared event (`PreparedEvents.events` rows; null: key left out)."""
    out: list[dict[str, object]] = []
    for event in batch.iter_rows(named=True):
        user_data: dict[str, object] = {}
        for name in HASHED:
            if event.get(name):
                user_data[name] = list(event[name])
        for name in PLAIN:
            if event.get(name) is not None:
                user_data[name] = event[name]
        payload: dict[str, object] = {
            "event_name": event["event_name"],
            "action_source": event["action_source"],
            "event_time": int(event["event_time"]),
            "event_id": event["event_id"],
            "user_data": user_data,
        }
        custom = {name: event[name] for name in CUSTOM if event.get(name) is not None}
        if custom:
            payload["custom_data"] = custom
        out.append(payload)
    return out
