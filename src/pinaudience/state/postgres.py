"""The PostgreSQL state backend: the same state as the embedded store, in tables of a PostgreSQL database.

`PostgresStateStore(url)` holds what `StateStore(directory)` holds, with the same `ListState`, the same
SQL (`PostgresDatabase` translates its `?` placeholders and table names), the same compaction
(`pinaudience.state.compaction`) and the same Parquet snapshot files, stored as rows:

- metadata and the write-ahead journal: `pinaudience_lists`, `pinaudience_batches` (a batch's records
  are its Parquet bytes). Every write is one transaction, committed with `synchronous_commit = on`, so
  a PENDING batch is durable on the server before it is sent (docs/state.md, "The protocol").
- snapshots: `pinaudience_snapshot_blobs` holds each file's bytes (the same Parquet file of binary
  hashes partitioned by key that the embedded store writes), loaded with binary COPY;
  `pinaudience_snapshot_files` names the blobs of each snapshot, so that a delta compaction reuses a base
  file by adding a row, not by copying its bytes. Which snapshot is current is `pinaudience_lists.snapshot`,
  switched in the same transaction that drops the folded batches, as in SQLite.
- locks: a session-level advisory lock (`pg_try_advisory_lock`) on a connection of its own per held
  lock. When the worker dies its connection closes and PostgreSQL frees the lock itself.

Every psycopg failure becomes a `StateError` naming the action and the URL without its password
(`pinaudience.support.redact.redact_url`); the password never reaches an error, a log or `repr`.

psycopg is imported here only: `pinaudience.state.open_state` imports this module when a
`postgresql://` URL is given, so an embedded run never loads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import psycopg.conninfo

from pinaudience.clock import Clock, SystemClock
from pinaudience.errors import StateError, StateLocked
from pinaudience.state import postgres_schema
from pinaudience.state.backends import is_postgres_url
from pinaudience.state.compaction import DELTA_SHARE
from pinaudience.state.database import FaultHook, Rows, no_fault, state_error
from pinaudience.state.snapshot import (
    ROWS_PER_SNAPSHOT_FILE,
    Snapshot,
    delta_name,
    part_name,
    write_snapshot_file,
)
from pinaudience.state.store import StateLock, StoreBase
from pinaudience.support.redact import redact, redact_url

__all__ = ["PostgresDatabase", "PostgresSnapshots", "PostgresStateStore", "is_postgres_url", "lock_id"]

log = logging.getLogger("pinaudience.state.store")

CONNECT_TIMEOUT_S = 10

_TABLE_NAMES = re.compile(r"\b(" + "|".join(postgres_schema.TABLES) + r")\b")
_cursor_names = itertools.count(1)


@lru_cache(maxsize=256)
def translate(sql: str) -> str:
    """`ListState`'s SQL (SQLite's table names, `?` placeholders) as PostgreSQL runs it."""
    return _TABLE_NAMES.sub(lambda m: postgres_schema.TABLES[m.group(1)], sql).replace("?", "%s")


def lock_id(key: str) -> int:
    """The advisory lock id (a signed 64-bit integer) of the state lock `key`."""
    digest = hashlib.sha256(f"pinaudience-state|{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _password(url: str) -> str | None:
    try:
        return psycopg.conninfo.conninfo_to_dict(url).get("password")  # type: ignore[return-value]
    except psycopg.Error:
        return None


class _Transaction:
    """A connection inside one transaction, as `ListState` uses it (`pinaudience.state.database.Connection`).

    A SELECT runs through a server-side cursor, so a journal of gigabytes streams batch by batch instead
    of arriving whole (psycopg's ordinary cursor would hold the whole result, twice: libpq's and Python's).
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._cursors: list[psycopg.ServerCursor[Any]] = []

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        text = translate(sql)
        if text.lstrip()[:6].upper() == "SELECT":
            cursor = self._conn.cursor(name=f"pinaudience_{next(_cursor_names)}", binary=True)
            # A journal batch's `records` may be tens of megabytes: fetch those one at a time, as SQLite steps
            # row by row (16 at once held 300 MB more at 5 million records); small rows in thousands.
            cursor.itersize = 1 if "records" in text else 1000
            self._cursors.append(cursor)
            return cursor.execute(text, parameters)
        return self._conn.execute(text, parameters, binary=True)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object:
        with self._conn.cursor() as cursor:
            cursor.executemany(translate(sql), list(parameters))
        return None

    def close(self) -> None:
        for cursor in self._cursors:
            with contextlib.suppress(psycopg.Error):
                cursor.close()


class PostgresDatabase:
    """The state database in PostgreSQL: one connection, its schema and its transactions.

    A connection lost mid-run is not reopened: the run's locks were sessions of the same server and may have
    gone with it, so the run must stop (a `StateError`) rather than go on without them; the next run resumes.
    """

    def __init__(self, url: str, *, clock: Clock, faults: FaultHook) -> None:
        self._url = url
        self.location = redact_url(url)
        self._password = _password(url)
        self.clock = clock
        self.fault = faults
        self._mutex = threading.RLock()
        self._conn = self.connect("connect to the state database")
        try:
            self._migrate()
            with self.write("open the state database") as db:
                db.execute(
                    "INSERT INTO meta (name, value) VALUES ('opened_at', ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (str(clock.now()),),
                )
                self.fault("open.probe")
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.location!r})"

    def connect(self, action: str) -> psycopg.Connection[Any]:
        """A new autocommit session, durable commits on; a `StateError` (with a resolution) if it fails."""
        try:
            conn = psycopg.connect(
                self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name="pinaudience"
            )
        except psycopg.Error as error:
            raise self.error(action, error) from None
        try:
            # A PENDING batch must be on the server's disk before it is sent, whatever the database's default;
            # keepalives let the server notice within about a minute that a worker's host vanished (and free
            # its locks), where the operating system's default would take two hours.
            conn.execute(
                "SELECT set_config('synchronous_commit', 'on', false), "
                "set_config('tcp_keepalives_idle', '30', false), set_config('tcp_keepalives_interval', '10', false), "
                "set_config('tcp_keepalives_count', '3', false)"
            )
        except psycopg.Error as error:
            conn.close()
            raise self.error(action, error) from None
        return conn

    def error(self, action: str, error: BaseException) -> StateError:
        """A `StateError` for a failed `action`: the server's condition, never a value or the password."""
        if isinstance(error, OSError):
            return state_error(action, error)
        assert isinstance(error, psycopg.Error)
        sqlstate = getattr(error, "sqlstate", None) or ""
        primary = error.diag.message_primary if isinstance(error, psycopg.Error) and error.sqlstate else None
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = primary or (lines[0] if lines else type(error).__name__)
        detail = redact(detail, [self._password] if self._password else [])
        resolution: str | None = None
        if sqlstate.startswith("53") or sqlstate == "58030":
            detail = f"the PostgreSQL server is out of resources ({detail})"
            resolution = "Give the PostgreSQL server disk space (or memory), then run again: nothing was lost."
        elif sqlstate == "25006":
            resolution = (
                f"The database of {self.location} is read-only: point --state at a writable PostgreSQL "
                "database (a primary, not a standby) or allow writes, then run again."
            )
        elif sqlstate == "42501":
            resolution = (
                f"Grant the user of {self.location} the rights to create and write the pinaudience_ tables "
                "(or choose another --state)."
            )
        elif isinstance(error, psycopg.OperationalError) or sqlstate.startswith("08") or sqlstate.startswith("57P"):
            resolution = (
                f"Check that the PostgreSQL server of {self.location} is running and reachable, and that the "
                "URL's user, password and database are right; then run again: nothing was sent without being "
                "recorded first."
            )
        return StateError(f"cannot {action}: {detail} (state at {self.location})", resolution=resolution)

    def _migrate(self) -> None:
        table = postgres_schema.VERSION_TABLE
        with self.write("prepare the state schema"):
            conn = self._conn
            try:
                # Serialises workers that open a new database at once; released when this transaction ends.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (postgres_schema.MIGRATION_LOCK,))
                conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (version INTEGER NOT NULL)")
                row = conn.execute(f"SELECT max(version) FROM {table}").fetchone()  # noqa: S608 - a constant
            except psycopg.Error as error:
                raise self.error("prepare the state schema", error) from None
            version = int(row[0]) if row and row[0] is not None else 0
            if version > postgres_schema.SCHEMA_VERSION:
                raise StateError(
                    f"the state at {self.location} has schema version {version}, newer than this pinaudience "
                    f"knows ({postgres_schema.SCHEMA_VERSION})",
                    resolution="Upgrade pinaudience to the version that wrote this state, or choose another --state.",
                )
            for target in range(version + 1, postgres_schema.SCHEMA_VERSION + 1):
                postgres_schema.MIGRATIONS[target](conn.execute)
                log.info("state schema upgraded to version %d", target)
            if version < postgres_schema.SCHEMA_VERSION:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - a constant
                conn.execute(f"INSERT INTO {table} (version) VALUES (%s)", (postgres_schema.SCHEMA_VERSION,))  # noqa: S608

    @contextlib.contextmanager
    def write(self, action: str) -> Iterator[_Transaction]:
        """One write transaction, committed durably; any failure rolls it back and becomes a `StateError`."""
        with self._mutex:
            try:
                with self._conn.transaction():
                    transaction = _Transaction(self._conn)
                    try:
                        yield transaction
                    finally:
                        transaction.close()
            except (psycopg.Error, OSError) as error:
                raise self.error(action, error) from None

    def read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._mutex:
            try:
                return list(self._conn.execute(translate(sql), args, binary=True).fetchall())
            except psycopg.Error as error:
                raise self.error("read the state database", error) from None

    @contextlib.contextmanager
    def read_transaction(self, action: str) -> Iterator[_Transaction]:
        """Reads that see one moment (a REPEATABLE READ transaction); a failure becomes a `StateError`."""
        with self._mutex:
            try:
                with self._conn.transaction():
                    self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    transaction = _Transaction(self._conn)
                    try:
                        yield transaction
                    finally:
                        transaction.close()
            except psycopg.Error as error:
                raise self.error(action, error) from None

    def copy(
        self, action: str, table: str, columns: Sequence[str], types: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Bulk-load `rows` into `table` with binary COPY, in one committed transaction."""
        with (
            self.write(action),
            self._conn.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)

    def shrink(self) -> None:
        """Nothing to do: PostgreSQL's autovacuum reclaims the rows of folded batches and old snapshots."""

    def close(self) -> None:
        with self._mutex:
            self._conn.close()


class PostgresFiles:
    """The files of one snapshot, read from their rows (`pinaudience.state.snapshot.SnapshotFiles`)."""

    def __init__(self, db: PostgresDatabase, list_id: int, snapshot: str, blobs: dict[str, tuple[str, int]]) -> None:
        self._db = db
        self._list_id = list_id
        self._snapshot = snapshot
        self.blobs = blobs
        """File name -> (blob, rows)."""

    def open(self, name: str) -> bytes:
        blob = self.blobs.get(name)
        rows = (
            []
            if blob is None
            else self._db.read(
                "SELECT data FROM pinaudience_snapshot_blobs WHERE list_id = ? AND blob = ?", (self._list_id, blob[0])
            )
        )
        if not rows:
            raise StateError(f"the snapshot file {self.label(name)} is missing")
        return bytes(rows[0][0])

    def rows(self, name: str) -> int:
        blob = self.blobs.get(name)
        if blob is None:
            raise StateError(f"the snapshot file {self.label(name)} is missing")
        return blob[1]

    def label(self, name: str) -> str:
        return f"{name} of snapshot {self._snapshot} of list {self._list_id} at {self._db.location}"


class PostgresSnapshots:
    """One list's snapshots as rows (`pinaudience.state.compaction.SnapshotStorage`)."""

    def __init__(self, db: PostgresDatabase, list_id: int) -> None:
        self._db = db
        self._list_id = list_id

    def _files(self, name: str) -> dict[str, tuple[str, int]]:
        rows = self._db.read(
            "SELECT f.name, f.blob, b.row_count FROM pinaudience_snapshot_files f "
            "JOIN pinaudience_snapshot_blobs b ON b.list_id = f.list_id AND b.blob = f.blob "
            "WHERE f.list_id = ? AND f.snapshot = ?",
            (self._list_id, name),
        )
        return {str(r[0]): (str(r[1]), int(r[2])) for r in rows}

    def snapshot(self, name: str | None, bits: int, count: int, delta_rows: int) -> Snapshot:
        if name is None:
            return Snapshot(None, bits, count, delta_rows)
        files = self._files(name)
        if not files:
            raise StateError(f"the snapshot {name} of list {self._list_id} is missing from {self._db.location}")
        return Snapshot(PostgresFiles(self._db, self._list_id, name, files), bits, count, delta_rows, name)

    def writer(self, name: str, base: str | None, fault: FaultHook) -> PostgresSnapshotWriter:
        return PostgresSnapshotWriter(self._db, self._list_id, name, {} if base is None else self._files(base), fault)

    def remove_others(self, keep: str | None) -> None:
        try:
            with self._db.write(f"remove the old snapshots of list {self._list_id}") as db:
                db.execute(
                    "DELETE FROM pinaudience_snapshot_files WHERE list_id = ? AND snapshot <> ?",
                    (self._list_id, keep or ""),
                )
                db.execute(
                    "DELETE FROM pinaudience_snapshot_blobs b WHERE b.list_id = ? AND NOT EXISTS ("
                    "SELECT 1 FROM pinaudience_snapshot_files f WHERE f.list_id = b.list_id AND f.blob = b.blob)",
                    (self._list_id,),
                )
        except StateError as error:
            # Only space is at stake: the current snapshot is committed, and the next compaction tries again.
            log.warning("could not remove old snapshots: %s", error.message)


class PostgresSnapshotWriter:
    """Writes a new snapshot as rows: the storage half of compaction, as `SnapshotFolderWriter` is for files.

    Each new file is one blob, loaded with binary COPY and committed on its own (a `.partial` file, in
    effect: nothing names it yet); a reused file is the base's blob, named again. `commit()` writes every
    name of the snapshot in one transaction, so a snapshot is whole or absent; only the list's row, switched
    afterwards, makes it current. Blobs of a crashed compaction are removed by the next one.
    """

    def __init__(
        self, db: PostgresDatabase, list_id: int, name: str, base: dict[str, tuple[str, int]], fault: FaultHook
    ) -> None:
        self._db = db
        self._list_id = list_id
        self._name = name
        self._base = base
        self._fault = fault
        self._files: dict[str, str] = {}

    def write_part(self, index: int, frame: pl.DataFrame) -> None:
        self._write(part_name(index), frame)

    def write_delta(self, index: int, frame: pl.DataFrame) -> None:
        self._write(delta_name(index), frame)

    def reuse_part(self, index: int) -> None:
        self._reuse(part_name(index))

    def reuse_delta(self, index: int) -> None:
        self._reuse(delta_name(index))

    def _write(self, name: str, frame: pl.DataFrame) -> None:
        buffer = io.BytesIO()
        write_snapshot_file(frame, buffer)
        blob = f"{self._name}/{name}"
        self._db.copy(
            f"write a snapshot file of list {self._list_id}",
            "pinaudience_snapshot_blobs",
            ("list_id", "blob", "row_count", "data"),
            ("int8", "text", "int8", "bytea"),
            [(self._list_id, blob, frame.height, buffer.getbuffer())],
        )
        self._files[name] = blob
        self._fault("compact.partition_written")

    def _reuse(self, name: str) -> None:
        self._files[name] = self._base[name][0]
        self._fault("compact.partition_written")

    def commit(self) -> None:
        self._db.copy(
            f"record the files of snapshot {self._name} of list {self._list_id}",
            "pinaudience_snapshot_files",
            ("list_id", "snapshot", "name", "blob"),
            ("int8", "text", "text", "text"),
            [(self._list_id, self._name, name, blob) for name, blob in self._files.items()],
        )


class PostgresStateStore(StoreBase):
    """The state of many customer lists in one PostgreSQL database: the PostgreSQL backend."""

    _db: PostgresDatabase

    def __init__(
        self,
        url: str,
        *,
        clock: Clock | None = None,
        faults: FaultHook | None = None,
        spill_rows: int = 2_000_000,
        snapshot_rows: int = ROWS_PER_SNAPSHOT_FILE,
        workdir: Path | None = None,
        delta_share: float = DELTA_SHARE,
    ) -> None:
        """Connect, create or migrate the schema, and commit a write; a `StateError` if any of it fails.

        The options are `StateStore`'s; `workdir` holds the journal's temporary spill files.
        """
        if not is_postgres_url(url):
            raise StateError(f"{redact_url(url)} is not a postgresql:// URL")
        self._db = PostgresDatabase(url, clock=clock or SystemClock(), faults=faults or no_fault)
        self.location = self._db.location
        self._spill_rows = spill_rows
        self._snapshot_rows = snapshot_rows
        self._workdir = workdir
        self._delta_share = delta_share

    def __repr__(self) -> str:
        return f"PostgresStateStore({self.location!r})"

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PostgresStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lock(self, key: str) -> StateLock:
        """Take the advisory lock named `key` now (a session lock on a connection of its own), or raise
        `StateLocked` if another session holds it; PostgreSQL frees it when that session ends, however it ends."""
        action = f"take the lock on {key}"
        conn = self._db.connect(action)
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_id(key),)).fetchone()
        except psycopg.Error as error:
            conn.close()
            raise self._db.error(action, error) from None
        if not row or not row[0]:
            conn.close()
            raise StateLocked(f"another pinaudience run holds the lock on {key}")
        return StateLock(key, conn.close)

    def _storage(self, list_id: int) -> PostgresSnapshots:
        return PostgresSnapshots(self._db, list_id)

    def _drop_snapshots(self, list_id: int) -> None:
        """Nothing left: deleting the list's row deleted its snapshot rows (ON DELETE CASCADE)."""
