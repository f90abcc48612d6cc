"""The PostgreSQL schema of the state store, its version, and the migrations that reach it.

Every table is prefixed `pinaudience_`, in the schema the URL's `search_path` names (by default `public`),
so the state can share a database with other applications (and with pinaudience's token store,
`pinaudience_tokens`). `pinaudience_state_schema` holds the version, one row. Opening a store takes a
transaction-level advisory lock (`MIGRATION_LOCK`), reads the version, refuses a newer one, and runs
every migration above it in that same transaction: two workers opening a new database at once
serialise on the lock, and the second finds the schema current.

Version 1 holds what the embedded store's SQLite holds at its version 3 (`pinaudience.state.schema`),
plus the snapshot files:

- `pinaudience_state_meta`: facts about the store (when it was last opened: a write every open makes).
- `pinaudience_lists`, `pinaudience_batches`: as `lists` and `batches` in SQLite (identity ids, never
  reused; `records` is the batch's Parquet bytes).
- `pinaudience_snapshot_blobs`: one row per snapshot file's bytes (`data`: the same Parquet file the
  embedded store writes, binary hashes partitioned by key), written with COPY, never modified.
- `pinaudience_snapshot_files`: which blob each file name of each snapshot is. A delta compaction reuses
  a base file by adding a row that names the same blob (the embedded store's hard link).

Version 2 stores the byte columns uncompressed (`STORAGE EXTERNAL`: hashes and lz4 Parquet do not
compress, and trying costs time on every write) and indexes the files by blob, which the clean-up after
a compaction reads.

Version 3 adds `pinaudience_event_acks`, as `event_acks` in SQLite (version 4 there): the journal of conversion
events Pinterest acknowledged, one row per (api_base, ad_account_id, SHA-256 of the event id).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SCHEMA_VERSION = 3

MIGRATION_LOCK = 0x70696E6175640001
"""The transaction-level advisory lock under which a store reads and migrates the schema ('pinaud', 1)."""

VERSION_TABLE = "pinaudience_state_schema"

TABLES = {
    "meta": "pinaudience_state_meta",
    "lists": "pinaudience_lists",
    "batches": "pinaudience_batches",
    "event_acks": "pinaudience_event_acks",
}
"""The embedded store's table names, as `ListState`'s SQL says them, and the PostgreSQL tables they are."""

Execute = Callable[[str], Any]


def _v1(execute: Execute) -> None:
    execute("CREATE TABLE pinaudience_state_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    execute(
        """
        CREATE TABLE pinaudience_lists (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            api_base TEXT NOT NULL,
            ad_account_id TEXT NOT NULL,
            customer_list_id TEXT NOT NULL,
            list_type TEXT,
            list_name TEXT,
            audience_id TEXT,
            audience_name TEXT,
            audience_pending_since DOUBLE PRECISION,
            snapshot TEXT,
            snapshot_count BIGINT NOT NULL DEFAULT 0,
            snapshot_bits INTEGER NOT NULL DEFAULT 0,
            snapshot_delta_rows BIGINT NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            compacted_at DOUBLE PRECISION,
            UNIQUE (api_base, ad_account_id, customer_list_id)
        )
        """
    )
    execute(
        """
        CREATE TABLE pinaudience_batches (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            list_id BIGINT NOT NULL REFERENCES pinaudience_lists (id) ON DELETE CASCADE,
            operation TEXT NOT NULL CHECK (operation IN ('ADD', 'REMOVE')),
            status TEXT NOT NULL CHECK (status IN ('PENDING', 'ACKNOWLEDGED')),
            count BIGINT NOT NULL,
            records BYTEA NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            acknowledged_at DOUBLE PRECISION
        )
        """
    )
    execute("CREATE INDEX pinaudience_batches_by_list ON pinaudience_batches (list_id, seq)")
    execute(
        """
        CREATE TABLE pinaudience_snapshot_blobs (
            list_id BIGINT NOT NULL REFERENCES pinaudience_lists (id) ON DELETE CASCADE,
            blob TEXT NOT NULL,
            row_count BIGINT NOT NULL,
            data BYTEA NOT NULL,
            PRIMARY KEY (list_id, blob)
        )
        """
    )
    execute(
        """
        CREATE TABLE pinaudience_snapshot_files (
            list_id BIGINT NOT NULL,
            snapshot TEXT NOT NULL,
            name TEXT NOT NULL,
            blob TEXT NOT NULL,
            PRIMARY KEY (list_id, snapshot, name),
            FOREIGN KEY (list_id, blob) REFERENCES pinaudience_snapshot_blobs (list_id, blob) ON DELETE CASCADE
        )
        """
    )


def _v2(execute: Execute) -> None:
    execute("ALTER TABLE pinaudience_batches ALTER COLUMN records SET STORAGE EXTERNAL")
    execute("ALTER TABLE pinaudience_snapshot_blobs ALTER COLUMN data SET STORAGE EXTERNAL")
    execute("CREATE INDEX pinaudience_snapshot_files_by_blob ON pinaudience_snapshot_files (list_id, blob)")


def _v3(execute: Execute) -> None:
    execute(
        """
        CREATE TABLE pinaudience_event_acks (
            api_base TEXT NOT NULL,
            ad_account_id TEXT NOT NULL,
            event_digest BYTEA NOT NULL,
            acknowledged_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (api_base, ad_account_id, event_digest)
        )
        """
    )
    execute(
        "CREATE INDEX pinaudience_event_acks_by_time "
        "ON pinaudience_event_acks (api_base, ad_account_id, acknowledged_at)"
    )


MIGRATIONS: dict[int, Callable[[Execute], None]] = {1: _v1, 2: _v2, 3: _v3}
"""Version N is reached by running MIGRATIONS[N] on a database at version N - 1."""

assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))
