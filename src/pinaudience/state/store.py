"""The state store: what Pinterest was confirmed to hold, per customer list, and how it stays true.

Pinterest cannot list a customer list's members, so this record is the only truth a mirror has. Its
rule is the write-ahead intent:

1. `ListState.begin(op, records)` writes the batch durably as PENDING (SQLite, WAL, `synchronous=FULL`).
   If that fails it raises `StateError`, and the caller must not send the batch.
2. Pinterest acknowledged it: `acknowledge(batch)`; it now counts in confirmed membership.
   Pinterest definitively rejected it (a 4xx): `discard(batch)`; nothing changed at Pinterest.
   Anything else (a crash, a kill, 5xx after every retry): it stays PENDING, outcome unknown.
3. The next run reads `membership()`: `confirmed` (snapshot + acknowledged batches) and `uncertain`
   (records whose latest batch is still PENDING). The planner adds the uncertain records it wants and
   removes the others; ADD and REMOVE are idempotent at Pinterest, so a file that changed between the
   runs leaves no orphans.
4. `compact()` at the end of a run folds the journal into a new snapshot: new Parquet files first, then
   one SQLite transaction that switches the snapshot pointer and drops the folded batches, then the old
   files are deleted. A crash at any step leaves either the old or the new snapshot, with the same
   confirmed membership. docs/state.md has the whole argument.

Layout of the directory:

```
state.sqlite3 (+ -wal, -shm)        metadata and journal (pinaudience.state.schema)
snapshots/<list id>/<name>/         one directory of part-NNNNN.parquet files per snapshot
locks/<sha256 of the key>.lock      advisory locks (`StateStore.lock`)
```

Records are stored, never logged: errors and logs carry counts, batch ids and list ids only.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import hashlib
import logging
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

import filelock
import polars as pl

from pinaudience.clock import Clock, SystemClock
from pinaudience.errors import StateError, StateLocked
from pinaudience.pinterest.limits import ListOperation
from pinaudience.records.recordset import RecordSet
from pinaudience.state import encoding, schema
from pinaudience.state.encoding import IDENTITY
from pinaudience.state.snapshot import (
    ROWS_PER_SNAPSHOT_FILE,
    SEQ,
    ConfirmedSet,
    Journal,
    JournalEntry,
    Snapshot,
    snapshot_bits,
    uncertain_set,
    write_snapshot,
)
from pinaudience.support.paths import default_state_dir

log = logging.getLogger(__name__)

DB_NAME = "state.sqlite3"
SNAPSHOTS = "snapshots"
LOCKS = "locks"

FaultHook = Callable[[str], None]
"""Called with the name of each step that writes (see `FAULT_POINTS`); tests raise from it to crash there."""

FAULT_POINTS: Final = (
    "open.probe",
    "batch.begin",
    "batch.acknowledge",
    "compact.partition_written",
    "compact.files_written",
    "compact.switched",
    "compact.cleaned",
)


def _no_fault(step: str) -> None:
    return None


class BatchStatus(enum.StrEnum):
    PENDING = "PENDING"
    """Written before sending; the outcome is unknown until acknowledged or discarded."""
    ACKNOWLEDGED = "ACKNOWLEDGED"


@dataclass(frozen=True)
class ListRef:
    """Which customer list: Pinterest's ids are only unique per API base and ad account."""

    api_base: str
    ad_account_id: str
    customer_list_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_base", self.api_base.rstrip("/"))

    def __str__(self) -> str:
        return f"customer list {self.customer_list_id} of ad account {self.ad_account_id} at {self.api_base}"


@dataclass(frozen=True)
class Batch:
    """A batch written as PENDING; pass it (or its id) to `acknowledge` or `discard`."""

    id: int
    operation: ListOperation
    count: int


@dataclass(frozen=True)
class ListInfo:
    """What the store knows about one list (for `pinaudience state show`)."""

    ref: ListRef
    list_type: str | None
    list_name: str | None
    audience_id: str | None
    audience_name: str | None
    snapshot_count: int
    """Records in the current snapshot (confirmed membership once the journal is compacted)."""
    acknowledged_batches: int
    """Acknowledged batches not yet compacted into the snapshot."""
    pending_batches: int
    """Batches whose outcome is unknown (a run ended before Pinterest answered)."""
    pending_records: int
    created_at: float
    updated_at: float
    compacted_at: float | None


@dataclass(frozen=True)
class CompactionResult:
    confirmed: int
    """Records in the new snapshot."""
    folded_batches: int
    """Acknowledged batches folded into it and dropped from the journal."""
    uncertain: int
    """Records still uncertain (kept as PENDING batches)."""


class Membership:
    """A list's confirmed and uncertain records, read together; close it (or use `with`) when done."""

    def __init__(self, confirmed: ConfirmedSet, uncertain: RecordSet, journal: Journal) -> None:
        self.confirmed = confirmed
        self.uncertain = uncertain
        self._journal = journal

    def close(self) -> None:
        self.uncertain.close()
        self._journal.close()

    def __enter__(self) -> Membership:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StateLock:
    """A held advisory lock; released by `release()` or at the end of a `with` block."""

    def __init__(self, lock: filelock.BaseFileLock, key: str) -> None:
        self._lock = lock
        self.key = key

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

    def __enter__(self) -> StateLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _state_error(action: str, error: BaseException) -> StateError:
    # sqlite3 and OS messages name files and conditions, never values; keep only those.
    detail = os.strerror(error.errno) if isinstance(error, OSError) and error.errno else str(error)
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        detail = "no space left on the device"
    return StateError(f"cannot {action}: {detail}")


class StateStore:
    """One state directory holding many customer lists."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        clock: Clock | None = None,
        faults: FaultHook | None = None,
        spill_rows: int = 2_000_000,
        snapshot_rows: int = ROWS_PER_SNAPSHOT_FILE,
        workdir: Path | None = None,
    ) -> None:
        """Open (creating if needed) the store; raises `StateError` if the directory cannot be written.

        `faults` is called at each writing step (tests crash the store there); `spill_rows` bounds how
        many journal records are held in memory; a snapshot of more than `snapshot_rows` records is
        split into several files; `workdir` holds temporary spill files (default: the system's
        temporary directory).
        """
        self.directory = Path(directory) if directory is not None else default_state_dir()
        self._clock: Clock = clock or SystemClock()
        self._fault = faults or _no_fault
        self._spill_rows = spill_rows
        self._snapshot_rows = snapshot_rows
        self._workdir = workdir
        self._mutex = threading.RLock()
        try:
            for sub in (self.directory, self.directory / SNAPSHOTS, self.directory / LOCKS):
                sub.mkdir(parents=True, exist_ok=True)
            self._probe()
        except OSError as error:
            raise _state_error(f"use the state directory {self.directory}", error) from None
        try:
            self._db = sqlite3.connect(
                self.directory / DB_NAME, isolation_level=None, check_same_thread=False, timeout=30.0
            )
        except sqlite3.Error as error:
            raise _state_error(f"open the state database in {self.directory}", error) from None
        try:
            self._configure()
            self._migrate()
            with self._write("open the state database"):
                self._db.execute(
                    "INSERT INTO meta (name, value) VALUES ('opened_at', ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (str(self._clock.now()),),
                )
            self._forget_orphans()
        except BaseException:
            self._db.close()
            raise

    def _probe(self) -> None:
        # SQLite opens a read-only directory without complaint and fails at the first write; find out now.
        probe = self.directory / f".probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            with probe.open("wb") as handle:
                handle.write(b"pinaudience")
                self._fault("open.probe")
                handle.flush()
                os.fsync(handle.fileno())  # a probe, not a write to keep: some disks refuse only at fsync
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    def _configure(self) -> None:
        try:
            # Takes effect only in a new, empty database (so it comes first); lets compaction give pages back.
            self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("state database is in %s journal mode, not WAL", mode)
            # FULL: a committed PENDING intent is on disk before its batch is sent.
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise _state_error(f"configure the state database in {self.directory}", error) from None

    def _migrate(self) -> None:
        try:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise _state_error(f"read the state database in {self.directory}", error) from None
        if version > schema.SCHEMA_VERSION:
            raise StateError(
                f"the state in {self.directory} has schema version {version}, newer than this pinaudience "
                f"knows ({schema.SCHEMA_VERSION})",
                resolution="Upgrade pinaudience to the version that wrote this state, or choose another --state.",
            )
        for target in range(version + 1, schema.SCHEMA_VERSION + 1):
            with self._write(f"upgrade the state schema to version {target}"):
                schema.MIGRATIONS[target](self._db)
                self._db.execute(f"PRAGMA user_version = {target:d}")
            log.info("state schema upgraded to version %d", target)

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction; any failure rolls it back and becomes a `StateError`."""
        with self._mutex:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise _state_error(action, error) from None
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as error:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error | OSError):
                    raise _state_error(action, error) from None
                raise

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._mutex:
            try:
                return list(self._db.execute(sql, args).fetchall())
            except sqlite3.Error as error:
                raise _state_error("read the state database", error) from None

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    def _shrink(self) -> None:
        """Give the pages of compacted batches back to the file system (a journal can reach gigabytes)."""
        with self._mutex:
            try:
                # executescript steps the pragma to completion; execute() would free a single page.
                self._db.executescript("PRAGMA incremental_vacuum;")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error as error:
                # Only space is at stake; the next compaction tries again.
                log.warning("could not shrink the state database: %s", error)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Locks

    def lock(self, key: str) -> StateLock:
        """Take the advisory lock named `key` now, or raise `StateLocked` if another holder has it."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        path = self.directory / LOCKS / f"{digest}.lock"
        lock = filelock.FileLock(path, timeout=0, blocking=False, thread_local=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise StateLocked(f"another pinaudience run holds the lock on {key}") from None
        except OSError as error:
            raise _state_error(f"take the lock on {key}", error) from None
        return StateLock(lock, key)

    # Lists

    def open_list(self, ref: ListRef) -> ListState:
        """The state of one list, created (empty) on first use."""
        now = self._clock.now()
        with self._write(f"record {ref}"):
            self._db.execute(
                "INSERT INTO lists (api_base, ad_account_id, customer_list_id, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (ref.api_base, ref.ad_account_id, ref.customer_list_id, now, now),
            )
        row = self._read(
            "SELECT id FROM lists WHERE api_base = ? AND ad_account_id = ? AND customer_list_id = ?",
            (ref.api_base, ref.ad_account_id, ref.customer_list_id),
        )
        return ListState(self, ref, int(row[0][0]))  # type: ignore[call-overload]

    def find_list(self, ref: ListRef) -> ListInfo | None:
        """What the store knows about `ref`, or None; never creates anything."""
        infos = self._infos(ref)
        return infos[0] if infos else None

    def lists(self) -> list[ListInfo]:
        """Every list the store holds, ordered by API base, ad account and list id."""
        return self._infos(None)

    def _infos(self, ref: ListRef | None) -> list[ListInfo]:
        wanted = (None, None, None) if ref is None else (ref.api_base, ref.ad_account_id, ref.customer_list_id)
        rows = self._read(
            "SELECT l.api_base, l.ad_account_id, l.customer_list_id, l.list_type, l.list_name, l.audience_id, "
            "l.audience_name, l.snapshot_count, l.created_at, l.updated_at, l.compacted_at, "
            "COALESCE(SUM(b.status = 'ACKNOWLEDGED'), 0), COALESCE(SUM(b.status = 'PENDING'), 0), "
            "COALESCE(SUM(CASE WHEN b.status = 'PENDING' THEN b.count ELSE 0 END), 0) "
            "FROM lists l LEFT JOIN batches b ON b.list_id = l.id "
            "WHERE ?1 IS NULL OR (l.api_base = ?1 AND l.ad_account_id = ?2 AND l.customer_list_id = ?3) "
            "GROUP BY l.id ORDER BY l.api_base, l.ad_account_id, l.customer_list_id",
            wanted,
        )
        return [
            ListInfo(
                ref=ListRef(str(r[0]), str(r[1]), str(r[2])),
                list_type=_opt(r[3]),
                list_name=_opt(r[4]),
                audience_id=_opt(r[5]),
                audience_name=_opt(r[6]),
                snapshot_count=int(r[7]),  # type: ignore[call-overload]
                created_at=float(r[8]),  # type: ignore[arg-type]
                updated_at=float(r[9]),  # type: ignore[arg-type]
                compacted_at=None if r[10] is None else float(r[10]),  # type: ignore[arg-type]
                acknowledged_batches=int(r[11]),  # type: ignore[call-overload]
                pending_batches=int(r[12]),  # type: ignore[call-overload]
                pending_records=int(r[13]),  # type: ignore[call-overload]
            )
            for r in rows
        ]

    def forget(self, ref: ListRef) -> bool:
        """Drop everything recorded about `ref` (hold its lock); True if there was anything."""
        rows = self._read(
            "SELECT id FROM lists WHERE api_base = ? AND ad_account_id = ? AND customer_list_id = ?",
            (ref.api_base, ref.ad_account_id, ref.customer_list_id),
        )
        if not rows:
            return False
        list_id = int(rows[0][0])  # type: ignore[call-overload]
        with self._write(f"forget {ref}"):
            self._db.execute("DELETE FROM lists WHERE id = ?", (list_id,))
        # Ids are never reused (AUTOINCREMENT), so the folder of a forgotten id can go at any time.
        shutil.rmtree(self.directory / SNAPSHOTS / str(list_id), ignore_errors=True)
        log.info("forgot the state of %s", ref)
        return True

    def _forget_orphans(self) -> None:
        """Delete snapshot folders of lists forgotten by a run that died before deleting them."""
        known = {str(r[0]) for r in self._read("SELECT id FROM lists")}
        with contextlib.suppress(OSError):
            for folder in (self.directory / SNAPSHOTS).iterdir():
                if folder.name.isdigit() and folder.name not in known:
                    shutil.rmtree(folder, ignore_errors=True)


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


class _Keep(enum.Enum):
    KEEP = enum.auto()


KEEP: Final = _Keep.KEEP
"""The default of `set_metadata`'s arguments: leave the stored value as it is."""


class ListState:
    """The state of one customer list: its metadata, its journal and its snapshot."""

    def __init__(self, store: StateStore, ref: ListRef, list_id: int) -> None:
        self._store = store
        self.ref = ref
        self.id = list_id

    @property
    def _folder(self) -> Path:
        return self._store.directory / SNAPSHOTS / str(self.id)

    def info(self) -> ListInfo:
        info = self._store.find_list(self.ref)
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
    ) -> None:
        """Record what the engine resolved; arguments left out keep their value."""
        given = {
            "list_type": list_type,
            "list_name": list_name,
            "audience_id": audience_id,
            "audience_name": audience_name,
        }
        changes = {name: value for name, value in given.items() if not isinstance(value, _Keep)}
        if not changes:
            return
        assignments = ", ".join(f"{name} = ?" for name in changes)  # names come from the fixed dict above
        with self._store._write(f"update the metadata of {self.ref}"):
            self._store._db.execute(
                f"UPDATE lists SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608
                (*changes.values(), self._store._clock.now(), self.id),
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
        with self._store._write(f"record a batch of {frame.height} records for {self.ref}"):
            cursor = self._store._db.execute(
                "INSERT INTO batches (list_id, operation, status, count, records, created_at) "
                "VALUES (?, ?, 'PENDING', ?, ?, ?)",
                (self.id, operation.value, frame.height, blob, self._store._clock.now()),
            )
            self._store._fault("batch.begin")
        assert cursor.lastrowid is not None
        log.debug("batch %d: %s of %d records pending", cursor.lastrowid, operation.value, frame.height)
        return Batch(id=cursor.lastrowid, operation=operation, count=frame.height)

    def acknowledge(self, batch: Batch | int) -> None:
        """Pinterest accepted the batch: it now counts in confirmed membership."""
        batch_id = batch.id if isinstance(batch, Batch) else batch
        with self._store._write(f"record that batch {batch_id} of {self.ref} was acknowledged"):
            cursor = self._store._db.execute(
                "UPDATE batches SET status = 'ACKNOWLEDGED', acknowledged_at = ? "
                "WHERE seq = ? AND list_id = ? AND status = 'PENDING'",
                (self._store._clock.now(), batch_id, self.id),
            )
            if cursor.rowcount != 1:
                raise StateError(f"batch {batch_id} of {self.ref} is not pending")
            self._store._fault("batch.acknowledge")

    def discard(self, batch: Batch | int) -> None:
        """Pinterest definitively rejected the batch (a 4xx): it changed nothing, so forget it."""
        batch_id = batch.id if isinstance(batch, Batch) else batch
        with self._store._write(f"discard batch {batch_id} of {self.ref}"):
            cursor = self._store._db.execute(
                "DELETE FROM batches WHERE seq = ? AND list_id = ? AND status = 'PENDING'", (batch_id, self.id)
            )
            if cursor.rowcount != 1:
                raise StateError(f"batch {batch_id} of {self.ref} is not pending")

    def pending(self) -> list[Batch]:
        """Batches whose outcome is unknown, oldest first."""
        rows = self._store._read(
            "SELECT seq, operation, count FROM batches WHERE list_id = ? AND status = 'PENDING' ORDER BY seq",
            (self.id,),
        )
        return [Batch(int(r[0]), ListOperation(str(r[1])), int(r[2])) for r in rows]  # type: ignore[call-overload]

    # Reading membership

    def _snapshot_row(self) -> tuple[str | None, int, int]:
        rows = self._store._read("SELECT snapshot, snapshot_bits, snapshot_count FROM lists WHERE id = ?", (self.id,))
        if not rows:
            raise StateError(f"the state of {self.ref} was forgotten while in use")
        name, bits, count = rows[0]
        return _opt(name), int(bits), int(count)  # type: ignore[call-overload]

    def _journal(self) -> tuple[Snapshot, Journal, list[tuple[int, str]]]:
        """The current snapshot and journal, read in one transaction so they belong together."""
        store = self._store
        with store._mutex:
            try:
                store._db.execute("BEGIN")
                name, bits, count = self._snapshot_row()
                statuses = [
                    (int(r[0]), str(r[1]))
                    for r in store._db.execute(
                        "SELECT seq, status FROM batches WHERE list_id = ? ORDER BY seq", (self.id,)
                    )
                ]
                entries = (
                    JournalEntry(int(r[0]), r[1] == ListOperation.ADD.value, r[2] == BatchStatus.PENDING.value, r[3])
                    for r in store._db.execute(
                        "SELECT seq, operation, status, records FROM batches WHERE list_id = ? ORDER BY seq",
                        (self.id,),
                    )
                )
                journal = Journal(entries, spill_rows=store._spill_rows, workdir=store._workdir)
                store._db.execute("COMMIT")
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    store._db.execute("ROLLBACK")
                raise _state_error(f"read the journal of {self.ref}", error) from None
            except pl.exceptions.PolarsError:
                with contextlib.suppress(sqlite3.Error):
                    store._db.execute("ROLLBACK")
                raise StateError(f"the journal of {self.ref} is damaged") from None
        snapshot = Snapshot(self._folder / name if name else None, bits, count)
        if snapshot.directory is not None and not snapshot.directory.is_dir():
            journal.close()
            raise StateError(f"the snapshot of {self.ref} is missing from {self._folder}")
        return snapshot, journal, statuses

    def membership(self) -> Membership:
        """Confirmed and uncertain records, valid until the next `compact()`; close it when done."""
        snapshot, journal, _ = self._journal()
        try:
            uncertain = uncertain_set(journal, spill_rows=self._store._spill_rows, workdir=self._store._workdir)
        except OSError as error:  # a journal spilled to a full or read-only temporary directory
            journal.close()
            raise _state_error(f"read the journal of {self.ref}", error) from None
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
            raise _state_error(f"compact the state of {self.ref}", error) from None

    def _compact(self) -> CompactionResult:
        store = self._store
        fault = store._fault
        snapshot, journal, statuses = self._journal()
        try:
            confirmed = ConfirmedSet(snapshot, journal)
            acknowledged = [seq for seq, status in statuses if status == BatchStatus.ACKNOWLEDGED.value]
            pending = [seq for seq, status in statuses if status == BatchStatus.PENDING.value]
            remaining = self._pending_remainders(journal, pending)
            estimate = snapshot.count + journal.acknowledged_rows
            bits = snapshot_bits(estimate, store._snapshot_rows)
            name = f"s{(statuses[-1][0] if statuses else 0):012d}-{uuid.uuid4().hex[:8]}"
            target = self._folder / name
            if acknowledged:
                try:
                    count = write_snapshot(target, bits, confirmed.encoded_partition, fault)
                except OSError as error:
                    raise _state_error(f"write a snapshot of {self.ref}", error) from None
                except pl.exceptions.PolarsError as error:
                    # Polars reports I/O failures, a full disk among them, as its own errors.
                    full = "os error 28" in str(error) or "No space left" in str(error)
                    detail = "no space left on the device" if full else type(error).__name__
                    raise StateError(f"cannot write a snapshot of {self.ref}: {detail}") from None
                fault("compact.files_written")
            else:
                count = snapshot.count
            with store._write(f"switch to the new snapshot of {self.ref}"):
                current = [
                    (int(r[0]), str(r[1]))
                    for r in store._db.execute(
                        "SELECT seq, status FROM batches WHERE list_id = ? AND seq <= ? ORDER BY seq",
                        (self.id, statuses[-1][0] if statuses else 0),
                    )
                ]
                if current != statuses:
                    raise StateError(
                        f"the journal of {self.ref} changed while it was compacted; nothing was lost, compact again"
                    )
                if acknowledged:
                    store._db.execute(
                        "UPDATE lists SET snapshot = ?, snapshot_bits = ?, snapshot_count = ?, compacted_at = ?, "
                        "updated_at = ? WHERE id = ?",
                        (name, bits, count, store._clock.now(), store._clock.now(), self.id),
                    )
                    store._db.executemany("DELETE FROM batches WHERE seq = ?", [(seq,) for seq in acknowledged])
                for seq in pending:
                    rest = remaining.get(seq)
                    if rest is None or rest.height == 0:
                        store._db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
                    else:
                        store._db.execute(
                            "UPDATE batches SET records = ?, count = ? WHERE seq = ?",
                            (encoding.to_parquet_bytes(rest), rest.height, seq),
                        )
            fault("compact.switched")
            self._remove_other_snapshots(keep=name if acknowledged else snapshot.directory)
            fault("compact.cleaned")
            self._store._shrink()
            uncertain = sum(frame.height for frame in remaining.values())
            log.info(
                "compacted %s: %d confirmed, %d batches folded, %d uncertain",
                self.ref,
                count,
                len(acknowledged),
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

    def _remove_other_snapshots(self, keep: str | Path | None) -> None:
        keep_name = keep.name if isinstance(keep, Path) else keep
        if not self._folder.is_dir():
            return
        for child in self._folder.iterdir():
            if child.name != keep_name:
                shutil.rmtree(child, ignore_errors=True)
