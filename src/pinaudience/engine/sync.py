"""The sync engine: keep a Pinterest customer list, and its CUSTOMER_LIST audience, equal to a file.

This is the only module that knows the order of the steps. For each audience of the settings:

1. lock the configured destination in the state store (a second run on it fails at once);
2. read: prepare the file (`pinaudience.input.prepare`) into the desired records, with counts (the first
   audience's file may have been opened already, its head read, before the engine loaded:
   `pinaudience.engine.inputs`);
3. resolve the destination with reads only (`pinaudience.engine.resolve`): by audience id (its rule
   names the list), by customer list id, or by name (the most recent list with that name); find the
   CUSTOMER_LIST audience on it;
4. plan: read what the state confirmed Pinterest holds, and the records of batches whose outcome an
   earlier run never learnt (uncertain), and plan adds and removes (`pinaudience.plan.planner`); check
   the guards before anything is written: `not_enough_records`, `mass_removal_blocked`;
5. upload (`pinaudience.engine.upload`): create the list with the first batch if it is missing, then
   ADD batches, then REMOVE batches, a few in flight; each batch is written to the state as pending
   before it is sent and acknowledged after Pinterest answers (`send_batch`);
6. finish: compact the state, create the audience if it is missing and the list is big enough, read
   the list's status and the audience's size, and report. Pinterest matches a list's records to its users
   asynchronously (hours); while it does, it may refuse the audience. The run then ends `ok` with the
   audience `pending`, the state records the audience to create, and a later run (the same command on an
   unchanged file: nothing is sent again) creates it once Pinterest accepts it. A list Pinterest matched and
   found too small ends `not_enough_records`. The list's counters are compared with what was sent.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pinaudience.clock import Clock, SystemClock
from pinaudience.config import AudienceSettings, PinterestSettings, Settings, SyncMode
from pinaudience.engine.events import AudienceDone, PhaseStarted, ReadProgress, SyncObserver, ignore
from pinaudience.engine.planning import check_guards, effective_mode, plan_changes
from pinaudience.engine.report import AUDIENCE_PENDING, PINTEREST_DELAY_NOTE, AudienceReport, RunReport
from pinaudience.engine.resolve import (
    LIST_MATCHING,
    LIST_TOO_SMALL,
    Destination,
    create_audience,
    create_list,
    resolve,
)
from pinaudience.engine.upload import Upload
from pinaudience.errors import ConfigError, NotEnoughRecords, NotFound, PinaudienceError
from pinaudience.input.prepare import Prepared, prepare
from pinaudience.input.report import PrepareProgress
from pinaudience.pinterest.client import PinterestClient, open_client
from pinaudience.pinterest.models import Audience, CustomerList
from pinaudience.pinterest.ratelimit import RateLimiter
from pinaudience.pinterest.retry import RetryPolicy
from pinaudience.state import ListRef, ListState, StateBackend, open_state
from pinaudience.state.store import list_target, lock_key

if TYPE_CHECKING:
    import httpx

    from pinaudience.engine.inputs import OpenedInput
    from pinaudience.input.source import Source

log = logging.getLogger("pinaudience.sync")

FIRST_MIRROR_WARNING = (
    "pinaudience holds no record of this customer list, so this first mirror only adds: members that "
    "other tools sent earlier cannot be removed, because Pinterest cannot list a customer list's members. "
    "Start from an empty list for an exact mirror."
)

AUDIENCE_PENDING_WARNING = (
    "Pinterest is still matching the list's records to its users (this can take up to 48 hours) and does not "
    "accept an audience on it yet; the audience {name!r} will be created by the next run once Pinterest accepts it "
    "(run the same sync again later: records already sent are not sent again)."
)
AUDIENCE_INITIALIZING_WARNING = (
    "Pinterest is still matching the list's records to its users (this can take up to 48 hours): the audience "
    "has no size yet."
)
COUNTERS_DISAGREE_WARNING = (
    "Pinterest's counters of customer list {list_id} grew by {p_added} uploaded and {p_removed} removed records "
    "during this run, but pinaudience sent {added} and {removed}. More means another tool wrote to the list or a "
    "request whose answer was lost was sent again (harmless: adds and removes do not duplicate members); fewer "
    "means Pinterest did not count records it acknowledged: check the list in Ads Manager."
)
LIST_EXCEPTIONS_WARNING = "Pinterest reports exceptions on customer list {list_id}: {kinds}."
TOO_SMALL_AFTER_REMOVE_WARNING = (
    "Pinterest matched customer list {list_id} and found it too small: its audience needs at least 100 records "
    "that match Pinterest users."
)

# --- public entry points ---------------------------------------------------------------------------


def sync(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    observer: SyncObserver | None = None,
    store: StateBackend | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    opened: OpenedInput | None = None,
) -> RunReport:
    """Sync every audience of `settings`; blocking. See `sync_async`."""
    return asyncio.run(
        sync_async(
            settings,
            transport=transport,
            clock=clock,
            observer=observer,
            store=store,
            limiter=limiter,
            retry=retry,
            opened=opened,
        )
    )


async def sync_async(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    observer: SyncObserver | None = None,
    store: StateBackend | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    opened: OpenedInput | None = None,
) -> RunReport:
    """Sync every audience of `settings` in turn, sharing one client and one rate limiter.

    Errors of one audience end that audience (its report says which, with the resolution) and the run
    goes on with the next; the run's status is `error` if any audience failed. Errors that concern the
    whole run (the state directory, the configuration) are raised before anything is sent.
    `retry` replaces the policy built from `settings.pinterest` (tests seed its jitter). `opened` is the first
    audience's input as `pinaudience.engine.inputs.open_first_input` opened it before the engine loaded.
    """
    if not settings.audiences:
        raise ConfigError(
            "nothing to sync: no audience is configured", resolution="Give an input file and --list-name."
        )
    clock = clock or SystemClock()
    notify = observer or ignore
    pinterest = settings.pinterest
    run = RunReport()
    own_store = store is None
    store = store or open_state(settings.state, clock=clock)
    try:
        # Without `limiter`, the client makes one (`make_rate_limiter`: local, or Redis when `rate_limit_url`
        # is set, pinged before the first audience) and shares it between the audiences.
        async with open_client(
            pinterest, transport=transport, clock=clock, observer=notify, limiter=limiter, retry=retry
        ) as client:
            for audience in settings.audiences:
                job = _Job(client, store, pinterest, audience, clock, notify, opened)
                report = await sync_audience(job)
                run.audiences.append(report)
                notify(AudienceDone(job.label, report))
    finally:
        if own_store:
            store.close()
    run.status = "ok" if all(a.status == "ok" for a in run.audiences) else "error"
    return run


# --- one audience ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """One audience's sync: what its steps share."""

    client: PinterestClient
    store: StateBackend
    pinterest: PinterestSettings
    audience: AudienceSettings
    clock: Clock
    notify: SyncObserver
    opened: OpenedInput | None = None
    """The first audience's input, opened before the engine loaded; used by that audience's read step."""

    @property
    def label(self) -> str:
        a = self.audience
        return a.list_name or a.audience_id or a.customer_list_id or "audience"

    def phase(self, name: str) -> None:
        log.info("%s: %s", self.label, name)
        self.notify(PhaseStarted(self.label, name))

    def list_ref(self, customer_list_id: str) -> ListRef:
        return ListRef(self.pinterest.api_base, self.pinterest.ad_account_id, customer_list_id)

    def lock(self, stack: contextlib.AsyncExitStack, target: str) -> None:
        """Hold the state lock of `target` until the audience's sync ends."""
        stack.enter_context(self.store.lock(lock_key(self.pinterest.api_base, self.pinterest.ad_account_id, target)))


def configured_target(audience: AudienceSettings) -> str:
    """The destination as configured, before it is resolved: the first lock a run takes."""
    if audience.audience_id:
        return f"audience:{audience.audience_id}"
    if audience.customer_list_id:
        return list_target(audience.customer_list_id)
    return f"name:{audience.list_name}"


async def sync_audience(job: _Job) -> AudienceReport:
    """One audience's sync; a PinaudienceError ends it and goes into the report, a bug propagates."""
    audience = job.audience
    report = AudienceReport(
        mode=audience.mode.value,
        dry_run=audience.dry_run,
        ad_account_id=job.pinterest.ad_account_id,
        list_name=audience.list_name,
        audience_name=audience.effective_audience_name,
    )
    started = job.clock.monotonic()
    before = dataclasses.replace(job.client.stats)
    try:
        async with contextlib.AsyncExitStack() as stack:
            await _steps(job, report, stack)
    except PinaudienceError as exc:
        report.fail(exc)
        log.warning("%s: %s: %s", job.label, exc.kind, exc.message)
    finally:
        after = job.client.stats
        report.requests = after.requests - before.requests
        report.retries = after.retries - before.retries
        report.rate_limited = after.rate_limited - before.rate_limited
        report.duration_s = round(job.clock.monotonic() - started, 3)
    return report


async def _steps(job: _Job, report: AudienceReport, stack: contextlib.AsyncExitStack) -> None:
    """Read, resolve, plan, upload, finish; each step's result goes into the report as soon as it is known."""
    audience = job.audience
    if audience.input is None:
        raise ConfigError(f"{job.label}: no input file", resolution="Give the customers file to sync.")
    target = configured_target(audience)
    job.lock(stack, target)

    job.phase("reading")
    prepared = await _read(job, audience.input)
    stack.callback(prepared.records.close)
    report.input = prepared.report

    job.phase("resolving")
    destination = await resolve(job.client, audience)
    _report_destination(report, destination)
    if destination.customer_list is not None and target != list_target(destination.customer_list.id):
        job.lock(stack, list_target(destination.customer_list.id))

    job.phase("planning")
    state = _open_state(job, destination, report)
    if effective_mode(audience) is not audience.mode:
        report.warn(f"sample: only the first {audience.sample} valid records are sent, as adds; nothing is removed")
    planned = plan_changes(audience, prepared.records, state)
    stack.callback(planned.plan.close)
    report.confirmed_before, report.uncertain_before = planned.confirmed, planned.uncertain
    report.planned_adds, report.planned_removes = planned.plan.adds.count, planned.plan.removes.count
    check_guards(audience, destination, prepared, planned)
    if audience.dry_run:
        report.warn("dry run: nothing was sent to Pinterest")
        _report_pinterest_view(report, destination.customer_list, destination.audience)
        return

    job.phase("uploading")
    upload = Upload(
        job.client,
        planned.plan,
        batch_size=audience.batch_size,
        in_flight=job.pinterest.writes_in_flight,
        label=job.label,
        observer=job.notify,
    )
    customer_list = before = destination.customer_list
    if customer_list is None:
        customer_list, state = await _create_list(job, stack, report, destination, upload)
    assert state is not None
    _write_metadata(job, state, customer_list, destination)
    try:
        await upload.run(state, customer_list.id)
    finally:
        counts = upload.counts
        report.added, report.removed, report.batches = counts.added, counts.removed, counts.batches

    job.phase("finishing")
    await _finish(job, report, state, customer_list, destination, before)


# --- the steps -------------------------------------------------------------------------------------


async def _read(job: _Job, path: Path) -> Prepared:
    a = job.audience
    source: Source | Path = job.opened.source_for(a, path) if job.opened is not None else path

    def progress(p: PrepareProgress) -> None:
        job.notify(ReadProgress(job.label, p))

    return await asyncio.to_thread(
        prepare, source, id_type=a.id_type, column=a.column, hash=a.hash, sample=a.sample, progress=progress
    )


def _report_destination(report: AudienceReport, destination: Destination) -> None:
    if destination.customer_list is not None:
        report.customer_list_id = destination.customer_list.id
        report.list_name = destination.customer_list.name
    if destination.audience is not None:
        report.audience_id = destination.audience.id
        report.audience_name = destination.audience.name


def _open_state(job: _Job, destination: Destination, report: AudienceReport) -> ListState | None:
    """The state of the destination's list; None when the list is still to be created."""
    if destination.customer_list is None:
        if job.audience.mode is SyncMode.REMOVE:
            raise NotFound(
                f"there is no customer list named {destination.list_name!r} to remove records from",
                resolution="Check the list name, or run in add or mirror mode to create it.",
            )
        return None
    ref = job.list_ref(destination.customer_list.id)
    if job.store.find_list(ref) is None and job.audience.mode is SyncMode.MIRROR:
        report.warn(FIRST_MIRROR_WARNING)
    return job.store.open_list(ref)


async def _create_list(
    job: _Job, stack: contextlib.AsyncExitStack, report: AudienceReport, destination: Destination, upload: Upload
) -> tuple[CustomerList, ListState]:
    """Create the list with the plan's first ADD batch, lock it, and journal that batch as acknowledged.

    The report names the list as soon as Pinterest created it, so a state that then fails to journal
    the first batch still leaves a report that says which list exists.
    """
    first = upload.first_add_batch()
    if not first:
        raise NotEnoughRecords("there are no valid records to create the customer list with")
    created = await create_list(
        job.client, destination, first, job.audience.id_type.list_type, attempts=job.pinterest.max_attempts
    )
    report.list_created, report.customer_list_id = True, created.id
    job.lock(stack, list_target(created.id))
    state = job.store.open_list(job.list_ref(created.id))
    upload.created_with(state, first)
    return created, state


def _write_metadata(job: _Job, state: ListState, customer_list: CustomerList, destination: Destination) -> None:
    list_type, list_name, found = job.audience.id_type.list_type, customer_list.name, destination.audience
    if found is None:  # still to create: a pending audience stays pending until a run creates it
        state.set_metadata(
            list_type=list_type, list_name=list_name, audience_id=None, audience_name=destination.audience_name
        )
    else:
        state.set_metadata(
            list_type=list_type,
            list_name=list_name,
            audience_id=found.id,
            audience_name=found.name,
            audience_pending_since=None,
        )


async def _finish(
    job: _Job,
    report: AudienceReport,
    state: ListState,
    customer_list: CustomerList,
    destination: Destination,
    before: CustomerList | None,
) -> AudienceReport:
    """Compact the state, create the audience if it is missing (not in remove mode), and read Pinterest's view.

    `before` is the list as resolved, before the upload (None: this run created it), for the counter check.
    """
    report.confirmed_after = state.compact().confirmed
    found = destination.audience
    too_small: NotEnoughRecords | None = None
    if found is None and job.audience.mode is not SyncMode.REMOVE:
        try:
            found = await _create_audience(job, report, state, customer_list, destination)
        except NotEnoughRecords as exc:  # raised once the report holds Pinterest's view of the list
            too_small = exc
    elif found is not None:
        found = await job.client.get_audience(found.id)  # its size and status after the upload
    now = await job.client.get_customer_list(customer_list.id)
    _report_pinterest_view(report, now, found)
    _check_counters(report, before, now)
    if too_small is not None:
        raise too_small
    if now.status == LIST_TOO_SMALL:
        if job.audience.mode is SyncMode.REMOVE:
            report.warn(TOO_SMALL_AFTER_REMOVE_WARNING.format(list_id=now.id))
        else:
            matched = found.size if found is not None else None
            raise NotEnoughRecords.too_few_matched(now.id, sent=report.confirmed_after, matched=matched)
    elif found is not None and found.size is None and (found.status == "INITIALIZING" or now.status in LIST_MATCHING):
        report.warn(AUDIENCE_INITIALIZING_WARNING)
    return report


async def _create_audience(
    job: _Job, report: AudienceReport, state: ListState, customer_list: CustomerList, destination: Destination
) -> Audience | None:
    """Create the audience; None when Pinterest is still matching the list, and the state remembers it is pending."""
    name = destination.audience_name or customer_list.name
    created = await create_audience(
        job.client, customer_list, name, report.confirmed_after, attempts=job.pinterest.max_attempts
    )
    if created is None:
        since = state.info().audience_pending_since
        state.set_metadata(audience_id=None, audience_name=name, audience_pending_since=since or job.clock.now())
        report.audience_status = AUDIENCE_PENDING
        report.warn(AUDIENCE_PENDING_WARNING.format(name=name))
        return None
    report.audience_created = True
    report.audience_id, report.audience_name = created.id, created.name
    state.set_metadata(audience_id=created.id, audience_name=created.name, audience_pending_since=None)
    return created


def _check_counters(report: AudienceReport, before: CustomerList | None, after: CustomerList) -> None:
    """How much Pinterest's counters grew during the upload, beside what was sent; a warning when they differ."""
    report.pinterest_added = after.num_uploaded_user_records - (before.num_uploaded_user_records if before else 0)
    report.pinterest_removed = after.num_removed_user_records - (before.num_removed_user_records if before else 0)
    if (report.pinterest_added, report.pinterest_removed) != (report.added, report.removed):
        report.warn(
            COUNTERS_DISAGREE_WARNING.format(
                list_id=after.id,
                p_added=report.pinterest_added,
                p_removed=report.pinterest_removed,
                added=report.added,
                removed=report.removed,
            )
        )


def _report_pinterest_view(
    report: AudienceReport, customer_list: CustomerList | None, audience: Audience | None
) -> AudienceReport:
    """The list's status and the audience's size as Pinterest shows them now."""
    if customer_list is not None:
        report.list_status = customer_list.status
        report.list_exceptions = dict(customer_list.exceptions)
        if customer_list.exceptions:
            kinds = ", ".join(f"{kind}: {count}" for kind, count in sorted(customer_list.exceptions.items()))
            report.warn(LIST_EXCEPTIONS_WARNING.format(list_id=customer_list.id, kinds=kinds))
    if audience is not None:
        report.audience_size = audience.size
        report.audience_status = audience.status
    if not report.dry_run:
        report.warn(PINTEREST_DELAY_NOTE)
    return report
