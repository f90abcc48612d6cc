"""The upload: send a plan's batches to a customer list, each journaled in the state around its request.

The write-ahead rule is `send_batch`: a batch is written to the state as pending before it leaves, and
acknowledged once Pinterest answered; a batch Pinterest refused outright (a 4xx other than 429, which
changes nothing) is discarded. A batch still pending when a run ends has an unknown outcome: the next
run's plan sends its records again in whichever direction the file then says.

A batch refused as too large (413, from Pinterest or a gateway before it) was not applied either: its
pending entry is discarded, and its two halves are sent instead, each journaled as pending before it
leaves, down to a single record, which is then an error. The upload remembers the size that was refused,
and cuts later batches to half of it before they are sent, so that one refusal does not repeat per batch.

ADD batches go first, then REMOVE batches (see `pinaudience.engine.sync` for why), at most
`writes_in_flight_per_list` in flight (one by default: Pinterest may refuse many writes to one object in a
short window).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pinaudience.engine.events import SyncObserver, UploadProgress
from pinaudience.errors import InvalidRequest, PinterestError
from pinaudience.pinterest import limits
from pinaudience.pinterest.client import PinterestClient
from pinaudience.pinterest.errors import STATUS_TOO_LARGE
from pinaudience.pinterest.limits import ListOperation
from pinaudience.plan.planner import Plan
from pinaudience.state import ListState


@dataclass
class UploadCounts:
    """What Pinterest acknowledged so far: records added and removed, and the batches that carried them."""

    added: int = 0
    removed: int = 0
    batches: int = 0

    @property
    def records(self) -> int:
        return self.added + self.removed

    def count(self, operation: ListOperation, records: int) -> None:
        if operation is ListOperation.ADD:
            self.added += records
        else:
            self.removed += records
        self.batches += 1


def _refused(exc: PinterestError) -> bool:
    """A definitive refusal: a 4xx other than 429, after which Pinterest changed nothing."""
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429


async def send_batch(
    client: PinterestClient,
    state: ListState,
    list_id: str,
    operation: ListOperation,
    records: list[str],
    *,
    acknowledged: Callable[[list[str]], None] | None = None,
    too_large: Callable[[int], None] | None = None,
) -> None:
    """Send one batch under the write-ahead rule: pending before it leaves, acknowledged after Pinterest answered.

    A 413 splits it: the refused batch is discarded (not applied), and each half is sent the same way, in
    turn; a single record refused as too large is raised. `acknowledged` is called with every part Pinterest
    acknowledged (the whole batch when nothing was split); `too_large` with the size of every refused part.
    """
    batch = state.begin(operation, records)  # if the state cannot record it, it is not sent
    try:
        await client.update_customer_list(list_id, operation, records)
    except PinterestError as exc:
        if not _refused(exc):
            raise
        state.discard(batch)  # a definitive refusal: Pinterest changed nothing
        if exc.status != STATUS_TOO_LARGE:
            raise
        if too_large is not None:
            too_large(len(records))
        if len(records) == 1:
            raise InvalidRequest(
                "Pinterest (or a gateway before it) refused the request body as too large (413) even for a "
                f"single record, in a {operation.value} of customer list {list_id}.",
                resolution="A gateway between pinaudience and Pinterest limits request bodies below one record: "
                "check the proxy or PINTEREST_API_URI.",
                status=exc.status,
                code=exc.code,
                pinterest_message=exc.pinterest_message,
                request_id=exc.request_id,
                operation=exc.operation,
            ) from None
        middle = len(records) // 2
        for half in (records[:middle], records[middle:]):
            await send_batch(client, state, list_id, operation, half, acknowledged=acknowledged, too_large=too_large)
        return
    state.acknowledge(batch)
    if acknowledged is not None:
        acknowledged(records)


class Upload:
    """Sends a plan's batches, ADD first, at most `in_flight` at once (and no more than the client's
    `writes_in_flight_per_list`); `counts` grows as Pinterest acknowledges.

    `counts` is read by the caller also when `run` fails: it then holds what was acknowledged.
    """

    def __init__(
        self,
        client: PinterestClient,
        plan: Plan,
        *,
        batch_size: int,
        in_flight: int,
        label: str,
        observer: SyncObserver,
    ) -> None:
        self.client = client
        self.plan = plan
        self.batch_size = batch_size
        self.in_flight = max(min(in_flight, client.writes_in_flight_per_list), 1)
        self.label = label
        self.observer = observer
        self.records_total = plan.adds.count + plan.removes.count
        self.batches_total = batch_count(plan.adds.count, batch_size) + batch_count(plan.removes.count, batch_size)
        self.counts = UploadCounts()
        self.max_records: int | None = None
        """Records per request after a 413: half the smallest batch refused as too large (None: no 413 yet)."""
        self._sent_with_create = False

    def first_add_batch(self) -> list[str]:
        """The first ADD batch, which creates a missing list; [] when there are no adds."""
        return next(bounded_batches(self.plan.adds.iter_batches(self.batch_size)), [])

    def created_with(self, state: ListState, records: list[str]) -> None:
        """Journal and count the first ADD batch as acknowledged: the list was created with it, and answered."""
        state.acknowledge(state.begin(ListOperation.ADD, records))
        self._sent_with_create = True
        self._acknowledged(ListOperation.ADD, records)

    async def run(self, state: ListState, list_id: str) -> UploadCounts:
        """Send every batch of the plan not yet sent; raises the first failure once the batches in flight ended."""
        adds = bounded_batches(self.plan.adds.iter_batches(self.batch_size))
        if self._sent_with_create:
            next(adds, None)
        await self._send_all(state, list_id, ListOperation.ADD, adds)
        removes = bounded_batches(self.plan.removes.iter_batches(self.batch_size))
        await self._send_all(state, list_id, ListOperation.REMOVE, removes)
        return self.counts

    def _acknowledged(self, operation: ListOperation, records: list[str]) -> None:
        done = self.counts
        done.count(operation, len(records))
        self.observer(UploadProgress(self.label, done.records, self.records_total, done.batches, self.batches_total))

    async def _send_all(
        self, state: ListState, list_id: str, operation: ListOperation, batches: Iterator[list[str]]
    ) -> None:
        """Send every batch, at most `in_flight` at once; after a failure, start no new batch, let those
        in flight finish (each is journaled either way), then raise the first failure."""
        slots = asyncio.Semaphore(self.in_flight)
        failures: list[Exception] = []

        def acknowledged(records: list[str]) -> None:
            self._acknowledged(operation, records)

        def too_large(refused: int) -> None:
            ceiling = max(refused // 2, 1)
            self.batches_total += 1  # the refused batch goes as two
            self.max_records = ceiling if self.max_records is None else min(self.max_records, ceiling)

        async def send(records: list[str]) -> None:
            try:
                await send_batch(
                    self.client, state, list_id, operation, records, acknowledged=acknowledged, too_large=too_large
                )
            except Exception as exc:  # noqa: BLE001 - kept, and raised once the batches in flight are done
                failures.append(exc)
            finally:
                slots.release()

        parts = self._cut(batches)
        async with asyncio.TaskGroup() as group:
            while True:
                await slots.acquire()  # before the next batch is cut, so that it is cut to what is known now
                records = None if failures else next(parts, None)
                if records is None:
                    slots.release()
                    break
                group.create_task(send(records))
        if failures:
            raise failures[0]

    def _cut(self, batches: Iterator[list[str]]) -> Iterator[list[str]]:
        """The batches, each cut into parts of at most `max_records` once a 413 set it (read as each is sent)."""
        for batch in batches:
            start = 0
            while start < len(batch):
                size = self.max_records or len(batch)
                if start == 0 and size < len(batch):
                    self.batches_total += batch_count(len(batch), size) - 1
                yield batch[start : start + size]
                start += size


def batch_count(records: int, batch_size: int) -> int:
    return -(-records // batch_size)


def bounded_batches(batches: Iterable[list[str]]) -> Iterator[list[str]]:
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
