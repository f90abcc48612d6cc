"""The journal of conversion events Pinterest acknowledged, per (API base, ad account), in either backend.

`pinaudience.engine.conversions` sends an events file in batches; after Pinterest answers a batch (200, or a
partial 422) the ids of the events it processed are recorded here in one committed transaction
(`record`). A rerun asks `acknowledged(ids)` and sends only the others. Nothing is written before a batch
is sent: an event whose batch was in flight when a run died is simply sent again, and Pinterest
de-duplicates events by `event_id` (docs/events.md, "Exactly once").

Rows hold the SHA-256 of each `event_id` (32 bytes), never the id itself: ids from a file are the
advertiser's and could carry anything, and one rule for every id is simpler than telling them apart. The
table (`event_acks` in SQLite, `pinaudience_event_acks` in PostgreSQL) is reached through the backends'
shared `Database`, with one SQL text. `expire(before)` deletes entries acknowledged before a time: the
retention window, which the engine keeps longer than the oldest event Pinterest accepts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

from pinaudience.state.database import Database

EVENT_FAULT_POINTS: Final = ("events.record", "events.recorded")
"""The steps of `record` at which the store's fault hook is called: before its transaction, and after the commit."""

LOOKUP_CHUNK: Final = 500
"""Ids per lookup query (`IN (?, ...)`): under SQLite's oldest limit of 999 variables."""


def event_digest(event_id: str) -> bytes:
    """What the journal stores of an event id: its SHA-256, as bytes."""
    return hashlib.sha256(event_id.encode("utf-8")).digest()


class EventJournal:
    """The acknowledged events of one ad account at one API base."""

    def __init__(self, db: Database, api_base: str, ad_account_id: str) -> None:
        self._db = db
        self.api_base = api_base
        self.ad_account_id = ad_account_id

    def __repr__(self) -> str:
        return f"EventJournal({self.api_base!r}, {self.ad_account_id!r})"

    def acknowledged(self, event_ids: Iterable[str]) -> set[str]:
        """The ids among `event_ids` that Pinterest acknowledged to an earlier batch (and that have not expired)."""
        by_digest = {event_digest(event_id): event_id for event_id in event_ids}
        digests = list(by_digest)
        found: set[str] = set()
        with self._db.read_transaction("read the events journal") as db:
            for start in range(0, len(digests), LOOKUP_CHUNK):
                chunk = digests[start : start + LOOKUP_CHUNK]
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT event_digest FROM event_acks WHERE api_base = ? AND ad_account_id = ? AND event_digest IN ({marks})"  # noqa: S608, E501 - placeholders only
                rows = db.execute(sql, (self.api_base, self.ad_account_id, *chunk))
                found.update(by_digest[bytes(row[0])] for row in rows)
        return found

    def record(self, event_ids: Sequence[str]) -> None:
        """Record `event_ids` as acknowledged now, in one committed transaction (a repeated id is refreshed)."""
        if not event_ids:
            return
        now = self._db.clock.now()
        self._db.fault("events.record")
        with self._db.write(f"record {len(event_ids)} acknowledged events") as db:
            db.executemany(
                "INSERT INTO event_acks (api_base, ad_account_id, event_digest, acknowledged_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (api_base, ad_account_id, event_digest) DO UPDATE SET acknowledged_at = "
                "excluded.acknowledged_at",
                [(self.api_base, self.ad_account_id, event_digest(i), now) for i in dict.fromkeys(event_ids)],
            )
        self._db.fault("events.recorded")

    def expire(self, before: float) -> int:
        """Forget entries acknowledged before `before` (seconds); how many were deleted."""
        with self._db.write("expire old entries of the events journal") as db:
            rows = db.execute(
                "DELETE FROM event_acks WHERE api_base = ? AND ad_account_id = ? AND acknowledged_at < ?",
                (self.api_base, self.ad_account_id, before),
            )
            return max(rows.rowcount, 0)

    def count(self) -> int:
        """Entries held for this ad account."""
        rows = self._db.read(
            "SELECT count(*) FROM event_acks WHERE api_base = ? AND ad_account_id = ?",
            (self.api_base, self.ad_account_id),
        )
        return int(rows[0][0])
