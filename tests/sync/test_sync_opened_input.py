"""The first input opened before the engine loads (`pinaudience.engine.inputs`): the same run, the same errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pinaudience.engine.inputs import open_first_input
from pinaudience.state import StateStore
from pinaudience.state.store import lock_key
from tests.helpers import API_BASE, emails, expected_members, write_csv
from tests.sync.sync_helpers import Admin, Runner, settings_for

pytestmark = pytest.mark.anyio


def empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    return path


async def test_opened_input_is_what_the_first_audience_reads(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """A run given its opened input syncs as one that opens the file at its read step."""
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(300)))
    opened = open_first_input(settings)
    assert opened is not None
    assert opened.source is not None
    assert opened.error is None
    (report,) = (await run_sync(settings, opened=opened)).audiences
    assert report.status == "ok", report.error
    assert report.customer_list_id is not None
    assert await admin.records(report.customer_list_id) == expected_members(emails(300))


async def test_file_changed_after_it_was_opened_fails_before_any_request(
    tmp_path: Path, admin: Admin, run_sync: Runner
) -> None:
    """The engine reads the source it was given: a file rewritten since it was opened is invalid_input, nothing sent."""
    path = write_csv(tmp_path / "c.csv", emails(300))
    settings = settings_for(tmp_path, path)
    opened = open_first_input(settings)
    write_csv(path, emails(400))
    (report,) = (await run_sync(settings, opened=opened)).audiences
    assert report.status == "error"
    assert report.error is not None
    assert report.error.kind == "invalid_input"
    assert "changed while it was read" in report.error.message
    assert await admin.requests() == []


async def test_unreadable_first_input_fails_only_its_audience(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """An opened input that cannot be read fails its own audience; the run goes on with the next one."""
    settings = settings_for(tmp_path, empty_file(tmp_path))
    second = replace(settings.audiences[0], input=write_csv(tmp_path / "c.csv", emails(300)), list_name="Second")
    settings = replace(settings, audiences=(settings.audiences[0], second))
    opened = open_first_input(settings)
    assert opened is not None
    assert opened.error is not None
    first_report, second_report = (await run_sync(settings, opened=opened)).audiences
    assert first_report.error is not None
    assert first_report.error.kind == "invalid_input"
    assert second_report.status == "ok", second_report.error
    assert second_report.customer_list_id is not None
    assert await admin.records(second_report.customer_list_id) == expected_members(emails(300))


async def test_held_lock_is_reported_before_an_unreadable_input(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """The opened input's error waits for the read step: a lock held by another run is still the error reported."""
    settings = settings_for(tmp_path, empty_file(tmp_path))
    opened = open_first_input(settings)
    assert opened is not None
    assert opened.error is not None
    key = lock_key(API_BASE, settings.pinterest.ad_account_id, "name:VIP customers")
    with StateStore(settings.state_dir) as store, store.lock(key):
        (report,) = (await run_sync(settings, opened=opened)).audiences
    assert report.error is not None
    assert report.error.kind == "state_locked"
    assert await admin.requests() == []


def test_no_file_to_open() -> None:
    """Without an audience, or with an audience naming no file, nothing is opened."""
    settings = settings_for(Path("."), Path("unused.csv"))
    assert open_first_input(replace(settings, audiences=())) is None
    assert open_first_input(replace(settings, audiences=(replace(settings.audiences[0], input=None),))) is None
