"""The state store: confirmed = snapshot + acknowledged journal, PENDING = uncertain, compaction changes nothing."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pinaudience.errors import StateError
from pinaudience.pinterest.limits import ListOperation
from pinaudience.records.recordset import RecordSet
from pinaudience.state import SCHEMA_VERSION, ListRef, ListState, StateStore, default_state_dir, open_state

from .conftest import REF, Backend, MakeStore, sha

MakeEmbedded = Callable[..., StateStore]


def confirmed_of(state: ListState) -> list[str]:
    with state.membership() as membership:
        return membership.confirmed.to_list()


def uncertain_of(state: ListState) -> set[str]:
    with state.membership() as membership:
        return set(membership.uncertain.to_list())


def ordered(records: set[str]) -> list[str]:
    return RecordSet.from_records(records).to_list()


def test_confirmed_is_the_snapshot_plus_acknowledged_batches(make_store: MakeStore) -> None:
    """Acknowledged adds and removes count, in order, over the snapshot; pending ones do not."""
    state = make_store().open_list(REF)
    first = [sha(i) for i in range(300)]
    state.acknowledge(state.begin(ListOperation.ADD, first))
    state.compact()
    state.acknowledge(state.begin(ListOperation.REMOVE, first[:50]))
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(300, 350)] + ["plain@example.com"]))
    state.acknowledge(state.begin(ListOperation.ADD, first[:10]))
    state.begin(ListOperation.ADD, [sha(i) for i in range(900, 910)])
    state.begin(ListOperation.REMOVE, first[100:110])
    expected = set(first[50:]) | set(first[:10]) | {sha(i) for i in range(300, 350)} | {"plain@example.com"}
    assert confirmed_of(state) == ordered(expected)
    with state.membership() as membership:
        assert membership.confirmed.count == len(expected)


def test_pending_batches_survive_a_reopen_as_uncertain(make_store: MakeStore) -> None:
    """A batch begun but never answered is uncertain in the next run, and not confirmed."""
    state = make_store().open_list(REF)
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(20)]))
    state.begin(ListOperation.ADD, [sha(i) for i in range(20, 30)])
    state.begin(ListOperation.REMOVE, [sha(i) for i in range(5)])

    reopened = make_store().open_list(REF)
    assert uncertain_of(reopened) == {sha(i) for i in range(20, 30)} | {sha(i) for i in range(5)}
    # The unanswered REMOVE does not take back what was acknowledged; the unanswered ADD claims nothing.
    assert confirmed_of(reopened) == ordered({sha(i) for i in range(20)})
    assert [batch.count for batch in reopened.pending()] == [10, 5]


def test_a_later_acknowledged_batch_resolves_an_uncertain_record(make_store: MakeStore) -> None:
    """Resending an uncertain record and getting an answer makes it certain again."""
    state = make_store().open_list(REF)
    state.begin(ListOperation.ADD, [sha(1), sha(2)])
    state.acknowledge(state.begin(ListOperation.ADD, [sha(1)]))
    state.acknowledge(state.begin(ListOperation.REMOVE, [sha(2)]))
    assert uncertain_of(state) == set()
    assert confirmed_of(state) == [sha(1)]


def test_a_discarded_batch_leaves_no_trace(make_store: MakeStore) -> None:
    """A batch Pinterest rejected is neither confirmed nor uncertain."""
    state = make_store().open_list(REF)
    batch = state.begin(ListOperation.ADD, [sha(1)])
    state.discard(batch)
    assert (confirmed_of(state), uncertain_of(state), state.pending()) == ([], set(), [])
    with pytest.raises(StateError):
        state.acknowledge(batch)


def test_compaction_equals_replaying_and_keeps_what_is_uncertain(make_store: MakeStore) -> None:
    """After compaction the confirmed and uncertain sets are exactly what replaying the journal gave."""
    state = make_store(snapshot_rows=100, spill_rows=70).open_list(REF)
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(400)] + ["a@example.com", "ü@例え.jp"]))
    state.compact()
    state.acknowledge(state.begin(ListOperation.REMOVE, [sha(i) for i in range(0, 400, 3)] + ["a@example.com"]))
    state.begin(ListOperation.ADD, [sha(i) for i in range(400, 420)])
    state.begin(ListOperation.REMOVE, [sha(i) for i in range(1, 30, 3)])
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(410, 415)]))
    before = (confirmed_of(state), uncertain_of(state))

    result = state.compact()
    assert (confirmed_of(state), uncertain_of(state)) == before
    assert (result.confirmed, result.uncertain) == (len(before[0]), len(before[1]))
    assert state.info().acknowledged_batches == 0
    assert state.info().snapshot_count == len(before[0])

    reopened = make_store().open_list(REF)
    assert (confirmed_of(reopened), uncertain_of(reopened)) == before
    assert reopened.compact().folded_batches == 0
    assert (confirmed_of(reopened), uncertain_of(reopened)) == before


def test_a_split_snapshot_reads_the_same_at_every_split(make_store: MakeStore) -> None:
    """A snapshot in many files concatenates, at any partition split, to the whole set in order."""
    state = make_store(snapshot_rows=50).open_list(REF)
    records = {sha(i) for i in range(500)} | {"x@example.com"}
    state.acknowledge(state.begin(ListOperation.ADD, sorted(records)))
    state.compact()
    with state.membership() as membership:
        confirmed = membership.confirmed
        assert confirmed.partition_bits > 0
        for bits in (0, 2, confirmed.partition_bits, confirmed.partition_bits + 1):
            frames = list(confirmed.iter_frames(bits))
            assert len(frames) == 1 << bits
            assert [r for f in frames for r in f.get_column("record").to_list()] == ordered(records)
        assert [r for batch in confirmed.iter_batches(64) for r in batch] == ordered(records)


@st.composite
def journals(draw: st.DrawFn) -> list[tuple[str, list[int], str]]:
    steps = st.tuples(
        st.sampled_from(["ADD", "REMOVE"]),
        st.lists(st.integers(0, 40), min_size=1, max_size=12),
        st.sampled_from(["ack", "ack", "pending", "discard", "compact"]),
    )
    return draw(st.lists(steps, max_size=10))


@given(journals())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_store_agrees_with_a_model_of_the_protocol(
    backend: Backend, tmp_path: Path, steps: list[tuple[str, list[int], str]]
) -> None:
    """Any sequence of begin, acknowledge, discard and compact gives the model's confirmed and uncertain sets."""
    location, ref = backend.fresh(tmp_path)  # one store (or list) per example
    confirmed: set[str] = set()
    latest: dict[str, str] = {}  # record -> "ack" or "pending", for its latest batch
    with open_state(location) as store:
        state = store.open_list(ref)
        for operation, ids, outcome in steps:
            records = [sha(i) if i % 5 else f"user{i}@example.com" for i in ids]
            batch = state.begin(ListOperation(operation), records)
            if outcome == "discard":
                state.discard(batch)
                continue
            for record in records:
                latest[record] = "pending" if outcome == "pending" else "ack"
            if outcome == "pending":
                continue
            state.acknowledge(batch)
            if operation == "ADD":
                confirmed.update(records)
            else:
                confirmed.difference_update(records)
            if outcome == "compact":
                state.compact()
        assert confirmed_of(state) == ordered(confirmed)
        assert uncertain_of(state) == {r for r, status in latest.items() if status == "pending"}
        state.compact()
        assert confirmed_of(state) == ordered(confirmed)
        assert uncertain_of(state) == {r for r, status in latest.items() if status == "pending"}


def test_metadata_is_kept_per_list_and_listed(make_store: MakeStore) -> None:
    """Metadata set once stays; arguments left out keep their value; lists() shows every list."""
    store = make_store()
    state = store.open_list(REF)
    state.set_metadata(list_type="EMAIL", list_name="Newsletter", audience_id="123")
    state.set_metadata(audience_name="Newsletter audience")
    other = ListRef(REF.api_base + "/", REF.ad_account_id, "999")
    store.open_list(other).begin(ListOperation.ADD, [sha(1)])

    info = store.find_list(REF)
    assert info is not None
    assert (info.list_type, info.list_name, info.audience_id, info.audience_name) == (
        "EMAIL",
        "Newsletter",
        "123",
        "Newsletter audience",
    )
    listed = {i.ref.customer_list_id: i for i in make_store().lists()}
    assert set(listed) == {REF.customer_list_id, "999"}
    assert (listed["999"].pending_batches, listed["999"].pending_records) == (1, 1)
    assert listed["999"].ref.api_base == REF.api_base


def test_forget_removes_rows_and_files(make_store: MakeStore, backend: Backend) -> None:
    """A forgotten list has no state left, in files or rows, and starts empty when used again."""
    store = make_store()
    state = store.open_list(REF)
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(10)]))
    state.compact()
    assert backend.has_snapshot_files(state.id)
    assert store.forget(REF) is True
    assert not backend.has_snapshot_files(state.id)
    assert store.find_list(REF) is None
    assert store.forget(REF) is False
    assert confirmed_of(store.open_list(REF)) == []


def test_a_fresh_store_is_at_the_current_schema_version(make_embedded_store: MakeEmbedded, tmp_path: Path) -> None:
    """The schema version is written with the schema, and WAL is the journal mode."""
    make_embedded_store().close()
    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_version_1_store_is_migrated_and_keeps_its_lists(make_embedded_store: MakeEmbedded, tmp_path: Path) -> None:
    """A store written at schema version 1 opens at the current version with its lists and no pending audience."""
    from pinaudience.state.schema import MIGRATIONS

    directory = tmp_path / "state"
    directory.mkdir()
    with sqlite3.connect(directory / "state.sqlite3") as db:
        MIGRATIONS[1](db)
        db.execute(
            "INSERT INTO lists (api_base, ad_account_id, customer_list_id, list_name, audience_id, audience_name, "
            "created_at, updated_at) VALUES (?, ?, ?, 'Old', '77', 'Old audience', 1.0, 1.0)",
            (REF.api_base, REF.ad_account_id, REF.customer_list_id),
        )
        db.execute("PRAGMA user_version = 1")
    info = make_embedded_store().find_list(REF)
    assert info is not None
    assert (info.list_name, info.audience_id, info.audience_name) == ("Old", "77", "Old audience")
    assert info.audience_pending_since is None
    with sqlite3.connect(directory / "state.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_store_upgraded_by_another_process_while_this_one_waited_is_not_upgraded_twice(
    make_embedded_store: MakeEmbedded, tmp_path: Path
) -> None:
    """Workers of a fleet open one new state directory at once: one that read the schema version before another
    upgraded it re-reads it under the write lock, instead of creating the tables again (found by tests/fleet:
    `cannot upgrade the state schema to version 3: duplicate column name`).

    Another connection holds the write lock while the store opens (so the store reads version 0, then waits),
    upgrades the schema, and lets go. If the opening thread is too slow to read before the upgrade, it reads the
    new version and the test proves less, but cannot fail wrongly."""
    import threading

    from pinaudience.state.schema import MIGRATIONS

    directory = tmp_path / "state"
    directory.mkdir()
    other = sqlite3.connect(directory / "state.sqlite3", isolation_level=None)
    other.execute("PRAGMA journal_mode = WAL")
    other.execute("BEGIN IMMEDIATE")
    opened: list[StateStore | BaseException] = []

    def open_store() -> None:
        try:
            opened.append(make_embedded_store())
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            opened.append(error)

    opener = threading.Thread(target=open_store)
    opener.start()
    opener.join(timeout=0.5)  # the opener reads version 0, then waits for the write lock
    for version in range(1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](other)
    other.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
    other.execute("COMMIT")
    other.close()
    opener.join(timeout=30)
    (store,) = opened
    assert isinstance(store, StateStore), store
    assert store.find_list(REF) is None


def test_a_pending_audience_is_recorded_and_cleared(make_store: MakeStore) -> None:
    """The time an audience started waiting for Pinterest's matching is kept until a run records the audience."""
    store = make_store()
    state = store.open_list(REF)
    state.set_metadata(audience_id=None, audience_name="Waiting", audience_pending_since=1_700_000_000.0)
    waiting = make_store().find_list(REF)
    assert waiting is not None
    assert (waiting.audience_id, waiting.audience_name, waiting.audience_pending_since) == (
        None,
        "Waiting",
        1_700_000_000.0,
    )
    state.set_metadata(audience_id="88")
    assert state.info().audience_pending_since == 1_700_000_000.0
    state.set_metadata(audience_pending_since=None)
    done = state.info()
    assert (done.audience_id, done.audience_pending_since) == ("88", None)


def test_a_newer_schema_is_refused_clearly(make_embedded_store: MakeEmbedded, tmp_path: Path) -> None:
    """State written by a newer pinaudience is not touched by an older one."""
    make_embedded_store().close()
    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match=f"schema version {SCHEMA_VERSION + 1}, newer") as raised:
        make_embedded_store()
    assert "Upgrade pinaudience" in raised.value.resolution


def test_a_directory_that_cannot_be_created_is_a_state_error(tmp_path: Path) -> None:
    """A state path under a regular file fails at open, with the path in the message."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateError, match="cannot use the state directory"):
        StateStore(blocker / "state")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories; see the injected test below")
def test_a_read_only_directory_is_a_state_error(tmp_path: Path) -> None:
    """An existing directory without write permission fails at open, before any batch."""
    directory = tmp_path / "state"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        with pytest.raises(StateError):
            StateStore(directory)
    finally:
        directory.chmod(0o755)


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_a_failing_write_probe_is_a_state_error(tmp_path: Path, code: int) -> None:
    """A read-only or full file system, seen when the store probes it at open, fails before anything else."""

    def faults(step: str) -> None:
        if step == "open.probe":
            raise OSError(code, os.strerror(code))

    with pytest.raises(StateError, match="cannot use the state directory"):
        StateStore(tmp_path / "state", faults=faults)
    assert not (tmp_path / "state" / "state.sqlite3").exists()


def test_a_batch_that_cannot_be_recorded_is_refused_and_absent(make_store: MakeStore) -> None:
    """If the PENDING intent cannot be written, begin raises and nothing of the batch is recorded."""
    failing = {"on": False}

    def faults(step: str) -> None:
        if failing["on"] and step == "batch.begin":
            raise OSError(errno.ENOSPC, "No space left on device")

    state = make_store(faults=faults).open_list(REF)
    failing["on"] = True
    with pytest.raises(StateError, match="no space left"):
        state.begin(ListOperation.ADD, [sha(1)])
    assert state.pending() == []
    assert uncertain_of(state) == set()


def test_an_acknowledgement_that_cannot_be_recorded_leaves_the_batch_uncertain(make_store: MakeStore) -> None:
    """A lost acknowledgement never becomes a confirmed member: the batch stays uncertain."""

    def faults(step: str) -> None:
        if step == "batch.acknowledge":
            raise OSError(errno.EIO, "Input/output error")

    state = make_store(faults=faults).open_list(REF)
    batch = state.begin(ListOperation.ADD, [sha(1)])
    with pytest.raises(StateError):
        state.acknowledge(batch)
    assert (confirmed_of(state), uncertain_of(state)) == ([], {sha(1)})


def test_a_damaged_snapshot_is_a_state_error(make_store: MakeStore, backend: Backend) -> None:
    """A truncated snapshot file is reported as state trouble, not as a Parquet traceback."""
    state = make_store().open_list(REF)
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(100)]))
    state.compact()
    backend.damage_a_part()
    with pytest.raises(StateError, match="cannot read the snapshot file"):
        confirmed_of(state)


def test_no_record_reaches_an_exception_or_a_log(make_store: MakeStore, caplog: pytest.LogCaptureFixture) -> None:
    """Failures and logs name counts, batch ids and list ids, never a record."""
    canaries = ["canary.person@example.com", sha("canary"), "cAnArY-äöü"]
    caplog.set_level(logging.DEBUG)
    failing = {"step": ""}

    def faults(step: str) -> None:
        if step == failing["step"]:
            raise OSError(errno.ENOSPC, "No space left on device")

    store = make_store(faults=faults)
    state = store.open_list(REF)
    messages: list[str] = []
    batch = state.begin(ListOperation.ADD, canaries)
    state.acknowledge(batch)
    state.compact()

    def add_and_compact() -> None:
        state.acknowledge(state.begin(ListOperation.ADD, canaries))
        state.compact()

    actions: list[tuple[str, Callable[[], object]]] = [
        ("batch.begin", lambda: state.begin(ListOperation.REMOVE, canaries)),
        ("batch.acknowledge", lambda: state.acknowledge(state.begin(ListOperation.REMOVE, canaries))),
        ("compact.partition_written", add_and_compact),
        ("", lambda: state.discard(batch)),
    ]
    for step, action in actions:
        failing["step"] = step
        with pytest.raises(StateError) as raised:
            action()
        messages += [str(raised.value), repr(raised.value), str(raised.value.to_dict())]
    text = "\n".join(messages + [record.getMessage() for record in caplog.records])
    assert "batch" in text
    for canary in canaries:
        assert canary not in text
        assert canary[:9] not in text


def test_compaction_gives_the_journal_space_back(make_embedded_store: MakeEmbedded, tmp_path: Path) -> None:
    """Once batches are folded into a snapshot, the SQLite file shrinks instead of keeping their pages."""
    state = make_embedded_store().open_list(REF)
    for batch in range(10):
        state.acknowledge(state.begin(ListOperation.ADD, [sha(f"{batch}-{i}") for i in range(2000)]))
    database = tmp_path / "state" / "state.sqlite3"
    journal_size = database.stat().st_size + (tmp_path / "state" / "state.sqlite3-wal").stat().st_size
    state.compact()
    assert database.stat().st_size < journal_size / 4


def test_the_default_directory_is_the_users_state_directory() -> None:
    """Without --state, the store lives in the platform's per-user state directory for pinaudience."""
    assert default_state_dir().name == "pinaudience"
    assert default_state_dir().is_absolute()
