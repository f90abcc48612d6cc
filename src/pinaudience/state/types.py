"""The state store's values: list references, batches, what is known about a list, membership."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pinaudience.pinterest.limits import ListOperation
from pinaudience.records.recordset import RecordSet
from pinaudience.state.snapshot import ConfirmedSet, Journal


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
    audience_pending_since: float | None = None
    """When a run first left the audience to a later one because Pinterest was still matching the list (None:
    no audience is waiting); `audience_name` is the audience to create."""


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


def opt(value: object) -> str | None:
    return None if value is None else str(value)
