"""The SQLite schema of the state store, its version, and the migrations that reach it.

`PRAGMA user_version` holds the version. Opening a store runs every migration above the file's version,
each in its own transaction, in order; a file whose version is newer than `SCHEMA_VERSION` is refused
(an older pinaudience must not write a layout it does not know).

Tables (version 1):

- `meta`: facts about the store itself (when it was last opened: a write every open makes, so an
  unwritable store fails at once rather than at the first batch).
- `lists`: one row per (api_base, ad_account_id, customer_list_id): what the engine resolved (list type,
  names, audience id) and the current snapshot (directory name, record count, partition bits). Ids are
  never reused (AUTOINCREMENT), so a snapshot folder named after a forgotten id is safe to delete.
- `batches`: the journal. One row per ADD/REMOVE request, written as PENDING before it is sent, set to
  ACKNOWLEDGED once Pinterest accepted it, deleted when Pinterest rejected it. `seq` only grows
  (AUTOINCREMENT), so it orders every batch of a list, across runs and compactions. `records` holds the
  batch's records in the stored encoding (Parquet bytes, see `pinaudience.state.encoding`).

Version 2 adds `lists.audience_pending_since`: when a run first found that the audience could not be created
yet because Pinterest was still matching the list's records (NULL when no audience is waiting). The run that
creates the audience clears it.

Version 3 adds `lists.snapshot_delta_rows`: rows of the current snapshot's delta files (0: the snapshot is
its base files alone, as every snapshot of version 2 is). An older pinaudience, which would read the base
without its delta, refuses a version 3 file.

Version 4 adds `event_acks`, the journal of conversion events Pinterest acknowledged
(`pinaudience.state.event_journal`): one row per (api_base, ad_account_id, SHA-256 of the event id), with when it
was acknowledged, indexed by that time for expiry. It holds no list's data, so older files simply gain it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 4


def _v1(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        """
        CREATE TABLE lists (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            api_base TEXT NOT NULL,
            ad_account_id TEXT NOT NULL,
            customer_list_id TEXT NOT NULL,
            list_type TEXT,
            list_name TEXT,
            audience_id TEXT,
            audience_name TEXT,
            snapshot TEXT,
            snapshot_count INTEGER NOT NULL DEFAULT 0,
            snapshot_bits INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            compacted_at REAL,
            UNIQUE (api_base, ad_account_id, customer_list_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE batches (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
            operation TEXT NOT NULL CHECK (operation IN ('ADD', 'REMOVE')),
            status TEXT NOT NULL CHECK (status IN ('PENDING', 'ACKNOWLEDGED')),
            count INTEGER NOT NULL,
            records BLOB NOT NULL,
            created_at REAL NOT NULL,
            acknowledged_at REAL
        )
        """
    )
    db.execute("CREATE INDEX batches_by_list ON batches (list_id, seq)")


def _v2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE lists ADD COLUMN audience_pending_since REAL")


def _v3(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE lists ADD COLUMN snapshot_delta_rows INTEGER NOT NULL DEFAULT 0")


def _v4(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE event_acks (
            api_base TEXT NOT NULL,
            ad_account_id TEXT NOT NULL,
            event_digest BLOB NOT NULL,
            acknowledged_at REAL NOT NULL,
            PRIMARY KEY (api_base, ad_account_id, event_digest)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX event_acks_by_time ON event_acks (api_base, ad_account_id, acknowledged_at)")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1, 2: _v2, 3: _v3, 4: _v4}
"""Version N is reached by running MIGRATIONS[N] on a database at version N - 1."""

assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))
