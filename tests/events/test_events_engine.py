"""The events engine against the in-process emulator: each event acknowledged once, rejects, test mode, errors."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import SEED_AD_ACCOUNT_ID
from pinaudience.engine.events import UploadProgress
from pinaudience.errors import StateError
from pinaudience.state import open_state
from pinaudience.state.store import lock_key
from tests.emulator_admin import EmulatorAdmin
from tests.events.conftest import (
    CANARY_EMAIL,
    CANARY_PHONE,
    EventsRunner,
    checkouts,
    events_settings,
    write_events,
)
from tests.helpers import API_BASE

pytestmark = pytest.mark.anyio

DAY = 86_400.0


class Crash(Exception):
    """Stands for the process dying at a chosen step."""


async def test_every_event_is_sent_once_in_batches_and_journaled(
    tmp_path: Path, clock: FakeClock, admin: EmulatorAdmin, run_events: EventsRunner
) -> None:
    """2,500 events go in three batches, all processed; the report counts them and the progress follows."""
    path = write_events(tmp_path / "events.csv", checkouts(clock, 2500))
    seen: list[object] = []
    report = await run_events(events_settings(tmp_path, path), events=seen)
    assert report.status == "ok", report.error
    assert (report.rows_read, report.events_ready, report.sent, report.processed, report.failed) == (
        2500,
        2500,
        2500,
        2500,
        0,
    )
    assert report.batches == 3
    assert report.requests["requests_by_operation"] == {"events/create": 3}
    counts = await admin.conversion_events()
    assert (counts["received"], counts["unique_event_ids"], counts["requests"]) == (2500, 2500, 3)
    progress = [e for e in seen if isinstance(e, UploadProgress)]
    assert progress[-1].records_done == progress[-1].records_total == 2500
    sent = counts["events"][0]["event"]
    assert sent["custom_data"] == {"order_id": "A-0", "value": "19.90", "currency": "EUR"}
    assert sent["event_id"].startswith("pa1-")


async def test_a_rerun_sends_nothing_new_and_a_longer_file_only_its_new_events(
    tmp_path: Path, clock: FakeClock, admin: EmulatorAdmin, run_events: EventsRunner
) -> None:
    """The same file again sends nothing; the file grown by 300 rows sends those 300 only."""
    path = write_events(tmp_path / "events.csv", checkouts(clock, 1200))
    settings = events_settings(tmp_path, path)
    await run_events(settings)
    again = await run_events(settings)
    assert (again.status, again.already_acknowledged, again.sent, again.batches) == ("ok", 1200, 0, 0)
    write_events(path, checkouts(clock, 1500))
    longer = await run_events(settings)
    assert (longer.already_acknowledged, longer.sent) == (1200, 300)
    counts = await admin.conversion_events()
    assert (counts["received"], counts["unique_event_ids"]) == (1500, 1500)


async def test_a_partial_422_rejects_the_failed_rows_with_pinterests_message(
    tmp_path: Path, clock: FakeClock, admin: EmulatorAdmin, run_events: EventsRunner
) -> None:
    """Events Pinterest fails go to the rejects file with their rows; the processed ones are never sent again."""
    await admin.settings(max_event_age_s=2 * DAY)
    rows = checkouts(clock, 4) + checkouts(clock, 3, start=4, age_s=3 * DAY)
    path = write_events(tmp_path / "events.csv", rows)
    rejects = tmp_path / "rejects.csv"
    settings = events_settings(tmp_path, path, rejects=rejects)
    report = await run_events(settings)
    assert report.status == "ok"
    assert (report.sent, report.processed, report.failed) == (7, 4, 3)
    (message,) = report.failed_by_message
    assert report.failed_by_message[message] == 3
    lines = rejects.read_text().splitlines()
    assert lines[0] == "row,reason"
    assert [line.split(",", 1)[0] for line in lines[1:]] == ["5", "6", "7"]
    assert all("pinterest: " in line for line in lines[1:])
    again = await run_events(settings)
    assert (again.already_acknowledged, again.sent, again.failed) == (4, 3, 3)
    counts = await admin.conversion_events()
    assert counts["unique_event_ids"] == 4


async def test_test_mode_records_nothing_and_leaves_the_journal_alone(
    tmp_path: Path, clock: FakeClock, admin: EmulatorAdmin, run_events: EventsRunner
) -> None:
    """`--test` sends every event with ?test=true: Pinterest records none, and the real run still sends them all."""
    path = write_events(tmp_path / "events.csv", checkouts(clock, 50))
    settings = events_settings(tmp_path, path)
    test_settings = replace(settings, events=(replace(settings.events[0], test=True),))
    first = await run_events(test_settings)
    second = await run_events(test_settings)
    assert (first.test, first.processed, second.already_acknowledged, second.sent) == (True, 50, 0, 50)
    counts = await admin.conversion_events()
    assert (counts["received"], counts["test_events"], counts["events"]) == (0, 100, [])
    real = await run_events(settings)
    assert (real.already_acknowledged, real.sent) == (0, 50)


@pytest.mark.parametrize(
    ("rows", "kind", "words"),
    [
        ([{"customer": "x@example.com", "event_time": 1}], "invalid_input", "no identifier column"),
        ([{"email": "x@example.com", "when": 1}], "invalid_input", "no event_time column"),
        ([{"email": "x@example.com", "event_time": "yesterday"}], "invalid_input", "bad_time 1"),
        ([{"email": "x@example.com", "event_time": 1764979200000}], "invalid_input", "milliseconds 1"),
    ],
)
async def test_bad_files_end_with_a_named_error_and_send_nothing(
    tmp_path: Path,
    admin: EmulatorAdmin,
    run_events: EventsRunner,
    rows: list[dict[str, Any]],
    kind: str,
    words: str,
) -> None:
    """A file without an identifier or time column, or whose times are all unusable, fails by name, sends nothing."""
    path = write_events(tmp_path / "events.csv", rows)
    report = await run_events(events_settings(tmp_path, path, event_name="checkout", action_source="web"))
    assert report.status == "error"
    assert report.error is not None
    assert (report.error.kind, words in report.error.message) == (kind, True), report.error
    assert report.error.resolution
    assert (await admin.conversion_events())["requests"] == 0


async def test_a_crash_after_pinterest_answered_resends_only_that_batch(
    tmp_path: Path, clock: FakeClock, admin: EmulatorAdmin, run_events: EventsRunner
) -> None:
    """Killed before the second batch's journal commit, a rerun sends that batch and the rest; Pinterest holds each
    event once."""
    path = write_events(tmp_path / "events.csv", checkouts(clock, 3500))
    settings = events_settings(tmp_path, path)
    seen: list[str] = []

    def crash(step: str) -> None:
        seen.append(step)
        if step == "events.record" and seen.count(step) == 2:
            raise Crash(step)

    settings_one = replace(settings, pinterest=replace(settings.pinterest, writes_in_flight=1))
    with open_state(settings.state, clock=clock, faults=crash) as store, pytest.raises(Crash):
        await run_events(settings_one, store=store)
    again = await run_events(settings_one)
    assert (again.status, again.already_acknowledged, again.sent) == ("ok", 1000, 2500)
    counts = await admin.conversion_events()
    assert (counts["received"], counts["unique_event_ids"]) == (4500, 3500)  # one batch twice, each event held


async def test_a_journal_that_cannot_be_written_stops_the_run_and_the_rerun_converges(
    tmp_path: Path, clock: FakeClock, admin: EmulatorAdmin, run_events: EventsRunner
) -> None:
    """A state error after Pinterest answered ends the run in error; the rerun sends what was not journaled."""
    path = write_events(tmp_path / "events.csv", checkouts(clock, 1500))
    settings = events_settings(tmp_path, path)

    def fail(step: str) -> None:
        if step == "events.record":
            raise StateError("injected: disk full")

    with open_state(settings.state, clock=clock, faults=fail) as store:
        report = await run_events(settings, store=store)
    assert report.status == "error"
    assert report.error is not None
    assert report.error.kind == "state_error"
    again = await run_events(settings)
    assert again.status == "ok"
    assert again.already_acknowledged + again.sent == 1500
    assert (await admin.conversion_events())["unique_event_ids"] == 1500


async def test_a_second_run_on_the_same_ad_account_is_refused_while_one_holds_the_lock(
    tmp_path: Path, clock: FakeClock, run_events: EventsRunner
) -> None:
    """Two events runs on one ad account never interleave: the second fails with state_locked."""
    path = write_events(tmp_path / "events.csv", checkouts(clock, 5))
    settings = events_settings(tmp_path, path)
    with open_state(settings.state, clock=clock) as store, store.lock(lock_key(API_BASE, SEED_AD_ACCOUNT_ID, "events")):
        report = await run_events(settings)
    assert report.error is not None
    assert report.error.kind == "state_locked"


async def test_old_journal_entries_expire_after_the_retention_window(
    tmp_path: Path, clock: FakeClock, run_events: EventsRunner
) -> None:
    """Entries older than `retention_days` are deleted by the next run (their events are too old to send by then)."""
    path = write_events(tmp_path / "events.csv", checkouts(clock, 10))
    settings = events_settings(tmp_path, path, retention_days=8)
    await run_events(settings)
    clock.advance(9 * DAY)
    write_events(path, checkouts(clock, 2, start=100))
    report = await run_events(settings)
    assert (report.journal_expired, report.sent) == (10, 2)


async def test_the_journal_works_the_same_in_postgresql(
    tmp_path: Path, clock: FakeClock, admin: EmulatorAdmin, run_events: EventsRunner, postgres_url: str
) -> None:
    """With a PostgreSQL state, a rerun sends nothing new either."""
    path = write_events(tmp_path / "events.csv", checkouts(clock, 1100))
    settings = events_settings(tmp_path, path, state=postgres_url)
    first = await run_events(settings)
    again = await run_events(settings)
    assert (first.sent, again.already_acknowledged, again.sent) == (1100, 1100, 0)
    assert (await admin.conversion_events())["received"] == 1100


async def test_no_raw_value_reaches_the_report_the_rejects_or_the_logs(
    tmp_path: Path, clock: FakeClock, run_events: EventsRunner, caplog: pytest.LogCaptureFixture
) -> None:
    """A raw email or phone appears nowhere: report, rejects file, log records, error."""
    caplog.set_level(logging.DEBUG)
    when = int(clock.now() - 60)
    rows: list[dict[str, Any]] = [
        {"email": CANARY_EMAIL, "phone": CANARY_PHONE, "event_time": when, "event_name": "lead"},
        {"email": "Canary.Person@@Example.com", "phone": CANARY_PHONE, "event_time": when, "event_name": "lead"},
        {"email": CANARY_EMAIL, "phone": CANARY_PHONE, "event_time": "yesterday", "event_name": "lead"},
    ]
    path = write_events(tmp_path / "events.csv", rows)
    rejects = tmp_path / "rejects.csv"
    report = await run_events(events_settings(tmp_path, path, action_source="web", rejects=rejects))
    assert report.status == "ok"
    assert (report.processed, report.events_rejected) == (1, 2)
    texts = [json.dumps(report.to_dict()), rejects.read_text(), caplog.text]
    for text in texts:
        for canary in (CANARY_EMAIL, CANARY_EMAIL.lower(), "Canary.Person", "867-5309", "8675309"):
            assert canary not in text


async def test_a_batch_pinterest_finds_too_large_is_sent_again_in_halves(
    tmp_path: Path, clock: FakeClock, admin: EmulatorAdmin, run_events: EventsRunner
) -> None:
    """A 413 splits the batch until each part fits; every event is still sent once."""
    await admin.settings(max_body_bytes=150_000)
    path = write_events(tmp_path / "events.csv", checkouts(clock, 1000))
    report = await run_events(events_settings(tmp_path, path))
    assert report.status == "ok", report.error
    assert report.batches_split >= 1
    assert (report.processed, (await admin.conversion_events())["unique_event_ids"]) == (1000, 1000)


async def test_a_rejects_file_that_cannot_be_written_fails_the_run_by_name(
    tmp_path: Path, clock: FakeClock, run_events: EventsRunner
) -> None:
    """A rejects path in a missing folder: the events are sent, and the run ends with invalid_input naming the file."""
    path = write_events(tmp_path / "events.csv", checkouts(clock, 3))
    report = await run_events(events_settings(tmp_path, path, rejects=tmp_path / "missing" / "rejects.csv"))
    assert (report.status, report.processed) == ("error", 3)
    assert report.error is not None
    assert report.error.kind == "invalid_input"
    assert "rejects file" in report.error.message


async def test_429s_and_a_lost_answer_are_retried_and_pinterest_counts_each_event_once(
    tmp_path: Path, clock: FakeClock, admin: EmulatorAdmin, run_events: EventsRunner
) -> None:
    """Retries as for audiences: a 429 and a 503 are retried; an answer lost after Pinterest recorded the batch is
    retried too, and Pinterest de-duplicates the resent events by event_id."""
    await admin.faults(
        {"operation": "events/create", "calls": [1], "status": 429},
        {"operation": "events/create", "calls": [2], "status": 503},
        {"operation": "events/create", "calls": [3], "drop": "after"},
    )
    path = write_events(tmp_path / "events.csv", checkouts(clock, 2000))
    settings = events_settings(tmp_path, path)
    one = replace(settings, pinterest=replace(settings.pinterest, writes_in_flight=1))
    report = await run_events(one)
    assert report.status == "ok", report.error
    assert (report.processed, report.requests["retries"], report.requests["rate_limited"]) == (2000, 3, 1)
    counts = await admin.conversion_events()
    assert counts["unique_event_ids"] == 2000
    assert counts["received"] == 3000  # the batch whose answer was lost arrived twice


async def test_pinterest_unavailable_after_every_retry_ends_the_run_and_the_rerun_sends_the_rest(
    tmp_path: Path, clock: FakeClock, admin: EmulatorAdmin, run_events: EventsRunner
) -> None:
    """503s past the retry budget end the run with pinterest_unavailable; what was acknowledged stays journaled."""
    await admin.faults({"operation": "events/create", "calls": list(range(2, 40)), "status": 503})
    path = write_events(tmp_path / "events.csv", checkouts(clock, 3000))
    settings = events_settings(tmp_path, path)
    one = replace(settings, pinterest=replace(settings.pinterest, writes_in_flight=1))
    report = await run_events(one)
    assert report.error is not None
    assert (report.error.kind, report.processed) == ("pinterest_unavailable", 1000)
    await admin.clear_faults()
    again = await run_events(one)
    assert (again.status, again.already_acknowledged, again.sent) == ("ok", 1000, 2000)
    assert (await admin.conversion_events())["unique_event_ids"] == 3000
