"""The sync engine against the in-process emulator: the list and audience end up exactly equal to the file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import SyncMode
from pinaudience.emulator import SEED_ACCESS_TOKEN, Emulator
from pinaudience.engine.events import PhaseStarted, UploadProgress
from pinaudience.engine.sync import sync_async
from tests.helpers import emails, expected_members, write_csv
from tests.sync.sync_helpers import (
    Admin,
    Runner,
    ToAudience,
    applied_writes,
    audience_waits,
    let_match,
    settings_for,
    with_audience,
)

pytestmark = pytest.mark.anyio


async def test_first_sync_creates_list_and_audience(
    tmp_path: Path, admin: Admin, run_sync: Runner, emulator: Emulator, later: Callable[[], None]
) -> None:
    """A first mirror creates the list with the file's records, and a CUSTOMER_LIST audience once Pinterest allows."""
    people = emails(300)
    messy = [f"  {e.upper()}  " for e in people[:50]] + people[50:] + people[:10] + ["not-an-email", ""]
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", messy), batch_size=100)
    run = await run_sync(settings)
    (report,) = run.audiences
    assert run.status == "ok", report.error
    assert report.list_created
    assert (report.rows_read, report.rows_valid, report.duplicates, report.records) == (312, 310, 10, 300)
    assert report.rows_invalid == 2
    assert (report.planned_adds, report.added, report.removed, report.batches) == (300, 300, 0, 3)
    assert (report.pinterest_added, report.pinterest_removed) == (300, 0)
    assert report.customer_list_id is not None
    assert await admin.records(report.customer_list_id) == expected_members(people)
    if audience_waits(emulator):  # audience_on_unmatched: refuse, with a processing delay
        assert not report.audience_created
        assert report.audience_status == "pending"
        assert await admin.audiences() == []
        later()
        (report,) = (await run_sync(settings)).audiences
        assert report.planned_adds == report.added == 0
    assert report.audience_created
    (audience,) = await admin.audiences()
    assert audience["id"] == report.audience_id
    assert audience["rule"]["customer_list_id"] == report.customer_list_id
    assert audience["name"] == "VIP customers"
    assert report.audience_size == audience["size"]
    assert any("48 hours" in w for w in report.warnings)
    assert not any("counters" in w for w in report.warnings)


async def test_second_sync_sends_exactly_the_difference(
    tmp_path: Path, admin: Admin, run_to_audience: ToAudience, run_sync: Runner
) -> None:
    """Members who left are removed, new ones added, nobody else is touched, and nothing is created twice."""
    first = emails(400)
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", first), batch_size=50)
    one = await run_to_audience(settings)
    assert one.customer_list_id is not None
    before = len(await applied_writes(admin))
    second = first[60:] + emails(25, start=1000)
    write_csv(tmp_path / "c.csv", second)
    (two,) = (await run_sync(settings)).audiences
    assert two.status == "ok", two.error
    assert (two.planned_adds, two.planned_removes, two.added, two.removed) == (25, 60, 25, 60)
    assert (two.pinterest_added, two.pinterest_removed) == (25, 60)
    assert not two.list_created
    assert not two.audience_created
    assert (two.customer_list_id, two.audience_id) == (one.customer_list_id, one.audience_id)
    assert two.confirmed_before == 400
    assert two.confirmed_after == 365
    assert await admin.records(one.customer_list_id) == expected_members(second)
    writes = (await applied_writes(admin))[before:]
    assert [w["operation"] for w in writes] == ["customer_lists/update"] * 3
    assert sum(w["records"] for w in writes) == 85
    assert len(await admin.lists()) == 1
    assert len(await admin.audiences()) == 1
    (three,) = (await run_sync(settings)).audiences
    assert (three.planned_adds, three.planned_removes, three.requests) == (0, 0, three.requests)
    assert len(await applied_writes(admin)) == before + 3


async def test_add_and_remove_modes(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """`add` only adds what is not confirmed; `remove` removes the file's records and nothing else."""
    base = write_csv(tmp_path / "base.csv", emails(200))
    settings = settings_for(tmp_path, base)
    (first,) = (await run_sync(settings)).audiences
    assert first.customer_list_id is not None
    extra = write_csv(tmp_path / "extra.csv", emails(150, start=100))
    (added,) = (await run_sync(with_audience(settings, input=extra, mode=SyncMode.ADD))).audiences
    assert (added.planned_adds, added.planned_removes) == (50, 0)
    assert await admin.records(first.customer_list_id) == expected_members(emails(250))
    gone = write_csv(tmp_path / "gone.csv", emails(30))
    (removed,) = (await run_sync(with_audience(settings, input=gone, mode=SyncMode.REMOVE))).audiences
    assert (removed.planned_adds, removed.planned_removes, removed.removed) == (0, 30, 30)
    assert await admin.records(first.customer_list_id) == expected_members(emails(220, start=30))
    assert removed.confirmed_after == 220


async def test_add_full_resends_everything(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """`full` in add mode sends every record again, confirmed or not."""
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(200)), mode=SyncMode.ADD)
    await run_sync(settings)
    (again,) = (await run_sync(with_audience(settings, full=True))).audiences
    assert again.planned_adds == 200


async def test_by_audience_id_uses_its_list(tmp_path: Path, admin: Admin, run_sync: Runner, emulator: Emulator) -> None:
    """Given an audience id, the engine changes the list its rule names."""
    existing = await admin.create_list("made elsewhere", expected_members(emails(200)))
    let_match(emulator)
    audience = await admin.create_audience("Theirs", existing["id"])
    settings = settings_for(
        tmp_path, write_csv(tmp_path / "c.csv", emails(250)), list_name=None, audience_id=audience["id"]
    )
    (report,) = (await run_sync(settings)).audiences
    assert report.status == "ok", report.error
    assert report.customer_list_id == existing["id"]
    assert not report.list_created
    assert not report.audience_created
    assert any("holds no record" in w for w in report.warnings)
    assert await admin.records(existing["id"]) == expected_members(emails(250))


class AudienceTypeRewriter(httpx.AsyncBaseTransport):
    """Pinterest's answer to audiences/get, as for a VISITOR audience (the emulator holds CUSTOMER_LIST ones only)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "GET" and "/audiences/" in request.url.path:
            await response.aread()
            body = {**response.json(), "audience_type": "VISITOR", "rule": {}}
            return httpx.Response(response.status_code, json=body, headers={"x-pinterest-rid": "rewritten"})
        return response


async def test_audience_that_is_not_a_customer_list_audience(
    tmp_path: Path, admin: Admin, emulator: Emulator, clock: FakeClock
) -> None:
    """An audience id of another type is a clear invalid_config error, and nothing is written."""
    existing = await admin.create_list("l", expected_members(emails(200)))
    let_match(emulator)
    audience = await admin.create_audience("Visitors", existing["id"])
    writes = len(await admin.writes())
    settings = settings_for(
        tmp_path, write_csv(tmp_path / "c.csv", emails(200)), list_name=None, audience_id=audience["id"]
    )
    run = await sync_async(settings, transport=AudienceTypeRewriter(emulator.transport()), clock=clock)
    (report,) = run.audiences
    assert report.error is not None
    assert report.error.kind == "invalid_config"
    assert "not a CUSTOMER_LIST audience" in report.error.message
    assert len(await admin.writes()) == writes


async def test_by_name_uses_the_newest_of_two_lists(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """Two lists with the configured name: the most recent one is synced, the older is untouched."""
    old = await admin.create_list("VIP customers", expected_members(emails(5, start=900)))
    new = await admin.create_list("VIP customers", expected_members(emails(5, start=950)))
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(200)), mode=SyncMode.ADD)
    (report,) = (await run_sync(settings)).audiences
    assert report.customer_list_id == new["id"]
    assert await admin.records(old["id"]) == expected_members(emails(5, start=900))
    assert await admin.records(new["id"]) == expected_members(emails(200) + emails(5, start=950))


async def test_by_customer_list_id(tmp_path: Path, admin: Admin, run_to_audience: ToAudience) -> None:
    """Given a customer list id, that list is mirrored; an audience is created on it with the given name."""
    existing = await admin.create_list("by id", expected_members(emails(3)))
    settings = settings_for(
        tmp_path,
        write_csv(tmp_path / "c.csv", emails(220)),
        list_name=None,
        customer_list_id=existing["id"],
        audience_name="By id",
    )
    report = await run_to_audience(settings)
    assert report.status == "ok", report.error
    assert report.audience_created
    assert report.audience_name == "By id"
    assert await admin.records(existing["id"]) == expected_members(emails(220))


async def test_too_few_records_for_a_new_audience(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """Fewer than 100 valid records where an audience must be created: not_enough_records, nothing sent."""
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(99) + ["bad"] * 20))
    (report,) = (await run_sync(settings)).audiences
    assert report.status == "error"
    assert report.error is not None
    assert report.error.kind == "not_enough_records"
    assert "at least 100 records" in report.error.resolution
    assert await admin.writes() == []


async def test_mirror_that_would_shrink_below_100(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """A mirror leaving fewer than 100 members stops before anything is removed."""
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(200)), max_remove_fraction=1.0)
    (first,) = (await run_sync(settings)).audiences
    assert first.customer_list_id is not None
    before = len(await admin.writes())
    write_csv(tmp_path / "c.csv", emails(80))
    (report,) = (await run_sync(settings)).audiences
    assert report.error is not None
    assert report.error.kind == "not_enough_records"
    assert len(await admin.writes()) == before
    assert await admin.records(first.customer_list_id) == expected_members(emails(200))


async def test_mass_removal_is_blocked_unless_allowed(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """Removing more than the allowed share stops; raising the share lets the same run through."""
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(400)))
    (first,) = (await run_sync(settings)).audiences
    assert first.customer_list_id is not None
    write_csv(tmp_path / "c.csv", emails(190))  # about 114 of them match Pinterest users at the default match rate
    (blocked,) = (await run_sync(settings)).audiences
    assert blocked.error is not None
    assert blocked.error.kind == "mass_removal_blocked"
    assert "210 of the list's 400" in blocked.error.message
    assert await admin.records(first.customer_list_id) == expected_members(emails(400))
    (allowed,) = (await run_sync(with_audience(settings, max_remove_fraction=0.7))).audiences
    assert allowed.status == "ok", allowed.error
    assert allowed.removed == 210


async def test_empty_or_invalid_file_never_removes(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """A file with no valid rows, or with only a header, removes nothing."""
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(300)), max_remove_fraction=1.0)
    (first,) = (await run_sync(settings)).audiences
    assert first.customer_list_id is not None
    before = len(await admin.writes())
    for content in (["junk", "also junk"], []):
        write_csv(tmp_path / "c.csv", content)
        (report,) = (await run_sync(settings)).audiences
        assert report.status == "error"
    assert len(await admin.writes()) == before
    assert await admin.records(first.customer_list_id) == expected_members(emails(300))


async def test_dry_run_sends_no_write(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """A dry run resolves and plans with reads only, and reports what it would do."""
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(300)), dry_run=True)
    (report,) = (await run_sync(settings)).audiences
    assert report.status == "ok"
    assert report.planned_adds == 300
    assert report.added == 0
    assert await admin.writes() == []
    assert all(r["method"] == "GET" for r in await admin.requests())


async def test_sample_sends_only_the_first_records(tmp_path: Path, admin: Admin, run_sync: Runner) -> None:
    """`sample` sends only the first N valid records of the file, then a full run completes the list."""
    people = emails(500)
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", ["junk", *people]), sample=200)
    (sampled,) = (await run_sync(settings)).audiences
    assert sampled.status == "ok", sampled.error
    assert sampled.customer_list_id is not None
    assert await admin.records(sampled.customer_list_id) == expected_members(people[:200])
    (full,) = (await run_sync(with_audience(settings, sample=None))).audiences
    assert full.planned_adds == 300
    assert full.planned_removes == 0
    assert await admin.records(sampled.customer_list_id) == expected_members(people)


async def test_progress_events_cover_the_phases(tmp_path: Path, run_sync: Runner) -> None:
    """The observer sees each phase and upload progress up to the total."""
    events: list[object] = []
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", emails(300)), batch_size=100)
    await run_sync(settings, events=events)
    phases = [e.phase for e in events if isinstance(e, PhaseStarted)]
    assert phases == ["reading", "resolving", "planning", "uploading", "finishing"]
    uploads = [e for e in events if isinstance(e, UploadProgress)]
    assert uploads[-1].records_done == uploads[-1].records_total == 300
    assert uploads[-1].batches_done == uploads[-1].batches_total == 3


async def test_report_holds_no_identifier_or_token(tmp_path: Path, run_sync: Runner) -> None:
    """Nothing in the report names a person or reveals the token."""
    people = emails(300, domain="canary-domain.test")
    settings = settings_for(tmp_path, write_csv(tmp_path / "c.csv", [*people, "broken@@canary-domain.test"]))
    run = await run_sync(settings)
    text = json.dumps(run.to_dict())
    assert "canary-domain" not in text
    assert SEED_ACCESS_TOKEN not in text
    assert expected_members(people)[0] not in text
