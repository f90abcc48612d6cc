"""The embedded state store: confirmed membership of each customer list, crash-safe.

SQLite (stdlib) holds metadata and the write-ahead journal of batches; Parquet files hold membership
snapshots. See `pinaudience.state.store` for the protocol and docs/state.md for the layout and the
crash-safety argument.
"""

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
    StateLock,
    StateStore,
)
from pinaudience.support.paths import default_state_dir

__all__ = [
    "FAULT_POINTS",
    "SCHEMA_VERSION",
    "Batch",
    "BatchStatus",
    "CompactionResult",
    "ConfirmedSet",
    "FaultHook",
    "ListInfo",
    "ListRef",
    "ListState",
    "Membership",
    "StateLock",
    "StateStore",
    "default_state_dir",
]
