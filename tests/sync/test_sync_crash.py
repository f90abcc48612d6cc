"""Crash safety: a run stopped at any step, then run again, ends with exactly the desired membership."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from pinaudience.clock import FakeClock
from pinaudience.errors import StateError
from pinaudience.state import StateStore
from tests.helpers import emails, expected_members, write_csv
from tests.sync.sync_helpers import Admin, Runner, ToAudience, settings_for

pytestmark = pytest.mark.anyio


class Crash(Exception):
    """Stands for the process dying at a chosen step (the reliability suite kills real processes)."""


def crash_at(step: str, occurrence: int) -> tuple[list[str], object]:
    """A state fault hook that raises Crash on the n-th time `step` is reached."""
    seen: list[str] = []

    def hook(name: str) -> None:
        seen.append(name)
        if name == step and seen.count(step) == occurrence:
            raise Crash(step)

    return seen, hook


async def sent_records(admin: Admin) -> Counter[str]:
    """How many records each write operation carried, by operation (the emulator logs counts, not values)."""
    counts: Counter[str] = Counter()
    for request in await admin.writes():
        counts[request["operation"]] += request["records"]
    return counts


@pytest.mark.parametrize(
    ("step", "occurrence"),
    [
        ("batch.begin", 2),  # between batches: the ADD landed, no REMOVE was sent
        ("batch.begin", 3),  # between batches: the second REMOVE was never sent
        ("batch.acknowledge", 1),  # Pinterest acknowledged the ADD, but it was not journaled
        ("batch.acknowledge", 3),  # the last REMOVE acknowledged, but not journaled
        ("compact.files_written", 1),  # the upload is complete, compaction dies half way
    ],
)
async def test_resume_after_a_crash(
    tmp_path: Path, admin: Admin, run_sync: Runner, clock: FakeClock, step: str, occurrence: int
) -> None:
    """A second mirror killed at a step and run again leaves the list exactly equal to the file."""
    source = tmp_path / "c.csv"
    settings = settings_for(tmp_path, write_csv(source, emails(400)), batch_size=50)
    (first,) = (await run_sync(settings)).audiences
    list_id = first.customer_list_id
    assert list_id is not None
    write_csv(source, emails(380, start=60))  # 40 join (1 batch), 60 leave (2 batches)
    writes_before = len(await admin.writes())
    _, hook = crash_at(step, occurrence)
    store = StateStore(tmp_path / "state", clock=clock, faults=hook)  # type: ignore[arg-type]
    with pytest.raises(Crash):
        await run_sync(settings, store=store)
    store.close()
    (resumed,) = (await run_sync(settings)).audiences
    assert resumed.status == "ok", resumed.error
    assert await admin.records(list_id) == expected_members(emails(380, start=60))
    resent = sum(r["records"] for r in (await admin.writes())[writes_before:])
    assert resent <= 100 + 2 * 50  # the 100 changes, plus at most the batches in flight sent again
    (settled,) = (await run_sync(settings)).audiences
    assert settled.planned_adds == settled.planned_removes == 0


async def test_crash_while_creating_the_list_resumes(
    tmp_path: Path, admin: Admin, run_sync: Runner, run_to_audience: ToAudience, clock: FakeClock
) -> None:
    """Killed right after the list was created: the next run finds it by name and does not create another."""
    source = write_csv(tmp_path / "c.csv", emails(300))
    settings = settings_for(tmp_path, source, batch_size=100)
    _, hook = crash_at("batch.begin", 1)
    store = StateStore(tmp_path / "state", clock=clock, faults=hook)  # type: ignore[arg-type]
    with pytest.raises(Crash):
        await run_sync(settings, store=store)
    store.close()
    report = await run_to_audience(settings)
    assert report.status == "ok", report.error
    (only,) = await admin.lists()
    assert await admin.records(only["id"]) == expected_members(emails(300))
    assert len(await admin.audiences()) == 1


async def test_state_that_cannot_record_a_batch_stops_before_sending_it(
    tmp_path: Path, admin: Admin, run_sync: Runner, clock: FakeClock
) -> None:
    """A state directory that fails mid-run (disk full): a clean state_error, and the batch is not sent."""
    source = tmp_path / "c.csv"
    settings = settings_for(tmp_path, write_csv(source, emails(300)), batch_size=100)
    (first,) = (await run_sync(settings)).audiences
    assert first.customer_list_id is not None
    write_csv(source, emails(400))

    def disk_full(step: str) -> None:
        if step == "batch.begin":
            raise StateError("cannot record a batch: no space left on the device")

    writes = len(await admin.writes())
    store = StateStore(tmp_path / "state", clock=clock, faults=disk_full)
    (report,) = (await run_sync(settings, store=store)).audiences
    store.close()
    assert report.error is not None
    assert report.error.kind == "state_error"
    assert len(await admin.writes()) == writes
    (again,) = (await run_sync(settings)).audiences
    assert again.status == "ok"
    assert await admin.records(first.customer_list_id) == expected_members(emails(400))


async def test_unwritable_state_directory_fails_before_anything_is_sent(
    tmp_path: Path, admin: Admin, run_sync: Runner
) -> None:
    """A state directory that cannot be created is a StateError before a single request."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(300)))
    from dataclasses import replace

    settings = replace(settings, state=str(blocker / "state"))
    with pytest.raises(StateError):
        await run_sync(settings)
    assert await admin.requests() == []


async def test_two_runs_on_one_list_do_not_interleave(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """Two concurrent runs on one destination: one syncs, the other fails with state_locked and sends nothing."""
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(300)), batch_size=50)
    one, two = await asyncio.gather(run_sync(settings), run_sync(settings))
    reports = sorted([one.audiences[0], two.audiences[0]], key=lambda r: r.status)
    assert [r.status for r in reports] == ["error", "ok"]
    assert reports[0].error is not None
    assert reports[0].error.kind == "state_locked"
    assert reports[0].requests == 0
    (only,) = await admin.lists()
    assert await admin.records(only["id"]) == expected_members(emails(300))
