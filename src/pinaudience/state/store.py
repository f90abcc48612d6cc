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
4. `compact()` at the end of a run folds the journal into a new snapshot (a delta beside the reused base
   files while the delta is small, else a new base: `pinaudience.state.compaction`): new Parquet files
   first, then one SQLite transaction that switches the snapshot pointer and drops the folded batches,
   then the old files are deleted. A crash at any step leaves either the old or the new snapshot, with the same
   confirmed membership. docs/state.md has the whole argument.

Layout of the directory:

```
state.sqlite3 (+ -wal, -shm)        metadata and journal (pinaudience.state.schema)
snapshots/<list id>/<name>/         one directory per snapshot: part-NNNNN.parquet (base), delta-NNNNN.parquet
locks/<sha256 of the key>.lock      advisory locks (`StateStore.lock`)
```

Records are stored, never logged: errors and logs carry counts, batch ids and list ids only.

This module holds the `StateBackend` protocol (what the engine and the CLI use of either backend), the
`StoreBase` both backends share (lists, metadata, forgetting), and the embedded store: the directory, its
locks and its lists; `postgres` is the PostgreSQL store; `database` holds the SQLite connection and its
transactions, `list_state` what one list does (metadata, journal, membership, compaction) through the
database's public methods, `snapshot` the Parquet snapshots, `compaction` what a compaction writes (apart
from where it writes it), `types` the values they exchange.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Protocol

import filelock

from pinaudience.clock import Clock, SystemClock
from pinaudience.errors import StateLocked
from pinaudience.state.compaction import DELTA_SHARE, SnapshotStorage
from pinaudience.state.database import DB_NAME, FAULT_POINTS, Database, FaultHook, StateDatabase, no_fault, state_error
from pinaudience.state.event_journal import EventJournal
from pinaudience.state.list_state import KEEP, ListState, read_infos
from pinaudience.state.snapshot import ROWS_PER_SNAPSHOT_FILE, FolderStorage
from pinaudience.state.types import Batch, BatchStatus, CompactionResult, ListInfo, ListRef, Membership
from pinaudience.support.paths import default_state_dir

__all__ = [
    "DB_NAME",
    "FAULT_POINTS",
    "KEEP",
    "LOCKS",
    "SNAPSHOTS",
    "Batch",
    "BatchStatus",
    "CompactionResult",
    "FaultHook",
    "ListInfo",
    "ListRef",
    "ListState",
    "Membership",
    "StateBackend",
    "StateLock",
    "StateStore",
    "StoreBase",
    "list_target",
    "lock_key",
]

log = logging.getLogger(__name__)

SNAPSHOTS = "snapshots"
LOCKS = "locks"


def lock_key(api_base: str, ad_account_id: str, target: str) -> str:
    """The state lock of one destination (`audience:ID`, `list:ID` or `name:NAME`) of one ad account and API."""
    return f"{api_base}|{ad_account_id}|{target}"


def list_target(customer_list_id: str) -> str:
    """A resolved (or created) list's lock target; `pinaudience state forget` takes the same lock."""
    return f"list:{customer_list_id}"


class StateLock:
    """A held advisory lock; released by `release()` or at the end of a `with` block."""

    def __init__(self, key: str, release: Callable[[], None]) -> None:
        """`release` gives the lock back (a file lock's release, or closing a PostgreSQL session)."""
        self.key = key
        self._release: Callable[[], None] | None = release

    @property
    def held(self) -> bool:
        return self._release is not None

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> StateLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class StateBackend(Protocol):
    """What the engine and the CLI use of a state store, whichever backend holds it.

    `StateStore` (a directory: SQLite and Parquet files) and `pinaudience.state.postgres.PostgresStateStore`
    (a PostgreSQL database) implement it; `pinaudience.state.open_state` picks one from a location.
    """

    @property
    def location(self) -> str:
        """Where the state is, to show a user: a directory, or a URL without its password."""
        ...

    def lock(self, key: str) -> StateLock:
        """Take the advisory lock named `key` now, or raise `StateLocked`."""
        ...

    def open_list(self, ref: ListRef) -> ListState: ...

    def find_list(self, ref: ListRef) -> ListInfo | None: ...

    def lists(self) -> list[ListInfo]: ...

    def forget(self, ref: ListRef) -> bool: ...

    def event_journal(self, api_base: str, ad_account_id: str) -> EventJournal:
        """The conversion events Pinterest acknowledged for one ad account (`pinaudience.state.event_journal`)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> StateBackend: ...

    def __exit__(self, *exc: object) -> None: ...


class StoreBase:
    """What both backends do the same way with their `Database`: lists, their metadata and forgetting them."""

    _db: Database
    _spill_rows: int
    _snapshot_rows: int
    _workdir: Path | None
    _delta_share: float

    def _storage(self, list_id: int) -> SnapshotStorage:
        raise NotImplementedError

    def _drop_snapshots(self, list_id: int) -> None:
        """Delete what is left of a forgotten list's snapshots once its row is gone."""
        raise NotImplementedError

    def open_list(self, ref: ListRef) -> ListState:
        """The state of one list, created (empty) on first use."""
        now = self._db.clock.now()
        with self._db.write(f"record {ref}") as db:
            db.execute(
                "INSERT INTO lists (api_base, ad_account_id, customer_list_id, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (ref.api_base, ref.ad_account_id, ref.customer_list_id, now, now),
            )
        list_id = self._list_id(ref)
        assert list_id is not None
        return ListState(
            self._db,
            ref,
            list_id,
            storage=self._storage(list_id),
            spill_rows=self._spill_rows,
            snapshot_rows=self._snapshot_rows,
            workdir=self._workdir,
            delta_share=self._delta_share,
        )

    def _list_id(self, ref: ListRef) -> int | None:
        rows = self._db.read(
            "SELECT id FROM lists WHERE api_base = ? AND ad_account_id = ? AND customer_list_id = ?",
            (ref.api_base, ref.ad_account_id, ref.customer_list_id),
        )
        return int(rows[0][0]) if rows else None

    def find_list(self, ref: ListRef) -> ListInfo | None:
        """What the store knows about `ref`, or None; never creates anything."""
        infos = read_infos(self._db, ref)
        return infos[0] if infos else None

    def lists(self) -> list[ListInfo]:
        """Every list the store holds, ordered by API base, ad account and list id."""
        return read_infos(self._db, None)

    def event_journal(self, api_base: str, ad_account_id: str) -> EventJournal:
        """The conversion events Pinterest acknowledged for one ad account at one API base."""
        return EventJournal(self._db, api_base, ad_account_id)

    def forget(self, ref: ListRef) -> bool:
        """Drop everything recorded about `ref` (hold its lock); True if there was anything."""
        list_id = self._list_id(ref)
        if list_id is None:
            return False
        with self._db.write(f"forget {ref}") as db:
            db.execute("DELETE FROM lists WHERE id = ?", (list_id,))
        self._drop_snapshots(list_id)
        log.info("forgot the state of %s", ref)
        return True


class StateStore(StoreBase):
    """One state directory holding many customer lists: the embedded backend."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        clock: Clock | None = None,
        faults: FaultHook | None = None,
        spill_rows: int = 2_000_000,
        snapshot_rows: int = ROWS_PER_SNAPSHOT_FILE,
        workdir: Path | None = None,
        delta_share: float = DELTA_SHARE,
    ) -> None:
        """Open (creating if needed) the store; raises `StateError` if the directory cannot be written.

        `faults` is called at each writing step (tests crash the store there); `spill_rows` bounds how
        many journal records are held in memory; a snapshot of more than `snapshot_rows` records is
        split into several files; `workdir` holds temporary spill files (default: the system's
        temporary directory); a compaction folds the journal into a delta beside the snapshot's base files
        until the delta would pass `delta_share` of the membership, then into a new base
        (`pinaudience.state.compaction`).
        """
        self.directory = Path(directory) if directory is not None else default_state_dir()
        self._clock: Clock = clock or SystemClock()
        self._fault = faults or no_fault
        self._spill_rows = spill_rows
        self._snapshot_rows = snapshot_rows
        self._workdir = workdir
        self._delta_share = delta_share
        try:
            for sub in (self.directory, self.directory / SNAPSHOTS, self.directory / LOCKS):
                sub.mkdir(parents=True, exist_ok=True)
            self._probe()
        except OSError as error:
            raise state_error(f"use the state directory {self.directory}", error) from None
        self._db = StateDatabase(self.directory, clock=self._clock, faults=self._fault)
        try:
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

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def location(self) -> str:
        return str(self.directory)

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
            raise state_error(f"take the lock on {key}", error) from None
        return StateLock(key, lambda: lock.release(force=True))

    # Lists

    def _storage(self, list_id: int) -> FolderStorage:
        return FolderStorage(self.directory / SNAPSHOTS / str(list_id))

    def _drop_snapshots(self, list_id: int) -> None:
        # Ids are never reused (AUTOINCREMENT), so the folder of a forgotten id can go at any time.
        shutil.rmtree(self.directory / SNAPSHOTS / str(list_id), ignore_errors=True)

    def _forget_orphans(self) -> None:
        """Delete snapshot folders of lists forgotten by a run that died before deleting them."""
        known = {str(r[0]) for r in self._db.read("SELECT id FROM lists")}
        with contextlib.suppress(OSError):
            for folder in (self.directory / SNAPSHOTS).iterdir():
                if folder.name.isdigit() and folder.name not in known:
                    shutil.rmtree(folder, ignore_errors=True)
