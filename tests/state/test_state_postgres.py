"""What only the PostgreSQL backend has: its schema and migrations, session locks, a server that stops or
refuses writes, and a password that must never leave the process. The contract shared with the embedded
store runs against both backends in the other files of this folder."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from pinaudience.clock import FakeClock
from pinaudience.errors import StateError, StateLocked
from pinaudience.pinterest.limits import ListOperation
from pinaudience.state import StateBackend, encoding, open_state
from pinaudience.state.postgres import PostgresStateStore, lock_id, translate
from pinaudience.state.postgres_schema import MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE
from pinaudience.support.redact import redact_url
from tests.servers import PostgresServer, start_postgres

from .conftest import REF, sha


def version_of(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()  # noqa: S608
        assert row is not None
        return int(row[0])


def test_a_new_database_gets_the_schema_on_first_use(postgres_url: str) -> None:
    """An empty database is given every table at the current schema version when a store first opens it."""
    with open_state(postgres_url, clock=FakeClock()) as store:
        assert isinstance(store, PostgresStateStore)
        assert store.lists() == []
    assert version_of(postgres_url) == SCHEMA_VERSION
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'pinaudience%'")}
    assert tables == {
        VERSION_TABLE,
        "pinaudience_state_meta",
        "pinaudience_lists",
        "pinaudience_batches",
        "pinaudience_snapshot_blobs",
        "pinaudience_snapshot_files",
        "pinaudience_event_acks",
    }


def test_a_version_1_database_is_migrated_and_keeps_its_state(postgres_url: str) -> None:
    """A database at schema version 1 opens at the current version, with its lists and journal intact."""
    records = encoding.to_parquet_bytes(encoding.encode_records([sha(1)]))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL)")
        MIGRATIONS[1](conn.execute)
        conn.execute(f"INSERT INTO {VERSION_TABLE} VALUES (1)")  # noqa: S608
        conn.execute(
            "INSERT INTO pinaudience_lists (api_base, ad_account_id, customer_list_id, list_name, created_at, "
            "updated_at) VALUES (%s, %s, %s, 'Old', 1.0, 1.0)",
            (REF.api_base, REF.ad_account_id, REF.customer_list_id),
        )
        conn.execute(
            "INSERT INTO pinaudience_batches (list_id, operation, status, count, records, created_at) "
            "SELECT id, 'ADD', 'ACKNOWLEDGED', 1, %s, 1.0 FROM pinaudience_lists",
            (records,),
        )
    with open_state(postgres_url) as store:
        info = store.find_list(REF)
        assert info is not None
        assert (info.list_name, info.acknowledged_batches) == ("Old", 1)
        with store.open_list(REF).membership() as membership:
            assert membership.confirmed.to_list() == [sha(1)]
    assert version_of(postgres_url) == SCHEMA_VERSION == 3
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'pinaudience_batches'::regclass "
            "AND attname = 'records'"
        ).fetchone()
    assert row is not None
    assert row[0] == "e"


def test_two_first_uses_at_once_both_succeed(postgres_url: str) -> None:
    """Workers that open a new database at the same moment serialise on the migration lock; none fails."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def first_use() -> None:
        try:
            start.wait()
            with open_state(postgres_url) as store:
                store.open_list(REF)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert version_of(postgres_url) == SCHEMA_VERSION
    with open_state(postgres_url) as store:
        assert len(store.lists()) == 1


def test_a_newer_schema_is_refused_clearly(postgres_url: str) -> None:
    """State written by a newer pinaudience is not touched by an older one."""
    open_state(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = {SCHEMA_VERSION + 1:d}")  # noqa: S608
    with pytest.raises(StateError, match=f"schema version {SCHEMA_VERSION + 1}, newer") as raised:
        open_state(postgres_url)
    assert "Upgrade pinaudience" in raised.value.resolution
    assert version_of(postgres_url) == SCHEMA_VERSION + 1


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pinaudience.state import open_state

    store = open_state(sys.argv[1])
    lock = store.lock(sys.argv[2])
    print("locked", flush=True)
    time.sleep(600)
    """
)


def test_a_lock_is_freed_when_its_holder_is_killed(postgres_url: str) -> None:
    """SIGKILL leaves no chance to clean up: PostgreSQL ends the session, and with it the lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, postgres_url, "list:42"], stdout=subprocess.PIPE, text=True
    )
    with open_state(postgres_url) as store:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "locked"
            with pytest.raises(StateLocked, match="list:42"):
                store.lock("list:42")
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait(30)
            if holder.stdout is not None:
                holder.stdout.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                lock = store.lock("list:42")
                break
            except StateLocked:
                assert time.monotonic() < deadline, "the killed holder's lock was never freed"
                time.sleep(0.05)
        assert lock.held
        lock.release()
        assert not lock.held


def test_lock_ids_are_stable_and_distinct() -> None:
    """A key maps to the same 64-bit lock id in every process, and keys of one account do not collide."""
    assert lock_id("a|1|list:1") == lock_id("a|1|list:1")
    ids = {lock_id(f"https://api.pinterest.com/v5|1|list:{i}") for i in range(10_000)}
    assert len(ids) == 10_000
    assert all(-(2**63) <= i < 2**63 for i in ids)


def test_the_shared_sql_is_translated_to_the_postgresql_tables() -> None:
    """Table names become their prefixed PostgreSQL names, and `?` placeholders become `%s`."""
    assert translate("SELECT seq FROM batches b JOIN lists l ON l.id = b.list_id WHERE l.id = ?") == (
        "SELECT seq FROM pinaudience_batches b JOIN pinaudience_lists l ON l.id = b.list_id WHERE l.id = %s"
    )
    assert translate("INSERT INTO meta (name) VALUES (?)") == "INSERT INTO pinaudience_state_meta (name) VALUES (%s)"
    assert translate("SELECT 1 FROM pinaudience_snapshot_files") == "SELECT 1 FROM pinaudience_snapshot_files"


def test_a_read_only_database_is_a_state_error_at_open(postgres_server: PostgresServer, postgres_url: str) -> None:
    """A database that refuses writes (a standby, or read-only by default) fails at open, before any batch."""
    open_state(postgres_url).close()
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    with pytest.raises(StateError, match="read-only") as raised:
        open_state(postgres_url)
    assert "read-only" in raised.value.resolution
    assert postgres_server.password not in str(raised.value) + raised.value.resolution


def test_a_role_without_write_grants_is_a_state_error(postgres_server: PostgresServer, postgres_url: str) -> None:
    """A user who may read the tables but not write them fails at open with a resolution about grants."""
    open_state(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'canary-reader-pw'")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    url = postgres_url.replace(f"{PostgresServer.USER}:", "reader:", 1).replace(
        postgres_server.password, "canary-reader-pw"
    )
    try:
        with pytest.raises(StateError, match="permission denied") as raised:
            open_state(url)
        assert "Grant the user" in raised.value.resolution
        assert "canary-reader-pw" not in str(raised.value) + raised.value.resolution
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DROP OWNED BY reader")
            conn.execute("DROP ROLE reader")


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of the test's own, to stop."""
    server = start_postgres()
    yield server
    server.close()


def test_a_stopped_server_is_a_state_error_and_records_nothing(
    own_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that dies mid-run fails the next write with a StateError that says what to check; a server
    that is down at open fails at once. Neither error nor log names the password."""
    caplog.set_level(logging.DEBUG)
    url = own_server.create_database()
    store = open_state(url)
    state = store.open_list(REF)
    state.acknowledge(state.begin(ListOperation.ADD, [sha(1)]))
    own_server.stop("immediate")
    texts: list[str] = []
    with pytest.raises(StateError) as during:
        state.begin(ListOperation.ADD, [sha(2)])
    texts += [str(during.value), during.value.resolution, repr(during.value.to_dict())]
    assert "running and reachable" in during.value.resolution
    store.close()
    with pytest.raises(StateError) as at_open:
        open_state(url)
    texts += [str(at_open.value), at_open.value.resolution]
    assert "running and reachable" in at_open.value.resolution
    assert redact_url(url) in str(at_open.value)
    own_server.start()
    with open_state(url) as reopened:
        state = reopened.open_list(REF)
        assert state.pending() == []
        with state.membership() as membership:
            assert membership.confirmed.to_list() == [sha(1)]
    texts += [record.getMessage() for record in caplog.records]
    assert own_server.password not in "\n".join(texts)


def test_the_password_never_leaves_the_store(
    postgres_server: PostgresServer, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The URL's password is in no repr, location, log record or error, even one about the URL itself."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    store: StateBackend = open_state(postgres_url)
    texts += [repr(store), store.location]
    state = store.open_list(REF)
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(10)]))
    state.compact()
    with store.lock("list:1"), pytest.raises(StateLocked) as locked:
        store.lock("list:1")
    texts.append(str(locked.value))
    store.close()
    wrong = postgres_server.url(postgres_url.rsplit("/", 1)[1], password="canary-wrong-password")
    with pytest.raises(StateError) as refused:
        open_state(wrong)
    texts += [str(refused.value), refused.value.resolution]
    texts += [record.getMessage() for record in caplog.records]
    text = "\n".join(texts)
    assert "***" in store.location
    assert postgres_server.password not in text
    assert "canary-wrong-password" not in text
