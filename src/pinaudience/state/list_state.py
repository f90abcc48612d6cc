"""The state of one customer list: its metadata, its write-ahead journal, its membership and compaction.

`pinaudience.state.store` has the protocol (pending before sending, acknowledged after) and opens a
`ListState` per list; this module holds what one list does with the store's `Database` (SQLite or
PostgreSQL) and its `SnapshotStorage` (a folder of Parquet files, or PostgreSQL rows holding them): one
class, one SQL text and one compaction for both backends.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import polars as pl

from pinaudience.errors import StateError
from pinaudience.pinterest.limits import ListOperation
from pinaudience.state import compaction, encoding
from pinaudience.state.compaction import SnapshotStorage
from pinaudience.state.database import Database, state_error
from pinaudience.state.encoding import IDENTITY
from pinaudience.state.snapshot import SEQ, ConfirmedSet, Journal, JournalEntry, Snapshot, uncertain_set
from pinaudience.state.types import Batch, BatchStatus, CompactionResult, ListInfo, ListRef, Membership, opt

log = logging.getLogger("pinaudience.state.store")


class _Keep(enum.Enum):
    KEEP = enum.auto()


KEEP: Final = _Keep.KEEP
"""The default of `set_metadata`'s arguments: leave the stored value as it is."""


class ListState:
    """The state of one customer list: its metadata, its journal and its snapshot."""

    def __init__(
        self,
        db: Database,
        ref: ListRef,
        list_id: int,
        *,
        storage: SnapshotStorage,
        spill_rows: int,
        snapshot_rows: int,
        workdir: Path | None,
        delta_share: float = compaction.DELTA_SHARE,
    ) -> None:
        """`storage` holds this list's snapshots; the other arguments are the store's (see `StateStore`)."""
        self._db = db
        self.ref = ref
        self.id = list_id
        self._storage = storage
        self._spill_rows = spill_rows
        self._snapshot_rows = snapshot_rows
        self._workdir = workdir
        self._delta_share = delta_share

    def info(self) -> ListInfo:
        infos = read_infos(self._db, self.ref)
        info = infos[0] if infos else None
        if info is None:
            raise StateError(f"the state of {self.ref} was forgotten while in use")
        return info

    def set_metadata(
        self,
        *,
        list_type: str | _Keep | None = KEEP,
        list_name: str | _Keep | None = KEEP,
        audience_id: str | _Keep | None = KEEP,
        audience_name: str | _Keep | None = KEEP,
        audience_pending_since: float | _Keep | None = KEEP,
    ) -> None:
        """Record what the engine resolved; arguments left out keep their value."""
        given = {
            "list_type": list_type,
            "list_name": list_name,
            "audience_id": audience_id,
            "audience_name": audience_name,
            "audience_pending_since": audience_pending_since,
        }
        changes = {name: value for name, value in given.items() if not isinstance(value, _Keep)}
        if not changes:
            return
        assignments = ", ".join(f"{name} = ?" for name in changes)  # names come from the fixed dict above
        with self._db.write(f"update the metadata of {self.ref}") as db:
            db.execute(
                f"UPDATE lists SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608
                (*changes.values(), self._db.clock.now(), self.id),
            )

    # The write-ahead journal

    def begin(self, operation: ListOperation, records: Sequence[str] | pl.Series) -> Batch:
        """Durably record a batch as PENDING before it is sent; on `StateError`, do not send it."""
        operation = ListOperation(operation)
        try:
            frame = encoding.encode_records(records)
            blob = encoding.to_parquet_bytes(frame)
        except pl.exceptions.PolarsError:
            raise StateError(f"cannot encode a batch of {len(records)} records for {self.ref}") from None
        if frame.height == 0:
            raise ValueError("a batch needs at least one record")
        with self._db.write(f"record a batch of {frame.height} records for {self.ref}") as db:
            seq = int(
                db.execute(
                    "INSERT INTO batches (list_id, operation, status, count, records, created_at) "
                    "VALUES (?, ?, 'PENDING', ?, ?, ?) RETURNING seq",
                    (self.id, operation.value, frame.height, blob, self._db.clock.now()),
                ).fetchone()[0]
            )
            self._db.fault("batch.begin")
        log.debug("batch %d: %s of %d records pending", seq, operation.value, frame.height)
        return Batch(id=seq, operation=operation, count=frame.height)

    def acknowledge(self, batch: Batch | int) -> None:
        """Pinterest accepted the batch: it now counts in confirmed membership."""
        batch_id = batch.id if isinstance(batch, Batch) else batch
        with self._db.write(f"record that batch {batch_id} of {self.ref} was acknowledged") as db:
            cursor = db.execute(
                "UPDATE batches SET status = 'ACKNOWLEDGED', acknowledged_at = ? "
                "WHERE seq = ? AND list_id = ? AND status = 'PENDING'",
                (self._db.clock.now(), batch_id, self.id),
            )
            if cursor.rowcount != 1:
                raise StateError(f"batch {batch_id} of {self.ref} is not pending")
            self._db.fault("batch.acknowledge")

    def discard(self, batch: Batch | int) -> None:
        """Pinterest definitively rejected the batch (a 4xx): it changed nothing, so forget it."""
        batch_id = batch.id if isinstance(batch, Batch) else batch
        with self._db.write(f"discard batch {batch_id} of {self.ref}") as db:
            cursor = db.execute(
                "DELETE FROM batches WHERE seq = ? AND list_id = ? AND status = 'PENDING'", (batch_id, self.id)
            )
            if cursor.rowcount != 1:
                raise StateError(f"batch {batch_id} of {self.ref} is not pending")

    def pending(self) -> list[Batch]:
        """Batches whose outcome is unknown, oldest first."""
        rows = self._db.read(
            "SELECT seq, operation, count FROM batches WHERE list_id = ? AND status = 'PENDING' ORDER BY seq",
            (self.id,),
        )
        return [Batch(int(r[0]), ListOperation(str(r[1])), int(r[2])) for r in rows]

    # Reading membership

    def _snapshot_row(self) -> tuple[str | None, int, int, int]:
        rows = self._db.read(
            "SELECT snapshot, snapshot_bits, snapshot_count, snapshot_delta_rows FROM lists WHERE id = ?", (self.id,)
        )
        if not rows:
            raise StateError(f"the state of {self.ref} was forgotten while in use")
        name, bits, count, delta_rows = rows[0]
        return opt(name), int(bits), int(count), int(delta_rows)

    def _journal(self) -> tuple[Snapshot, Journal, list[tuple[int, str]]]:
        """The current snapshot and journal, read in one transaction so they belong together."""
        try:
            with self._db.read_transaction(f"read the journal of {self.ref}") as db:
                name, bits, count, delta_rows = self._snapshot_row()
                statuses = [
                    (int(r[0]), str(r[1]))
                    for r in db.execute("SELECT seq, status FROM batches WHERE list_id = ? ORDER BY seq", (self.id,))
                ]
                entries = (
                    JournalEntry(int(r[0]), r[1] == ListOperation.ADD.value, r[2] == BatchStatus.PENDING.value, r[3])
                    for r in db.execute(
                        "SELECT seq, operation, status, records FROM batches WHERE list_id = ? ORDER BY seq",
                        (self.id,),
                    )
                )
                journal = Journal(entries, spill_rows=self._spill_rows, workdir=self._workdir)
                try:
                    # In the same transaction: a database's list of snapshot files belongs to the row read above.
                    snapshot = self._storage.snapshot(name or None, bits, count, delta_rows)
                except StateError as error:
                    journal.close()
                    raise StateError(f"the snapshot of {self.ref} cannot be read: {error.message}") from None
        except pl.exceptions.PolarsError:
            raise StateError(f"the journal of {self.ref} is damaged") from None
        return snapshot, journal, statuses

    def membership(self) -> Membership:
        """Confirmed and uncertain records, valid until the next `compact()`; close it when done."""
        snapshot, journal, _ = self._journal()
        try:
            uncertain = uncertain_set(journal, spill_rows=self._spill_rows, workdir=self._workdir)
        except OSError as error:  # a journal spilled to a full or read-only temporary directory
            journal.close()
            raise state_error(f"read the journal of {self.ref}", error) from None
        return Membership(ConfirmedSet(snapshot, journal), uncertain, journal)

    # Compaction

    def compact(self) -> CompactionResult:
        """Fold acknowledged batches into a new snapshot; hold the list's lock while calling this.

        Any I/O failure (a full or read-only disk, here or where the journal spills) is a `StateError`:
        the old snapshot or the new one is current, with the same confirmed membership (docs/state.md).
        """
        try:
            return self._compact()
        except OSError as error:
            raise state_error(f"compact the state of {self.ref}", error) from None

    def _compact(self) -> CompactionResult:
        fault = self._db.fault
        snapshot, journal, statuses = self._journal()
        try:
            acknowledged = [seq for seq, status in statuses if status == BatchStatus.ACKNOWLEDGED.value]
            pending = [seq for seq, status in statuses if status == BatchStatus.PENDING.value]
            remaining = self._pending_remainders(journal, pending)
            layout = compaction.choose_layout(
                has_base=snapshot.present,
                base_bits=snapshot.bits,
                confirmed=snapshot.count,
                delta_rows=snapshot.delta_rows,
                acknowledged_rows=journal.acknowledged_rows,
                rows_per_file=self._snapshot_rows,
                delta_share=self._delta_share,
            )
            name = f"s{(statuses[-1][0] if statuses else 0):012d}-{uuid.uuid4().hex[:8]}"
            current_name = snapshot.name
            if acknowledged:
                try:
                    sink = self._storage.writer(name, base=current_name, fault=fault)
                    folded = compaction.fold(layout, snapshot, journal.effect, sink)
                    sink.commit()
                except OSError as error:
                    raise state_error(f"write a snapshot of {self.ref}", error) from None
                except pl.exceptions.PolarsError as error:
                    # Polars reports I/O failures, a full disk among them, as its own errors.
                    full = "os error 28" in str(error) or "No space left" in str(error)
                    detail = "no space left on the device" if full else type(error).__name__
                    raise StateError(f"cannot write a snapshot of {self.ref}: {detail}") from None
                fault("compact.files_written")
                count, bits, delta_rows = folded.count, layout.bits, folded.delta_rows
            else:
                count = snapshot.count
            with self._db.write(f"switch to the new snapshot of {self.ref}") as db:
                current = [
                    (int(r[0]), str(r[1]))
                    for r in db.execute(
                        "SELECT seq, status FROM batches WHERE list_id = ? AND seq <= ? ORDER BY seq",
                        (self.id, statuses[-1][0] if statuses else 0),
                    )
                ]
                if current != statuses:
                    raise StateError(
                        f"the journal of {self.ref} changed while it was compacted; nothing was lost, compact again"
                    )
                if acknowledged:
                    db.execute(
                        "UPDATE lists SET snapshot = ?, snapshot_bits = ?, snapshot_count = ?, "
                        "snapshot_delta_rows = ?, compacted_at = ?, updated_at = ? WHERE id = ?",
                        (name, bits, count, delta_rows, self._db.clock.now(), self._db.clock.now(), self.id),
                    )
                    db.executemany("DELETE FROM batches WHERE seq = ?", [(seq,) for seq in acknowledged])
                for seq in pending:
                    rest = remaining.get(seq)
                    if rest is None or rest.height == 0:
                        db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
                    else:
                        db.execute(
                            "UPDATE batches SET records = ?, count = ? WHERE seq = ?",
                            (encoding.to_parquet_bytes(rest), rest.height, seq),
                        )
            fault("compact.switched")
            self._storage.remove_others(keep=name if acknowledged else current_name)
            fault("compact.cleaned")
            self._db.shrink()
            uncertain = sum(frame.height for frame in remaining.values())
            log.info(
                "compacted %s: %d confirmed, %d batches folded (%s), %d uncertain",
                self.ref,
                count,
                len(acknowledged),
                "new base" if layout.full else "new delta" if acknowledged else "nothing to fold",
                uncertain,
            )
            return CompactionResult(confirmed=count, folded_batches=len(acknowledged), uncertain=uncertain)
        finally:
            journal.close()

    def _pending_remainders(self, journal: Journal, pending: list[int]) -> dict[int, pl.DataFrame]:
        """For each PENDING batch, the records whose latest entry it still is (sorted, encoded)."""
        if not pending:
            return {}
        frames = list(journal.iter_uncertain())
        if not frames:
            return {seq: encoding.empty_encoded() for seq in pending}
        rows = pl.concat(frames)
        return {seq: encoding.sort_encoded(rows.filter(pl.col(SEQ) == seq).select(IDENTITY)) for seq in pending}


_INFOS = (
    "SELECT l.api_base, l.ad_account_id, l.customer_list_id, l.list_type, l.list_name, l.audience_id, "
    "l.audience_name, l.snapshot_count, l.created_at, l.updated_at, l.compacted_at, "
    "COALESCE(SUM(CASE WHEN b.status = 'ACKNOWLEDGED' THEN 1 ELSE 0 END), 0), "
    "COALESCE(SUM(CASE WHEN b.status = 'PENDING' THEN 1 ELSE 0 END), 0), "
    "COALESCE(SUM(CASE WHEN b.status = 'PENDING' THEN b.count ELSE 0 END), 0), l.audience_pending_since "
    "FROM lists l LEFT JOIN batches b ON b.list_id = l.id "
)
_GROUPED = "GROUP BY l.id ORDER BY l.api_base, l.ad_account_id, l.customer_list_id"


def read_infos(db: Database, ref: ListRef | None) -> list[ListInfo]:
    """What the database knows about `ref` (every list when None), ordered by API base, ad account, list id."""
    if ref is None:
        rows = db.read(_INFOS + _GROUPED)
    else:
        rows = db.read(
            _INFOS + "WHERE l.api_base = ? AND l.ad_account_id = ? AND l.customer_list_id = ? " + _GROUPED,
            (ref.api_base, ref.ad_account_id, ref.customer_list_id),
        )
    return [
        ListInfo(
            ref=ListRef(str(r[0]), str(r[1]), str(r[2])),
            list_type=opt(r[3]),
            list_name=opt(r[4]),
            audience_id=opt(r[5]),
            audience_name=opt(r[6]),
            snapshot_count=int(r[7]),
            created_at=float(r[8]),
            updated_at=float(r[9]),
            compacted_at=None if r[10] is None else float(r[10]),
            acknowledged_batches=int(r[11]),
            pending_batches=int(r[12]),
            pending_records=int(r[13]),
            audience_pending_since=None if r[14] is None else float(r[14]),
        )
        for r in rows
    ]
