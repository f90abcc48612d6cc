"""The sync engine on the PostgreSQL state backend: the same runs, crashes and refusals as on a directory.

The engine opens its state with `open_state(settings.state)`, so these runs differ from the others of this
folder only in the state location: a `postgresql://` URL on a real server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pinaudience.clock import FakeClock
from pinaudience.errors import StateError
from pinaudience.state import open_state
from pinaudience.state.postgres import PostgresStateStore
from tests.helpers import emails, expected_members, write_csv
from tests.servers import PostgresServer, start_postgres
from tests.sync.sync_helpers import Admin, Runner, applied_writes, settings_for
from tests.sync.test_sync_crash import Crash, crash_at

pytestmark = pytest.mark.anyio


@pytest.fixture
def emulator_profile() -> str:
    """The state backend is what varies here; one emulator profile is enough."""
    return "realistic"


async def test_a_mirror_keeps_its_state_in_postgresql(
    tmp_path: Path, admin: Admin, run_sync: Runner, postgres_url: str
) -> None:
    """A first mirror and a changed file, with the state in PostgreSQL: the list equals the file each time."""
    source = tmp_path / "c.csv"
    settings = replace(settings_for(tmp_path, write_csv(source, emails(400)), batch_size=50), state=postgres_url)
    (first,) = (await run_sync(settings)).audiences
    assert first.status == "ok", first.error
    write_csv(source, emails(380, start=60))
    (second,) = (await run_sync(settings)).audiences
    assert second.status == "ok", second.error
    assert (second.planned_adds, second.planned_removes) == (40, 60)
    assert first.customer_list_id is not None
    assert await admin.records(first.customer_list_id) == expected_members(emails(380, start=60))
    assert not (tmp_path / "state").exists()
    with open_state(postgres_url) as store:
        (info,) = store.lists()
    assert info.snapshot_count == 380


@pytest.mark.parametrize(
    ("step", "occurrence"),
    [("batch.begin", 2), ("batch.acknowledge", 1), ("compact.partition_written", 1), ("compact.switched", 1)],
)
async def test_resume_after_a_crash_with_the_state_in_postgresql(
    tmp_path: Path, admin: Admin, run_sync: Runner, clock: FakeClock, postgres_url: str, step: str, occurrence: int
) -> None:
    """A second mirror killed at a step of the PostgreSQL store and run again leaves the list equal to the file."""
    source = tmp_path / "c.csv"
    settings = replace(settings_for(tmp_path, write_csv(source, emails(400)), batch_size=50), state=postgres_url)
    (first,) = (await run_sync(settings)).audiences
    assert first.customer_list_id is not None
    write_csv(source, emails(380, start=60))
    _, hook = crash_at(step, occurrence)
    store = PostgresStateStore(postgres_url, clock=clock, faults=hook)  # type: ignore[arg-type]
    with pytest.raises(Crash):
        await run_sync(settings, store=store)
    store.close()
    (resumed,) = (await run_sync(settings)).audiences
    assert resumed.status == "ok", resumed.error
    assert await admin.records(first.customer_list_id) == expected_members(emails(380, start=60))
    (settled,) = (await run_sync(settings)).audiences
    assert settled.planned_adds == settled.planned_removes == 0


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own, to stop."""
    server = start_postgres()
    yield server
    server.close()


async def test_a_stopped_state_server_fails_before_anything_is_sent(
    tmp_path: Path, admin: Admin, run_sync: Runner, own_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The state's server is down when the run starts: a StateError before a single request, without the password."""
    caplog.set_level(logging.DEBUG)
    url = own_server.create_database()
    own_server.stop("immediate")
    settings = replace(settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(300))), state=url)
    with pytest.raises(StateError) as raised:
        await run_sync(settings)
    assert await admin.requests() == []
    text = "\n".join([str(raised.value), raised.value.resolution, *(r.getMessage() for r in caplog.records)])
    assert own_server.password not in text
    assert "running and reachable" in raised.value.resolution


async def test_a_state_server_that_dies_mid_run_stops_the_batch_it_could_not_record(
    tmp_path: Path, admin: Admin, run_sync: Runner, clock: FakeClock, own_server: PostgresServer
) -> None:
    """The server dies while a batch is recorded: that batch is not sent, and a run after the restart ends right."""
    source = tmp_path / "c.csv"
    url = own_server.create_database()
    settings = replace(settings_for(tmp_path, write_csv(source, emails(400)), batch_size=50), state=url)
    (first,) = (await run_sync(settings)).audiences
    assert first.customer_list_id is not None
    write_csv(source, emails(380, start=60))
    applied = len(await applied_writes(admin))
    seen: list[str] = []

    def die(step: str) -> None:
        seen.append(step)
        if step == "batch.begin" and seen.count(step) == 2:
            own_server.stop("immediate")

    store = PostgresStateStore(url, clock=clock, faults=die)
    (report,) = (await run_sync(settings, store=store)).audiences
    store.close()
    assert report.error is not None
    assert report.error.kind == "state_error"
    assert len(await applied_writes(admin)) <= applied + 1  # the first batch at most: the second was never recorded
    own_server.start()
    (resumed,) = (await run_sync(settings)).audiences
    assert resumed.status == "ok", resumed.error
    assert await admin.records(first.customer_list_id) == expected_members(emails(380, start=60))
