"""The journal of acknowledged conversion events, against both backends."""

from __future__ import annotations

import hashlib

import pytest

from pinaudience.clock import FakeClock
from pinaudience.errors import StateError
from tests.state.conftest import Backend, MakeStore

API = "http://127.0.0.1:8710/v5"
ACCOUNT = "549755885175"


def test_recorded_ids_are_acknowledged_and_others_are_not(make_store: MakeStore) -> None:
    """What was recorded is found again by a later run; what was not is not."""
    make_store().event_journal(API, ACCOUNT).record(["a", "b", "b"])
    journal = make_store().event_journal(API, ACCOUNT)
    assert journal.acknowledged(["a", "b", "c"]) == {"a", "b"}
    assert journal.count() == 2


def test_the_journal_is_per_ad_account_and_api_base(make_store: MakeStore) -> None:
    """An event acknowledged for one ad account is not acknowledged for another, nor at another API."""
    store = make_store()
    store.event_journal(API, ACCOUNT).record(["a"])
    assert store.event_journal(API, "1").acknowledged(["a"]) == set()
    assert store.event_journal("https://api.pinterest.com/v5", ACCOUNT).acknowledged(["a"]) == set()


def test_lookups_span_more_ids_than_one_query_takes(make_store: MakeStore) -> None:
    """Thousands of ids are looked up in chunks, in one read."""
    journal = make_store().event_journal(API, ACCOUNT)
    journal.record([f"e{i}" for i in range(0, 3000, 2)])
    assert journal.acknowledged(f"e{i}" for i in range(3000)) == {f"e{i}" for i in range(0, 3000, 2)}


def test_expire_forgets_only_older_entries(make_store: MakeStore) -> None:
    """Entries acknowledged before the cut are deleted; a re-acknowledged one is kept by its new time."""
    clock = FakeClock()
    journal = make_store(clock=clock).event_journal(API, ACCOUNT)
    journal.record(["old", "again"])
    clock.advance(100.0)
    journal.record(["new", "again"])
    assert journal.expire(clock.now() - 50.0) == 1
    assert journal.acknowledged(["old", "again", "new"]) == {"again", "new"}


def test_the_journal_holds_digests_never_ids(make_store: MakeStore, backend: Backend) -> None:
    """The stored value is the SHA-256 of the id: the id's text is nowhere in the table."""
    make_store().event_journal(API, ACCOUNT).record(["canary-id@example.com"])
    table = "event_acks" if backend.directory is not None else "pinaudience_event_acks"
    (row,) = backend.sql(f"SELECT event_digest FROM {table}")  # noqa: S608 - a constant
    assert isinstance(row[0], bytes | memoryview)
    assert bytes(row[0]) == hashlib.sha256(b"canary-id@example.com").digest()


def test_a_failed_record_raises_state_error_and_records_nothing(make_store: MakeStore) -> None:
    """A crash at the record step leaves nothing acknowledged: the batch is sent again by the next run."""

    def fail(step: str) -> None:
        if step == "events.record":
            raise StateError("injected")

    with pytest.raises(StateError):
        make_store(faults=fail).event_journal(API, ACCOUNT).record(["a"])
    assert make_store().event_journal(API, ACCOUNT).acknowledged(["a"]) == set()
