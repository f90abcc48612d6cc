"""The conversion event half of the emulator's store: the events each ad account received, and its call counts.

Only events that were processed outside test mode are kept (Pinterest records nothing of a test request, nor a
failed event); the counts say how many calls, test calls and failed events there were. A call's body is kept once,
as the bytes received, and each of its processed events as a row naming its position in that body, so that
recording 1,000 events costs one blob and 1,000 small rows, not 1,000 JSON encodings. The admin API reads the
events back out of the bodies, hashed `user_data` included.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

EVENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversion_requests (
    seq INTEGER PRIMARY KEY, ad_account_id TEXT NOT NULL, received_at REAL NOT NULL, body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS conversion_events (
    ad_account_id TEXT NOT NULL, request INTEGER NOT NULL, position INTEGER NOT NULL, event_id TEXT NOT NULL,
    PRIMARY KEY (ad_account_id, request, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversion_counts (
    ad_account_id TEXT PRIMARY KEY, requests INTEGER NOT NULL, events_failed INTEGER NOT NULL,
    test_requests INTEGER NOT NULL, test_events INTEGER NOT NULL
) WITHOUT ROWID;
"""

EVENT_TABLES = ("conversion_requests", "conversion_events", "conversion_counts")


@dataclass(frozen=True)
class EventCounts:
    """What one ad account's `events/create` calls amounted to (answered 200 or 422; refused calls count nowhere)."""

    received: int
    """Events processed and recorded (test requests excluded), repeats of an `event_id` included."""
    unique_event_ids: int
    """Distinct `event_id`s among them."""
    requests: int
    """Calls outside test mode."""
    events_failed: int
    """Events answered `failed` outside test mode (not recorded)."""
    test_requests: int
    """Calls with `?test=true` (their events are validated and answered, never recorded)."""
    test_events: int


class EventTables:
    """Conversion events and their counts (mixed into `Store`, which owns the connection)."""

    _db: sqlite3.Connection

    def record_conversions(
        self, ad_account_id: str, body: bytes, processed: list[tuple[int, str]], *, failed: int, test: bool, now: float
    ) -> None:
        """Count one answered call; outside test mode, keep its processed events: (position in `body`'s `data`,
        `event_id`) each."""
        received = len(processed) + failed
        with self._db:
            self._db.execute(
                "INSERT INTO conversion_counts (ad_account_id, requests, events_failed, test_requests, test_events) "
                "VALUES (?, 0, 0, 0, 0) ON CONFLICT (ad_account_id) DO NOTHING",
                (ad_account_id,),
            )
            if test:
                self._db.execute(
                    "UPDATE conversion_counts SET test_requests = test_requests + 1, test_events = test_events + ? "
                    "WHERE ad_account_id = ?",
                    (received, ad_account_id),
                )
                return
            self._db.execute(
                "UPDATE conversion_counts SET requests = requests + 1, events_failed = events_failed + ? "
                "WHERE ad_account_id = ?",
                (failed, ad_account_id),
            )
            if not processed:
                return
            request = self._db.execute(
                "INSERT INTO conversion_requests (ad_account_id, received_at, body) VALUES (?, ?, ?)",
                (ad_account_id, now, body),
            ).lastrowid
            self._db.executemany(
                "INSERT INTO conversion_events (ad_account_id, request, position, event_id) VALUES (?, ?, ?, ?)",
                [(ad_account_id, request, position, event_id) for position, event_id in processed],
            )

    def conversion_counts(self, ad_account_id: str) -> EventCounts:
        received, unique = self._db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM conversion_events WHERE ad_account_id = ?",
            (ad_account_id,),
        ).fetchone()
        row = self._db.execute(
            "SELECT requests, events_failed, test_requests, test_events FROM conversion_counts WHERE ad_account_id = ?",
            (ad_account_id,),
        ).fetchone()
        return EventCounts(received, unique, *(row or (0, 0, 0, 0)))

    def conversion_accounts(self) -> list[str]:
        """Ad accounts that were sent events (test requests included), by id."""
        rows = self._db.execute("SELECT ad_account_id FROM conversion_counts ORDER BY ad_account_id")
        return [str(row[0]) for row in rows]

    def conversion_events(self, ad_account_id: str) -> list[dict[str, Any]]:
        """The recorded events in the order received: `{"event": <as sent>, "received_at": <Unix time>}`."""
        found: list[dict[str, Any]] = []
        request_seq, events, received_at = None, [], 0.0
        rows = self._db.execute(
            "SELECT request, position FROM conversion_events WHERE ad_account_id = ? ORDER BY request, position",
            (ad_account_id,),
        )
        for request, position in rows.fetchall():
            if request != request_seq:
                body, received_at = self._db.execute(
                    "SELECT body, received_at FROM conversion_requests WHERE seq = ?", (request,)
                ).fetchone()
                request_seq, events = request, json.loads(body)["data"]
            found.append({"event": events[position], "received_at": received_at})
        return found

    def clear_conversions(self, ad_account_id: str | None = None) -> None:
        """Forget the events and counts of one ad account, or of all."""
        with self._db:
            for table in EVENT_TABLES:
                if ad_account_id is None:
                    self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - table names are our constants
                else:
                    self._db.execute(f"DELETE FROM {table} WHERE ad_account_id = ?", (ad_account_id,))  # noqa: S608
