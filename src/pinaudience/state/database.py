"""The state database: one SQLite connection (WAL, `synchronous=FULL`), its schema and its transactions.

Every write is one `BEGIN IMMEDIATE` transaction (`write`); reads that must see one consistent moment
use `read_transaction`; every SQLite or OS failure becomes a `StateError` naming the action, never a
record. The store and each list's state share one `StateDatabase` and use only its public methods.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Final, Protocol

from pinaudience.clock import Clock
from pinaudience.errors import StateError
from pinaudience.state import schema

log = logging.getLogger("pinaudience.state.store")

DB_NAME = "state.sqlite3"

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


class Rows(Protocol):
    """What a statement returns: its rows to iterate (or fetch one), and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A connection inside a transaction, as `ListState` uses it: SQL with `?` placeholders.

    Table names are the embedded ones (`meta`, `lists`, `batches`); the PostgreSQL database translates
    them (and the placeholders) to its own, so both backends run one SQL text.
    """

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Rows: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object: ...


class Database(Protocol):
    """The state database of a backend: `StateDatabase` (SQLite) or `PostgresDatabase`.

    Every write is one transaction (`write`), committed durably when the block ends; every failure of
    the database becomes a `StateError` naming the action.
    """

    clock: Clock
    fault: FaultHook

    def write(self, action: str) -> AbstractContextManager[Connection]: ...

    def read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    def read_transaction(self, action: str) -> AbstractContextManager[Connection]: ...

    def shrink(self) -> None: ...

    def close(self) -> None: ...


def no_fault(step: str) -> None:
    return None


def state_error(action: str, error: BaseException) -> StateError:
    """A `StateError` for a failed `action`, keeping only the condition (SQLite and OS messages name no values)."""
    detail = os.strerror(error.errno) if isinstance(error, OSError) and error.errno else str(error)
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        detail = "no space left on the device"
    return StateError(f"cannot {action}: {detail}")


class StateDatabase:
    """The SQLite database of one state directory, opened, configured and migrated."""

    def __init__(self, directory: Path, *, clock: Clock, faults: FaultHook) -> None:
        self.directory = directory
        self.clock = clock
        self.fault = faults
        self._mutex = threading.RLock()
        try:
            self._db = sqlite3.connect(directory / DB_NAME, isolation_level=None, check_same_thread=False, timeout=30.0)
        except sqlite3.Error as error:
            raise state_error(f"open the state database in {directory}", error) from None
        try:
            self._configure()
            self._migrate()
            with self.write("open the state database") as db:
                db.execute(
                    "INSERT INTO meta (name, value) VALUES ('opened_at', ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (str(clock.now()),),
                )
        except BaseException:
            self._db.close()
            raise

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
            raise state_error(f"configure the state database in {self.directory}", error) from None

    def _migrate(self) -> None:
        try:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise state_error(f"read the state database in {self.directory}", error) from None
        if version > schema.SCHEMA_VERSION:
            raise StateError(
                f"the state in {self.directory} has schema version {version}, newer than this pinaudience "
                f"knows ({schema.SCHEMA_VERSION})",
                resolution="Upgrade pinaudience to the version that wrote this state, or choose another --state.",
            )
        for target in range(version + 1, schema.SCHEMA_VERSION + 1):
            with self.write(f"upgrade the state schema to version {target}"):
                # Several processes may open one new state at once (a fleet's workers sharing a directory): the
                # version read above may be stale by now, so it is read again under the write lock.
                if int(self._db.execute("PRAGMA user_version").fetchone()[0]) >= target:
                    continue
                schema.MIGRATIONS[target](self._db)
                self._db.execute(f"PRAGMA user_version = {target:d}")
            log.info("state schema upgraded to version %d", target)

    @contextlib.contextmanager
    def write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction; any failure rolls it back and becomes a `StateError`."""
        with self._mutex:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise state_error(action, error) from None
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as error:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error | OSError):
                    raise state_error(action, error) from None
                raise

    def read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._mutex:
            try:
                return list(self._db.execute(sql, args).fetchall())
            except sqlite3.Error as error:
                raise state_error("read the state database", error) from None

    @contextlib.contextmanager
    def read_transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """Reads that see one moment (a deferred transaction); a failure becomes a `StateError`."""
        with self._mutex:
            try:
                self._db.execute("BEGIN")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise state_error(action, error) from None
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    def shrink(self) -> None:
        """Give the pages of compacted batches back to the file system (a journal can reach gigabytes)."""
        with self._mutex:
            try:
                # executescript steps the pragma to completion; execute() would free a single page.
                self._db.executescript("PRAGMA incremental_vacuum;")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error as error:
                # Only space is at stake; the next compaction tries again.
                log.warning("could not shrink the state database: %s", error)
