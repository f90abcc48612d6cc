"""A batch refused as too large (413) is split in halves under the write-ahead rule (issue 11).

Each test names the emulator setting it relies on: `max_body_bytes` (Pinterest documents no body ceiling)
and `gateway_html` (a gateway's HTML page instead of Pinterest's JSON error).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import PinterestSettings
from pinaudience.emulator import SEED_AD_ACCOUNT_ID, Emulator
from pinaudience.engine.upload import send_batch
from pinaudience.errors import InvalidRequest
from pinaudience.pinterest.client import open_client
from pinaudience.pinterest.events import ClientEvent, RequestSent
from pinaudience.pinterest.limits import ListOperation
from pinaudience.state import ListRef, ListState, StateStore
from tests.helpers import API_BASE, hashed_emails, write_csv
from tests.sync.sync_helpers import Admin, Runner, settings_for, with_audience

pytestmark = pytest.mark.anyio

RECORD_BYTES = 65
"""One SHA-256 hex record and its comma in the request body."""


def open_state(tmp_path: Path, clock: FakeClock, list_id: str) -> tuple[StateStore, ListState]:
    store = StateStore(tmp_path / "state", clock=clock)
    return store, store.open_list(ListRef(API_BASE, SEED_AD_ACCOUNT_ID, list_id))


@pytest.mark.parametrize("gateway_html", [False, True])
async def test_a_413_sends_the_halves_each_journaled_before_it_leaves(
    tmp_path: Path, emulator: Emulator, clock: FakeClock, admin: Admin, gateway_html: bool
) -> None:
    """The refused batch's entry is discarded; each half is pending while it is sent, then acknowledged."""
    # No per-list throttle (list_writes_per_window): its 429s would resend the halves and blur the sequence.
    await admin.settings(max_body_bytes=70 * RECORD_BYTES, gateway_html=gateway_html, list_writes_per_window=None)
    created = await admin.create_list("split", hashed_emails(1))
    records = hashed_emails(100, start=1)
    settings = PinterestSettings(
        ad_account_id=SEED_AD_ACCOUNT_ID,
        credentials=settings_for(tmp_path, tmp_path / "unused.csv").pinterest.credentials,
        api_base=API_BASE,
    )
    store, state = open_state(tmp_path, clock, created["id"])
    pending_at_send: list[list[int]] = []

    def observe(event: ClientEvent) -> None:
        if isinstance(event, RequestSent):
            pending_at_send.append([batch.count for batch in state.pending()])

    acknowledged: list[int] = []
    refused: list[int] = []
    try:
        async with open_client(settings, transport=emulator.transport(), clock=clock, observer=observe) as client:
            await send_batch(
                client,
                state,
                created["id"],
                ListOperation.ADD,
                records,
                acknowledged=lambda part: acknowledged.append(len(part)),
                too_large=refused.append,
            )
        assert pending_at_send == [[100], [50], [50]]
        assert acknowledged == [50, 50]
        assert refused == [100]
        assert state.pending() == []
    finally:
        store.close()
    assert sorted(await admin.records(created["id"])) == sorted([*hashed_emails(1), *records])
    statuses = [r["status"] for r in await admin.requests() if r["operation"] == "customer_lists/update"]
    assert statuses == [413, 200, 200]


async def test_a_single_record_too_large_is_an_error_and_nothing_stays_pending(
    tmp_path: Path, emulator: Emulator, clock: FakeClock, admin: Admin
) -> None:
    """Halving stops at one record: that 413 is an invalid_request that names the 413, with no pending entry."""
    created = await admin.create_list("tiny", hashed_emails(1))
    await admin.settings(max_body_bytes=40, gateway_html=True)
    settings = PinterestSettings(
        ad_account_id=SEED_AD_ACCOUNT_ID,
        credentials=settings_for(tmp_path, tmp_path / "unused.csv").pinterest.credentials,
        api_base=API_BASE,
    )
    store, state = open_state(tmp_path, clock, created["id"])
    try:
        async with open_client(settings, transport=emulator.transport(), clock=clock) as client:
            with pytest.raises(InvalidRequest) as raised:
                await send_batch(client, state, created["id"], ListOperation.ADD, hashed_emails(2, start=1))
        assert state.pending() == []
    finally:
        store.close()
    assert "too large (413)" in raised.value.message
    assert raised.value.status == 413
    assert "<html" not in str(raised.value)
    statuses = [r["status"] for r in await admin.requests() if r["operation"] == "customer_lists/update"]
    assert statuses == [413, 413]


async def test_a_sync_learns_the_size_that_fits_and_ends_exact(tmp_path: Path, run_sync: Runner, admin: Admin) -> None:
    """After a 413 the upload cuts later batches to half the refused size: no more refusals than the writes that
    were in flight when the first came back (writes_in_flight_per_list), and exact membership."""
    first = hashed_emails(300)
    settings = settings_for(tmp_path, write_csv(tmp_path / "first.csv", first), batch_size=1_000)
    first_report = await run_sync(settings)
    assert first_report.status == "ok", first_report.audiences[
        0
    ].error  # the list is created with one batch, under the default ceiling

    await admin.settings(max_body_bytes=70 * RECORD_BYTES, gateway_html=True)
    everything = hashed_emails(700)
    second = with_audience(settings, input=write_csv(tmp_path / "second.csv", everything), batch_size=100)
    report = await run_sync(second)
    audience = report.audiences[0]
    assert report.status == "ok", (audience.error, audience.warnings)
    assert audience.added == 400
    assert audience.customer_list_id is not None
    assert sorted(await admin.records(audience.customer_list_id)) == sorted(everything)
    statuses = [r["status"] for r in await admin.requests() if r["operation"] == "customer_lists/update"]
    assert 1 <= statuses.count(413) <= second.pinterest.writes_in_flight_per_list
    assert statuses.count(200) == 8  # 400 records in parts of 50
