"""The customer list and audience half of the emulator's store: membership, counters, matching state, audiences.

A list keeps its member and matched counts up to date as it changes, so a list of 10 million members is as
quick to read as a list of ten. Matching takes time on Pinterest: after each write a list is processing until
`processing_until`, and until then what a client sees of its matches (list status, audience size) is
`shown_matched`, the matched count when the previous processing ended (NULL: never matched yet).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from pinaudience.emulator import records as rec


@dataclass(frozen=True)
class CustomerList:
    id: int
    ad_account_id: str
    name: str
    list_type: str
    created_time: float
    updated_time: float
    num_batches: int
    num_uploaded: int
    num_removed: int
    size: int
    matched: int
    processing_until: float
    shown_matched: int | None
    """Matched members a client sees while the list is processing (None: it was never matched)."""
    invalid_received: int
    """Records received (created, added or removed) that break Pinterest's record rules for the list type."""

    def visible_matched(self, now: float) -> int | None:
        """The matched members Pinterest shows at `now`: the last finished matching, None before the first."""
        return self.matched if now >= self.processing_until else self.shown_matched


@dataclass(frozen=True)
class Audience:
    id: int
    ad_account_id: str
    name: str
    description: str | None
    audience_type: str
    customer_list_id: int
    created_time: float
    updated_time: float
    removed: bool
    matched: int
    """Matched members of its customer list."""
    processing_until: float
    shown_matched: int | None
    """Its list's, so that its size follows the list's matching (`CustomerList.visible_matched`)."""

    def visible_matched(self, now: float) -> int | None:
        return self.matched if now >= self.processing_until else self.shown_matched


LIST_COLUMNS = (
    "id, ad_account_id, name, list_type, created_time, updated_time, num_batches, num_uploaded, num_removed, size, "
    "matched, processing_until, shown_matched, invalid_received"
)
_AUDIENCE_SELECT = (
    "SELECT a.id, a.ad_account_id, a.name, a.description, a.audience_type, a.customer_list_id, a.created_time, "
    "a.updated_time, a.removed, COALESCE(l.matched, 0), COALESCE(l.processing_until, 0), l.shown_matched "
    "FROM audiences a LEFT JOIN customer_lists l ON l.id = a.customer_list_id"
)
_SNAPSHOT = (
    "UPDATE customer_lists SET shown_matched = CASE WHEN processing_until <= ? THEN matched ELSE shown_matched END "
    "WHERE id = ?"
)
"""Before a write: what the client sees during the coming processing is what it saw just before it."""


class ListTables:
    """Customer lists, members, send counts and audiences (mixed into `Store`, which owns the connection)."""

    _db: sqlite3.Connection

    def _next_id(self) -> int:
        raise NotImplementedError  # pragma: no cover - `Store` provides it

    # customer lists -------------------------------------------------------------------------------------------

    def create_list(
        self,
        *,
        ad_account_id: str,
        name: str,
        list_type: str,
        records: list[str],
        match_rate: float,
        now: float,
        processing_until: float,
    ) -> CustomerList:
        with self._db:
            list_id = self._next_id()
            self._db.execute(
                f"INSERT INTO customer_lists ({LIST_COLUMNS}) "  # noqa: S608 - constant columns
                "VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, ?, NULL, 0)",
                (list_id, ad_account_id, name, list_type, now, now, processing_until),
            )
            self._add(list_id, list_type, records, match_rate, now, processing_until)
        return self._list(list_id)

    def get_list(self, list_id: int) -> CustomerList | None:
        row = self._db.execute(
            f"SELECT {LIST_COLUMNS} FROM customer_lists WHERE id = ?",  # noqa: S608 - constant columns
            (list_id,),
        ).fetchone()
        return None if row is None else CustomerList(*row)

    def _list(self, list_id: int) -> CustomerList:
        found = self.get_list(list_id)
        assert found is not None
        return found

    def list_lists(self, ad_account_id: str, *, after: int | None, descending: bool, limit: int) -> list[CustomerList]:
        """A page of the account's lists by id; `after` is the last id of the previous page."""
        comparison, direction = ("<", "DESC") if descending else (">", "ASC")
        query = f"SELECT {LIST_COLUMNS} FROM customer_lists WHERE ad_account_id = ?"  # noqa: S608
        params: list[object] = [ad_account_id]
        if after is not None:
            query += f" AND id {comparison} ?"
            params.append(after)
        query += f" ORDER BY id {direction} LIMIT ?"
        params.append(limit)
        return [CustomerList(*row) for row in self._db.execute(query, params)]

    def all_lists(self) -> list[CustomerList]:
        query = f"SELECT {LIST_COLUMNS} FROM customer_lists ORDER BY id"  # noqa: S608 - constant columns
        return [CustomerList(*row) for row in self._db.execute(query)]

    def add_records(
        self,
        list_id: int,
        list_type: str,
        records: list[str],
        *,
        match_rate: float,
        now: float,
        processing_until: float,
    ) -> CustomerList:
        with self._db:
            self._add(list_id, list_type, records, match_rate, now, processing_until)
        return self._list(list_id)

    def _add(
        self, list_id: int, list_type: str, records: list[str], match_rate: float, now: float, processing_until: float
    ) -> None:
        threshold = rec.match_threshold(match_rate)
        encode, match_key, is_valid = rec.encode, rec.match_key, rec.is_valid
        checked = list_type in rec.CHECKED_TYPES
        matched_rows: list[tuple[int, bytes]] = []
        other_rows: list[tuple[int, bytes]] = []
        invalid = 0
        for record in records:
            valid = not checked or is_valid(record, list_type)
            invalid += not valid
            (matched_rows if valid and match_key(record) < threshold else other_rows).append((list_id, encode(record)))
        insert = "INSERT OR IGNORE INTO members (list_id, record, matched) VALUES (?, ?, {})"
        added_matched = self._db.executemany(insert.format(1), matched_rows).rowcount if matched_rows else 0
        added_other = self._db.executemany(insert.format(0), other_rows).rowcount if other_rows else 0
        self._db.execute(_SNAPSHOT, (now, list_id))
        self._db.execute(
            "UPDATE customer_lists SET size = size + ?, matched = matched + ?, num_batches = num_batches + 1, "
            "num_uploaded = num_uploaded + ?, invalid_received = invalid_received + ?, updated_time = ?, "
            "processing_until = ? WHERE id = ?",
            (added_matched + added_other, added_matched, len(records), invalid, now, processing_until, list_id),
        )

    def remove_records(
        self, list_id: int, list_type: str, records: list[str], *, now: float, processing_until: float
    ) -> CustomerList:
        keys = [(list_id, rec.encode(record)) for record in records]
        invalid = rec.invalid_count(records, list_type)
        with self._db:
            removed_matched = self._db.executemany(
                "DELETE FROM members WHERE list_id = ? AND record = ? AND matched = 1", keys
            ).rowcount
            removed_other = self._db.executemany("DELETE FROM members WHERE list_id = ? AND record = ?", keys).rowcount
            self._db.execute(_SNAPSHOT, (now, list_id))
            self._db.execute(
                "UPDATE customer_lists SET size = size - ?, matched = matched - ?, num_batches = num_batches + 1, "
                "num_removed = num_removed + ?, invalid_received = invalid_received + ?, updated_time = ?, "
                "processing_until = ? WHERE id = ?",
                (removed_matched + removed_other, removed_matched, len(records), invalid, now, processing_until,
                 list_id),
            )  # fmt: skip
        return self._list(list_id)

    def count_sends(self, list_id: int, operation: str, records: list[str]) -> None:
        """Count how often each record reached the list in each operation (setting `track_sends`)."""
        with self._db:
            self._db.executemany(
                "INSERT INTO sends (list_id, operation, record, count) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (list_id, operation, record) DO UPDATE SET count = count + 1",
                [(list_id, operation, rec.encode(record)) for record in records],
            )

    def send_histogram(self, list_id: int) -> dict[str, dict[str, int]]:
        """Per operation: how many records were sent once, twice, ... (counts only, never records)."""
        histogram: dict[str, dict[str, int]] = {"ADD": {}, "REMOVE": {}}
        rows = self._db.execute(
            "SELECT operation, count, COUNT(*) FROM sends WHERE list_id = ? GROUP BY operation, count", (list_id,)
        )
        for operation, count, records in rows:
            histogram[str(operation)][str(count)] = int(records)
        return histogram

    def clear_sends(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM sends")

    def members(self, list_id: int) -> Iterator[str]:
        """Every member of the list, in no particular order."""
        for (key,) in self._db.execute("SELECT record FROM members WHERE list_id = ?", (list_id,)):
            yield rec.decode(key)

    # audiences ------------------------------------------------------------------------------------------------

    def create_audience(
        self, *, ad_account_id: str, name: str, description: str | None, customer_list_id: int, now: float
    ) -> Audience:
        with self._db:
            audience_id = self._next_id()
            self._db.execute(
                "INSERT INTO audiences (id, ad_account_id, name, description, audience_type, customer_list_id, "
                "created_time, updated_time) VALUES (?, ?, ?, ?, 'CUSTOMER_LIST', ?, ?, ?)",
                (audience_id, ad_account_id, name, description, customer_list_id, now, now),
            )
        found = self.get_audience(audience_id)
        assert found is not None
        return found

    def get_audience(self, audience_id: int) -> Audience | None:
        row = self._db.execute(_AUDIENCE_SELECT + " WHERE a.id = ?", (audience_id,)).fetchone()
        return None if row is None else _audience(row)

    def list_audiences(
        self, ad_account_id: str, *, after: int | None, descending: bool, limit: int, removed: bool = False
    ) -> list[Audience]:
        """A page of the account's audiences by id, those removed included only when `removed` says so."""
        comparison, direction = ("<", "DESC") if descending else (">", "ASC")
        query = _AUDIENCE_SELECT + " WHERE a.ad_account_id = ?"
        if not removed:
            query += " AND a.removed = 0"
        params: list[object] = [ad_account_id]
        if after is not None:
            query += f" AND a.id {comparison} ?"
            params.append(after)
        query += f" ORDER BY a.id {direction} LIMIT ?"
        params.append(limit)
        return [_audience(row) for row in self._db.execute(query, params)]

    def all_audiences(self) -> list[Audience]:
        return [_audience(row) for row in self._db.execute(_AUDIENCE_SELECT + " ORDER BY a.id")]

    def update_audience(
        self, audience_id: int, *, name: str | None, description: str | None, removed: bool, now: float
    ) -> Audience:
        with self._db:
            self._db.execute(
                "UPDATE audiences SET name = COALESCE(?, name), description = COALESCE(?, description), "
                "removed = MAX(removed, ?), updated_time = ? WHERE id = ?",
                (name, description, int(removed), now, audience_id),
            )
        found = self.get_audience(audience_id)
        assert found is not None
        return found


def _audience(row: tuple[object, ...]) -> Audience:
    values = list(row)
    values[8] = bool(values[8])
    return Audience(*values)  # type: ignore[arg-type]
