"""The upload: send a plan's batches to a customer list, each journaled in the state around its request.

The write-ahead rule is `send_batch`: a batch is written to the state as pending before it leaves, and
acknowledged once Pinterest answered; a batch Pinterest refused outright (a 4xx other than 429, which
changes nothing) is discarded. A batch still pending when a run ends has an unknown outcome: the next
run's plan sends its records again in whichever direction the file then says.

ADD batches go first, then REMOVE batches (see `pinaudience.engine.sync` for why), a few in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pinaudience.engine.events import SyncObserver, UploadProgress
from pinaudience.errors import PinterestError
from pinaudience.pinterest import limits
from pinaudience.pinterest.client import PinterestClient
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


async def send_batch(
    client: PinterestClient, state: ListState, list_id: str, operation: ListOperation, records: list[str]
) -> None:
    """Send one batch under the write-ahead rule: pending before it leaves, acknowledged after Pinterest answered."""
    batch = state.begin(operation, records)  # if the state cannot record it, it is not sent
    try:
        await client.update_customer_list(list_id, operation, records)
    except PinterestError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
            state.discard(batch)  # a definitive refusal: Pinterest changed nothing
        raise
    state.acknowledge(batch)


class Upload:
    """Sends a plan's batches, ADD first, at most `in_flight` at once; `counts` grows as Pinterest acknowledges.

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
        self.in_flight = max(in_flight, 1)
        self.label = label
        self.observer = observer
        self.records_total = plan.adds.count + plan.removes.count
        self.batches_total = batch_count(plan.adds.count, batch_size) + batch_count(plan.removes.count, batch_size)
        self.counts = UploadCounts()
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

        async def send(records: list[str]) -> None:
            try:
                await send_batch(self.client, state, list_id, operation, records)
                self._acknowledged(operation, records)
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
