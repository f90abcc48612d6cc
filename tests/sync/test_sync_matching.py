"""Pinterest matches records asynchronously: pending audiences, too-small lists, removed audiences, counters."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, Emulator
from pinaudience.engine.sync import sync_async
from pinaudience.state import ListRef, StateStore
from tests.helpers import API_BASE, emails, expected_members, write_csv
from tests.sync.sync_helpers import Admin, Runner, ToAudience, applied_writes, settings_for

pytestmark = pytest.mark.anyio

SEED_AUTH = {"Authorization": f"Bearer {SEED_ACCESS_TOKEN}"}


def state_of(tmp_path: Path, clock: FakeClock, customer_list_id: str) -> Any:
    with StateStore(tmp_path / "state", clock=clock) as store:
        return store.find_list(ListRef(API_BASE, SEED_AD_ACCOUNT_ID, customer_list_id))


async def matched(emulator_client: httpx.AsyncClient, customer_list_id: str) -> int:
    """Members of the list the emulator counts as Pinterest users (its admin view)."""
    answer = await emulator_client.get(f"/_emulator/customer_lists/{customer_list_id}")
    count: int = answer.json()["matched"]
    return count


async def test_first_sync_to_an_unmatched_list_leaves_the_audience_pending_then_creates_it(
    tmp_path: Path, admin: Admin, run_sync: Runner, clock: FakeClock
) -> None:
    """Refused while matching: ok and pending, remembered; a later run creates the audience and sends nothing again."""
    await admin.settings(processing_delay_s=3600.0, audience_on_unmatched="refuse", track_sends=True)
    started = clock.now()
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(300)), batch_size=100)

    (first,) = (await run_sync(settings)).audiences
    assert first.status == "ok", first.error
    assert (first.list_created, first.audience_created, first.added) == (True, False, 300)
    assert (first.audience_id, first.audience_status, first.list_status) == (None, "pending", "PROCESSING")
    assert first.to_dict()["audience_status"] == "pending"
    assert any("still matching" in w and "created by the next run" in w for w in first.warnings)
    list_id = first.customer_list_id
    assert list_id is not None
    assert await admin.audiences() == []
    waiting = state_of(tmp_path, clock, list_id)
    assert (waiting.audience_id, waiting.audience_name) == (None, "VIP customers")
    assert started < waiting.audience_pending_since <= clock.now()

    clock.advance(600)  # still matching: pending again, nothing sent, the first time kept
    (again,) = (await run_sync(settings)).audiences
    assert (again.status, again.audience_status, again.planned_adds, again.added) == ("ok", "pending", 0, 0)
    assert state_of(tmp_path, clock, list_id).audience_pending_since == waiting.audience_pending_since

    clock.advance(3600)
    writes = len(await applied_writes(admin))
    (created,) = (await run_sync(settings)).audiences
    assert created.status == "ok", created.error
    assert (created.planned_adds, created.planned_removes, created.added) == (0, 0, 0)
    assert created.audience_created
    assert created.audience_status == "READY"
    assert [w["operation"] for w in (await applied_writes(admin))[writes:]] == ["audiences/create"]
    assert await admin.sends(list_id) == {"ADD": {"1": 300}, "REMOVE": {}}
    (audience,) = await admin.audiences()
    assert (audience["id"], audience["rule"]["customer_list_id"]) == (created.audience_id, list_id)
    done = state_of(tmp_path, clock, list_id)
    assert (done.audience_id, done.audience_pending_since) == (created.audience_id, None)
    assert await admin.records(list_id) == expected_members(emails(300))


async def test_an_audience_accepted_while_matching_is_created_without_a_size(
    tmp_path: Path, admin: Admin, run_sync: Runner, clock: FakeClock
) -> None:
    """With audience_on_unmatched accept, a first run creates the audience INITIALIZING and says it has no size yet."""
    await admin.settings(processing_delay_s=3600.0, audience_on_unmatched="accept")
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(300)))
    (first,) = (await run_sync(settings)).audiences
    assert first.status == "ok", first.error
    assert first.audience_created
    assert (first.audience_status, first.audience_size) == ("INITIALIZING", None)
    assert any("no size yet" in w for w in first.warnings)
    clock.advance(3601)
    (later,) = (await run_sync(settings)).audiences
    assert (later.audience_id, later.audience_status, later.added) == (first.audience_id, "READY", 0)
    assert later.audience_size is not None
    assert later.audience_size >= 100


async def test_a_list_matched_too_small_is_not_enough_records_with_the_counts(
    tmp_path: Path, admin: Admin, run_sync: Runner, later: Callable[[], None]
) -> None:
    """Matched and too small (match_rate): not_enough_records naming the records sent, with advice on matching."""
    await admin.settings(match_rate=0.2)
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(250)))
    (report,) = (await run_sync(settings)).audiences
    if report.audience_status == "pending":  # a profile where Pinterest refuses while it matches
        assert report.status == "ok"
        later()
        (report,) = (await run_sync(settings)).audiences
        assert report.added == 0
    assert report.status == "error"
    assert report.error is not None
    assert report.error.kind == "not_enough_records"
    assert "fewer than 100 of the 250 records sent" in report.error.message
    assert "match Pinterest users" in report.error.resolution
    assert "return at least 100 rows" not in report.error.resolution
    assert report.list_status == "TOO_SMALL"
    assert report.customer_list_id is not None
    assert await admin.records(report.customer_list_id) == expected_members(emails(250))
    assert await admin.audiences() == []


async def test_an_audience_matched_too_small_says_how_many_matched(
    tmp_path: Path, admin: Admin, run_sync: Runner, clock: FakeClock, emulator_client: httpx.AsyncClient
) -> None:
    """An audience Pinterest built, then matched too small (audience_on_unmatched accept): sent and matched counts."""
    await admin.settings(processing_delay_s=60.0, audience_on_unmatched="accept", match_rate=0.2)
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(250)))
    (first,) = (await run_sync(settings)).audiences
    assert (first.status, first.audience_status) == ("ok", "INITIALIZING")
    assert first.customer_list_id is not None
    clock.advance(61)
    (report,) = (await run_sync(settings)).audiences
    assert report.error is not None
    assert report.error.kind == "not_enough_records"
    hits = await matched(emulator_client, first.customer_list_id)
    assert hits < 100
    assert f"only {hits} of the 250 records sent" in report.error.message
    assert (report.audience_status, report.audience_size) == ("TOO_SMALL", hits)


async def test_fewer_than_100_valid_records_stop_before_any_write(
    tmp_path: Path, admin: Admin, run_sync: Runner
) -> None:
    """Under 100 valid records for a new audience: the guard stops the run before a single write, as before."""
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(60)))
    (report,) = (await run_sync(settings)).audiences
    assert report.error is not None
    assert report.error.kind == "not_enough_records"
    assert "at least 100 rows" in report.error.resolution
    assert await admin.writes() == []


async def remove_audience(emulator_client: httpx.AsyncClient, audience_id: str) -> None:
    path = f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}/audiences/{audience_id}"
    answer = await emulator_client.patch(path, json={"operation_type": "REMOVE"}, headers=SEED_AUTH)
    answer.raise_for_status()


@pytest.mark.parametrize("removed_audiences", ["hidden", "listed"])
async def test_a_removed_audience_is_never_reused(
    tmp_path: Path,
    admin: Admin,
    run_to_audience: ToAudience,
    emulator_client: httpx.AsyncClient,
    removed_audiences: str,
) -> None:
    """After its audience was removed in Pinterest (removed_audiences hidden or listed), a run builds a new one."""
    await admin.settings(removed_audiences=removed_audiences)
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(300)))
    first = await run_to_audience(settings)
    assert first.audience_id is not None
    await remove_audience(emulator_client, first.audience_id)
    again = await run_to_audience(settings)
    assert again.status == "ok", again.error
    assert again.audience_created
    assert again.audience_id not in (None, first.audience_id)
    assert again.customer_list_id == first.customer_list_id
    assert again.added == 0
    live = [a for a in await admin.audiences() if a.get("status") != "REMOVED"]
    assert [a["id"] for a in live] == [again.audience_id]


@pytest.mark.parametrize("removed_audiences", ["hidden", "listed"])
async def test_a_removed_audience_id_is_not_found(
    tmp_path: Path,
    admin: Admin,
    run_to_audience: ToAudience,
    run_sync: Runner,
    emulator_client: httpx.AsyncClient,
    removed_audiences: str,
) -> None:
    """Configured by the id of an audience removed in Pinterest (removed_audiences hidden or listed): not_found."""
    await admin.settings(removed_audiences=removed_audiences)
    source = write_csv(tmp_path / "c.csv", emails(300))
    first = await run_to_audience(settings_for(tmp_path, source))
    assert first.audience_id is not None
    await remove_audience(emulator_client, first.audience_id)
    writes = len(await admin.writes())
    by_id = settings_for(tmp_path, source, list_name=None, audience_id=first.audience_id)
    (report,) = (await run_sync(by_id)).audiences
    assert report.error is not None
    assert report.error.kind == "not_found"
    assert len(await admin.writes()) == writes


async def test_counters_that_grew_more_than_sent_are_reported(
    tmp_path: Path, admin: Admin, run_sync: Runner, later: Callable[[], None]
) -> None:
    """An ADD applied twice (its answer was lost, so it was sent again): Pinterest's counts and a warning say so."""
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(200)), batch_size=100)
    (first,) = (await run_sync(settings)).audiences
    assert first.customer_list_id is not None
    assert not any("counters" in w for w in first.warnings)
    later()
    write_csv(tmp_path / "c.csv", emails(300))
    await admin.faults({"operation": "customer_lists/update", "calls": [1], "drop": "after"})
    (report,) = (await run_sync(settings)).audiences
    assert report.status == "ok", report.error
    assert (report.added, report.pinterest_added, report.pinterest_removed) == (100, 200, 0)
    (warning,) = [w for w in report.warnings if "counters" in w]
    assert "grew by 200 uploaded and 0 removed" in warning
    assert "sent 100 and 0" in warning
    assert await admin.records(first.customer_list_id) == expected_members(emails(300))


class ListExceptions(httpx.AsyncBaseTransport):
    """Pinterest's answer to customer_lists/get with an `exceptions` object (the emulator always answers `{}`)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, exceptions: dict[str, Any]) -> None:
        self.inner = inner
        self.exceptions = exceptions

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "GET" and "/customer_lists/" in request.url.path:
            await response.aread()
            body = {**response.json(), "exceptions": self.exceptions}
            return httpx.Response(response.status_code, json=body, headers={"x-pinterest-rid": "rewritten"})
        return response


async def test_list_exceptions_are_reported_as_kinds_and_counts(
    tmp_path: Path, emulator: Emulator, clock: FakeClock
) -> None:
    """A non-empty `exceptions` on the list becomes counts by kind in the report and a warning, never its values."""
    people = emails(300, domain="canary-domain.test")
    exceptions = {"invalid_email": 3, people[0]: "rejected", "errors": [people[1], people[2]]}
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", people))
    transport = ListExceptions(emulator.transport(), exceptions)
    (report,) = (await sync_async(settings, transport=transport, clock=clock)).audiences
    assert report.status == "ok", report.error
    assert report.list_exceptions == {"errors": 2, "invalid_email": 3, "other": 1}
    assert any("exceptions" in w and "invalid_email: 3" in w for w in report.warnings)
    assert "canary-domain" not in json.dumps(report.to_dict())
