"""The state store: confirmed membership of each customer list, crash-safe, in one of two backends.

`open_state(location)` opens the embedded store (`StateStore`: SQLite holds metadata and the write-ahead
journal, Parquet files the membership snapshots) for a directory, or the PostgreSQL one
(`pinaudience.state.postgres.PostgresStateStore`: the same, in tables) for a `postgresql://` URL. Both are
a `StateBackend` and share `ListState` and the compaction. See `pinaudience.state.store` for the protocol
and docs/state.md for the layouts and the crash-safety argument.
"""

from pinaudience.state.backends import is_postgres_url, open_state
from pinaudience.state.event_journal import EVENT_FAULT_POINTS, EventJournal
from pinaudience.state.schema import SCHEMA_VERSION
from pinaudience.state.snapshot import ConfirmedSet
from pinaudience.state.store import (
    FAULT_POINTS,
    Batch,
    BatchStatus,
    CompactionResult,
    FaultHook,
    ListInfo,
    ListRef,
    ListState,
    Membership,
    StateBackend,
    StateLock,
    StateStore,
)
from pinaudience.support.paths import default_state_dir

__all__ = [
    "EVENT_FAULT_POINTS",
    "FAULT_POINTS",
    "SCHEMA_VERSION",
    "Batch",
    "BatchStatus",
    "CompactionResult",
    "ConfirmedSet",
    "EventJournal",
    "FaultHook",
    "ListInfo",
    "ListRef",
    "ListState",
    "Membership",
    "StateBackend",
    "StateLock",
    "StateStore",
    "default_state_dir",
    "is_postgres_url",
    "open_state",
]
