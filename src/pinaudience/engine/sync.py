"""The sync engine: keep a Pinterest customer list, and its CUSTOMER_LIST audience, equal to a file.

This is the only module that knows the order of the steps. For each audience of the settings:

1. lock the configured destination in the state store (a second run on it fails at once);
2. prepare the file (`pinaudience.input.prepare`): the desired records, with counts;
3. resolve the destination with reads only: by audience id (its rule names the list), by customer
   list id, or by name (the most recent list with that name); find the CUSTOMER_LIST audience on it;
4. read what the state confirmed Pinterest holds, and the records of batches whose outcome an earlier
   run never learnt (uncertain), and plan adds and removes (`pinaudience.plan.planner`);
5. check the guards before anything is written: `not_enough_records`, `mass_removal_blocked`;
6. upload: ADD batches first, then REMOVE batches, a few in flight; each batch is written to the state
   as pending before it is sent and acknowledged after Pinterest answers (see `pinaudience.state`);
7. compact the state, create the audience if it is missing and the list is big enough, read the
   list's status and the audience's size, and report.

Why adds before removes: an audience must never fall below Pinterest's 100-member minimum mid-sync
(removing first could shrink it under 100 before the adds arrive, and Pinterest would mark it too
small). A run that stops between the two phases leaves a superset of the desired members, never a
subset, and the next run, which knows exactly what it had confirmed, removes the rest. The price is
that departed members stay at most one upload phase longer.

A crash at any instant is safe: a batch is pending in the state before it leaves, so after a restart
its records are uncertain and are sent again in whichever direction the file now says (ADD and REMOVE
are idempotent on membership). At most the batches that were in flight are sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from pinaudience.clock import Clock, SystemClock
from pinaudience.config import AudienceSettings, PinterestSettings, Settings, SyncMode
from pinaudience.engine.report import PINTEREST_DELAY_NOTE, RunReport, SyncReport
from pinaudience.errors import (
    ConfigError,
    InvalidRequest,
    MassRemovalBlocked,
    NotEnoughRecords,
    NotFound,
    PinaudienceError,
    PinterestError,
    PinterestUnavailable,
)
from pinaudience.input.prepare import Prepared, PrepareProgress, prepare
from pinaudience.pinterest import limits
from pinaudience.pinterest.client import PinterestClient, open_client
from pinaudience.pinterest.events import ClientEvent
from pinaudience.pinterest.limits import ListOperation
from pinaudience.pinterest.models import Audience, CustomerList
from pinaudience.pinterest.ratelimit import LocalRateLimiter, RateLimiter
from pinaudience.pinterest.retry import RetryPolicy
from pinaudience.plan import planner as diff
from pinaudience.records.recordset import RecordSet
from pinaudience.state import ListRef, ListState, StateStore
from pinaudience.support.paths import default_state_dir

log = logging.getLogger("pinaudience.sync")

MIN_RECORDS = limits.MIN_AUDIENCE_RECORDS
FIRST_MIRROR_WARNING = (
    "pinaudience holds no record of this customer list, so this first mirror only adds: members that "
    "other tools sent earlier cannot be removed, because Pinterest cannot list a customer list's members. "
    "Start from an empty list for an exact mirror."
)

# --- events for a progress display -----------------------------------------------------------------


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


@dataclass(frozen=True)
class AudienceDone:
    """One audience finished (well or not); its report is final."""

    audience: str
    report: SyncReport


SyncEvent = PhaseStarted | ReadProgress | UploadProgress | AudienceDone | ClientEvent
SyncObserver = Callable[[SyncEvent], None]


def _ignore(_: SyncEvent) -> None:
    return None


# --- public entry points ---------------------------------------------------------------------------


def sync(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    observer: SyncObserver | None = None,
    store: StateStore | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
) -> RunReport:
    """Sync every audience of `settings`; blocking. See `sync_async`."""
    return asyncio.run(
        sync_async(
            settings, transport=transport, clock=clock, observer=observer, store=store, limiter=limiter, retry=retry
        )
    )


async def sync_async(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    observer: SyncObserver | None = None,
    store: StateStore | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
) -> RunReport:
    """Sync every audience of `settings` in turn, sharing one client and one rate limiter.

    Errors of one audience end that audience (its report says which, with the resolution) and the run
    goes on with the next; the run's status is `error` if any audience failed. Errors that concern the
    whole run (the state directory, the configuration) are raised before anything is sent.
    `retry` replaces the policy built from `settings.pinterest` (tests seed its jitter).
    """
    if not settings.audiences:
        raise ConfigError(
            "nothing to sync: no audience is configured", resolution="Give an input file and --list-name."
        )
    clock = clock or SystemClock()
    notify = observer or _ignore
    run = RunReport()
    own_store = store is None
    store = store or StateStore(settings.state_dir or default_state_dir(), clock=clock)
    try:
        limiter = limiter or LocalRateLimiter.from_settings(settings.pinterest, clock)
        async with open_client(
            settings.pinterest, transport=transport, clock=clock, observer=notify, limiter=limiter, retry=retry
        ) as client:
            for audience in settings.audiences:
                engine = _AudienceSync(client, store, settings.pinterest, audience, clock=clock, notify=notify)
                report = await engine.run()
                run.audiences.append(report)
                notify(AudienceDone(engine.label, report))
    finally:
        if own_store:
            store.close()
    run.status = "ok" if all(a.status == "ok" for a in run.audiences) else "error"
    return run


# --- one audience ----------------------------------------------------------------------------------


@dataclass
class _Destination:
    customer_list: CustomerList | None
    audience: Audience | None
    list_name: str | None
    audience_name: str | None
    known_list_ids: frozenset[str] = frozenset()
    """Ids of lists already carrying the name, so a create whose answer was lost can be recognised."""


class _AudienceSync:
    """One audience's sync; `run()` puts a PinaudienceError in the report, and lets a bug propagate."""

    def __init__(
        self,
        client: PinterestClient,
        store: StateStore,
        connection: PinterestSettings,
        audience: AudienceSettings,
        *,
        clock: Clock,
        notify: SyncObserver,
    ) -> None:
        self.client = client
        self.store = store
        self.connection = connection
        self.settings = audience
        self.clock = clock
        self.notify = notify
        self.label = audience.list_name or audience.audience_id or audience.customer_list_id or "audience"
        self.report = SyncReport(
            mode=audience.mode.value,
            dry_run=audience.dry_run,
            ad_account_id=connection.ad_account_id,
            list_name=audience.list_name,
            audience_name=audience.effective_audience_name,
        )

    def phase(self, name: str) -> None:
        log.info("%s: %s", self.label, name)
        self.notify(PhaseStarted(self.label, name))

    async def run(self) -> SyncReport:
        started = time.monotonic()
        stats_before = dataclasses.replace(self.client.stats)
        try:
            async with contextlib.AsyncExitStack() as stack:
                await self._run(stack)
        except PinaudienceError as exc:
            self.report.fail(exc)
            log.warning("%s: %s: %s", self.label, exc.kind, exc.message)
        finally:
            stats = self.client.stats
            self.report.requests = stats.requests - stats_before.requests
            self.report.retries = stats.retries - stats_before.retries
            self.report.rate_limited = stats.rate_limited - stats_before.rate_limited
            self.report.duration_s = round(time.monotonic() - started, 3)
        return self.report

    async def _run(self, stack: contextlib.AsyncExitStack) -> None:
        settings = self.settings
        if settings.input is None:
            raise ConfigError(f"{self.label}: no input file", resolution="Give the customers file to sync.")
        api_base = self.connection.api_base
        account = self.connection.ad_account_id
        stack.enter_context(self.store.lock(f"{api_base}|{account}|{self._destination_key()}"))

        self.phase("reading")
        prepared = await asyncio.to_thread(self._prepare, settings.input)
        stack.callback(prepared.records.close)
        self._record_prepare(prepared)
        desired = prepared.records

        self.phase("resolving")
        destination = await self._resolve()
        report = self.report
        if destination.customer_list is not None:
            report.customer_list_id = destination.customer_list.id
            report.list_name = destination.customer_list.name
            if self._destination_key() != f"list:{destination.customer_list.id}":
                stack.enter_context(self.store.lock(f"{api_base}|{account}|list:{destination.customer_list.id}"))
        if destination.audience is not None:
            report.audience_id = destination.audience.id
            report.audience_name = destination.audience.name

        self.phase("planning")
        state: ListState | None = None
        if destination.customer_list is not None:
            ref = ListRef(api_base, account, destination.customer_list.id)
            if self.store.find_list(ref) is None and settings.mode is SyncMode.MIRROR:
                report.warnings.append(FIRST_MIRROR_WARNING)
            state = self.store.open_list(ref)
        elif settings.mode is SyncMode.REMOVE:
            raise NotFound(
                f"there is no customer list named {destination.list_name!r} to remove records from",
                resolution="Check the list name, or run in add or mirror mode to create it.",
            )
        mode = SyncMode.ADD if settings.sample is not None and settings.mode is SyncMode.MIRROR else settings.mode
        if mode is not settings.mode:
            report.warnings.append(
                f"sample: only the first {settings.sample} valid records are sent, as adds; nothing is removed"
            )
        if state is None:
            plan = diff.plan(desired, RecordSet.empty(), RecordSet.empty(), mode, full=settings.full)
            confirmed_count = uncertain_count = 0
        else:
            with state.membership() as membership:
                plan = diff.plan(desired, membership.confirmed, membership.uncertain, mode, full=settings.full)
                confirmed_count, uncertain_count = membership.confirmed.count, membership.uncertain.count
        stack.callback(plan.close)
        report.confirmed_before = confirmed_count
        report.uncertain_before = uncertain_count
        report.planned_adds = plan.adds.count
        report.planned_removes = plan.removes.count
        self._check_guards(destination, desired, plan, confirmed_count)

        if settings.dry_run:
            report.warnings.append("dry run: nothing was sent to Pinterest")
            self._finish_report(destination.customer_list, destination.audience)
            return

        self.phase("uploading")
        uploader = _Uploader(self, plan)
        if destination.customer_list is None:
            created, first_batch = await self._create_list(destination, plan.adds)
            report.list_created = True
            report.customer_list_id = created.id
            destination.customer_list = created
            ref = ListRef(api_base, account, created.id)
            stack.enter_context(self.store.lock(f"{api_base}|{account}|list:{created.id}"))
            state = self.store.open_list(ref)
            # The create call carried the first batch and Pinterest answered: it is acknowledged.
            batch = state.begin(ListOperation.ADD, first_batch)
            state.acknowledge(batch)
            uploader.done(len(first_batch), batches=1)
            uploader.skip_first_add_batch = True
        assert state is not None
        state.set_metadata(
            list_type=settings.id_type.list_type,
            list_name=destination.customer_list.name,
            audience_id=destination.audience.id if destination.audience else None,
            audience_name=destination.audience.name if destination.audience else destination.audience_name,
        )
        try:
            await uploader.run(state, destination.customer_list.id)
        finally:
            report.added, report.removed, report.batches = uploader.added, uploader.removed, uploader.batches

        self.phase("finishing")
        compaction = state.compact()
        report.confirmed_after = compaction.confirmed
        audience = destination.audience
        if audience is None and settings.mode is not SyncMode.REMOVE:
            audience = await self._create_audience(destination, compaction.confirmed)
            report.audience_created = True
            report.audience_id, report.audience_name = audience.id, audience.name
            state.set_metadata(audience_id=audience.id, audience_name=audience.name)
        elif audience is not None:
            audience = await self.client.get_audience(audience.id)  # its size and status after the upload
        self._finish_report(await self.client.get_customer_list(destination.customer_list.id), audience)

    # --- steps -------------------------------------------------------------------------------------

    def _destination_key(self) -> str:
        s = self.settings
        if s.audience_id:
            return f"audience:{s.audience_id}"
        if s.customer_list_id:
            return f"list:{s.customer_list_id}"
        return f"name:{s.list_name}"

    def _prepare(self, path: Path) -> Prepared:
        s = self.settings

        def progress(p: PrepareProgress) -> None:
            self.notify(ReadProgress(self.label, p))

        return prepare(path, id_type=s.id_type, column=s.column, hash=s.hash, sample=s.sample, progress=progress)

    def _record_prepare(self, prepared: Prepared) -> None:
        counts = prepared.report
        report = self.report
        report.rows_read = counts.rows_read
        report.rows_valid = counts.rows_valid
        report.rows_invalid = counts.rows_invalid
        report.invalid_by_reason = dict(counts.invalid_by_reason)
        report.duplicates = counts.duplicates
        report.prehashed_by_algorithm = dict(counts.prehashed_by_algorithm)
        report.hashed = counts.hashed
        report.records = prepared.records.count
        report.warnings.extend(counts.warnings)

    async def _resolve(self) -> _Destination:
        s = self.settings
        if s.audience_id:
            audience = await self.client.get_audience(s.audience_id)
            if audience.audience_type != "CUSTOMER_LIST" or audience.customer_list_id is None:
                raise ConfigError(
                    f"audience {audience.id} is a {audience.audience_type or 'unknown'} audience, not a "
                    "CUSTOMER_LIST audience, so it has no customer list to sync",
                    resolution="Give the id of a customer list audience, or use --list-name.",
                )
            customer_list = await self.client.get_customer_list(audience.customer_list_id)
            return _Destination(customer_list, audience, customer_list.name, audience.name)
        if s.customer_list_id:
            customer_list = await self.client.get_customer_list(s.customer_list_id)
            on_list = await self._find_audience(customer_list.id, s.effective_audience_name)
            return _Destination(customer_list, on_list, customer_list.name, s.effective_audience_name)
        assert s.list_name is not None
        named = [cl async for cl in self.client.iter_customer_lists() if cl.name == s.list_name]
        newest = max(named, key=lambda cl: int(cl.id), default=None)
        found = await self._find_audience(newest.id, s.effective_audience_name) if newest else None
        return _Destination(newest, found, s.list_name, s.effective_audience_name, frozenset(cl.id for cl in named))

    async def _find_audience(self, customer_list_id: str, name: str | None) -> Audience | None:
        """The CUSTOMER_LIST audience on this list: the one with the wanted name, else the most recent."""
        on_list = [a async for a in self.client.iter_audiences() if a.is_built_on(customer_list_id)]
        if not on_list:
            return None
        named = [a for a in on_list if name is not None and a.name == name]
        return max(named or on_list, key=lambda a: int(a.id))

    def _check_guards(self, destination: _Destination, desired: RecordSet, plan: diff.Plan, confirmed: int) -> None:
        s = self.settings
        if s.mode is SyncMode.REMOVE:
            return
        needs_audience = destination.audience is None
        exact = s.mode is SyncMode.MIRROR and s.sample is None
        # A mirror leaves exactly the file; add (and sample) leave what was confirmed plus the adds.
        members_after = desired.count if exact else confirmed + plan.adds.count
        if needs_audience and members_after < MIN_RECORDS:
            raise NotEnoughRecords(
                f"the audience has to be created, and the list would hold {members_after} records "
                f"({self.report.rows_valid} valid rows in the file); Pinterest needs at least {MIN_RECORDS}"
            )
        if exact:
            if members_after < MIN_RECORDS:
                raise NotEnoughRecords(
                    f"this mirror would leave the audience with {members_after} members "
                    f"({self.report.rows_valid} valid rows in the file); Pinterest needs at least {MIN_RECORDS}"
                )
            if confirmed and plan.removes.count > s.max_remove_fraction * confirmed:
                share = plan.removes.count / confirmed
                raise MassRemovalBlocked(
                    f"this mirror would remove {plan.removes.count} of the list's {confirmed} confirmed members "
                    f"({share:.0%}), more than the allowed {s.max_remove_fraction:.0%}"
                )

    async def _create_list(self, destination: _Destination, adds: RecordSet) -> tuple[CustomerList, list[str]]:
        """Create the list with the first batch; a create whose answer was lost is looked up, never redone blindly."""
        assert destination.list_name is not None
        first = next(_bounded_batches(adds.iter_batches(self.settings.batch_size)), None)
        if not first:
            raise NotEnoughRecords("there are no valid records to create the customer list with")
        list_type = self.settings.id_type.list_type
        for _ in range(max(self.connection.max_attempts, 1)):
            try:
                return await self.client.create_customer_list(destination.list_name, first, list_type), first
            except PinterestUnavailable as exc:
                if not exc.outcome_unknown:
                    raise
                log.warning("%s: the answer to creating the list was lost; looking it up by name", self.label)
                named = [
                    cl
                    async for cl in self.client.iter_customer_lists()
                    if cl.name == destination.list_name and cl.id not in destination.known_list_ids
                ]
                if named:
                    return max(named, key=lambda cl: int(cl.id)), first
        raise PinterestUnavailable(
            "Pinterest did not confirm creating the customer list after every attempt",
            resolution="Run again later; the next run finds the list by name if it was created.",
        )

    async def _create_audience(self, destination: _Destination, members: int) -> Audience:
        assert destination.customer_list is not None
        list_id = destination.customer_list.id
        name = destination.audience_name or destination.customer_list.name
        if members < MIN_RECORDS:
            raise NotEnoughRecords(
                f"the customer list holds {members} records, so no audience could be created on it yet"
            )
        for _ in range(max(self.connection.max_attempts, 1)):
            try:
                return await self.client.create_audience(name, list_id)
            except InvalidRequest as exc:
                raise NotEnoughRecords(
                    f"Pinterest refused to create the audience on customer list {list_id} "
                    f"({exc.pinterest_message or exc.message}); usually fewer than {MIN_RECORDS} of its "
                    f"{members} records matched Pinterest users. The list itself is up to date.",
                ) from None
            except PinterestUnavailable as exc:
                if not exc.outcome_unknown:
                    raise
                found = await self._find_audience(list_id, name)
                if found is not None:
                    return found
        raise PinterestUnavailable(
            "Pinterest did not confirm creating the audience after every attempt",
            resolution="Run again later; the next run finds the audience on the list if it was created.",
        )

    def _finish_report(self, customer_list: CustomerList | None, audience: Audience | None) -> None:
        report = self.report
        if customer_list is not None:
            report.list_status = customer_list.status
        if audience is not None:
            report.audience_size = audience.size
            report.audience_status = audience.status
        if not report.dry_run:
            report.warnings.append(PINTEREST_DELAY_NOTE)


class _Uploader:
    """Sends the plan's batches, ADD first, a few in flight, journaling each around its request."""

    def __init__(self, owner: _AudienceSync, plan: diff.Plan) -> None:
        self.owner = owner
        self.plan = plan
        self.in_flight = max(owner.connection.writes_in_flight, 1)
        self.batch_size = owner.settings.batch_size
        self.total = plan.adds.count + plan.removes.count
        self.batches_total = _batch_count(plan.adds.count, self.batch_size) + _batch_count(
            plan.removes.count, self.batch_size
        )
        self.added = 0
        self.removed = 0
        self.batches = 0
        self.records_done = 0
        self.skip_first_add_batch = False

    def done(self, records: int, *, batches: int = 1, operation: ListOperation = ListOperation.ADD) -> None:
        if operation is ListOperation.ADD:
            self.added += records
        else:
            self.removed += records
        self.records_done += records
        self.batches += batches
        self.owner.notify(
            UploadProgress(self.owner.label, self.records_done, self.total, self.batches, self.batches_total)
        )

    async def run(self, state: ListState, list_id: str) -> None:
        adds = _bounded_batches(self.plan.adds.iter_batches(self.batch_size))
        if self.skip_first_add_batch:
            next(adds, None)
        await self._send_all(state, list_id, ListOperation.ADD, adds)
        await self._send_all(
            state, list_id, ListOperation.REMOVE, _bounded_batches(self.plan.removes.iter_batches(self.batch_size))
        )

    async def _send_all(
        self, state: ListState, list_id: str, operation: ListOperation, batches: Iterator[list[str]]
    ) -> None:
        """Send every batch, at most `in_flight` at once; after a failure, start no new batch, let those
        in flight finish (each is journaled either way), then raise the first failure."""
        slots = asyncio.Semaphore(self.in_flight)
        failures: list[Exception] = []

        async def send(records: list[str]) -> None:
            try:
                await self._send(state, list_id, operation, records)
            except Exception as exc:  # noqa: BLE001 - kept, and raised once the batches in flight are done
                failures.append(exc)
            finally:
                slots.release()

        async with asyncio.TaskGroup() as group:
            for records in batches:
                await slots.acquire()
                if failures:
                    slots.release()
                    break
                group.create_task(send(records))
        if failures:
            raise failures[0]

    async def _send(self, state: ListState, list_id: str, operation: ListOperation, records: list[str]) -> None:
        # Written as pending before it leaves: if the state cannot record it, it is not sent.
        batch = state.begin(operation, records)
        try:
            await self.owner.client.update_customer_list(list_id, operation, records)
        except PinterestError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                # A definitive refusal: Pinterest changed nothing.
                state.discard(batch)
            raise
        state.acknowledge(batch)
        self.done(len(records), operation=operation)


def _batch_count(records: int, batch_size: int) -> int:
    return -(-records // batch_size)


def _bounded_batches(batches: Iterable[list[str]]) -> Iterator[list[str]]:
    """Split batches whose joined size would pass Pinterest's body ceiling (long plain emails)."""
    budget = int(limits.MAX_BODY_BYTES * 0.9)
    for batch in batches:
        size = sum(len(r) + 1 for r in batch)
        if size <= budget:
            yield batch
            continue
        part: list[str] = []
        used = 0
        for record in batch:
            if part and used + len(record) + 1 > budget:
                yield part
                part, used = [], 0
            part.append(record)
            used += len(record) + 1
        if part:
            yield part
