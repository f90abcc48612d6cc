"""`pinaudience status`: the library function in process against the emulator (every profile), and the command
through its real entry point against a served emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import AudienceSettings, Credentials, PinterestSettings, Secret, Settings
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, Emulator
from pinaudience.engine.status import StatusReport, status_async
from pinaudience.engine.sync import sync_async
from pinaudience.pinterest.limits import ListOperation
from pinaudience.state import ListRef, StateStore
from pinaudience.state.store import DB_NAME
from tests.cli.cli_helpers import ACCOUNT, Served, assert_private, run_cli
from tests.helpers import API_BASE, emails, write_csv

MATCHING_S = 60.0
"""The matching delay these tests name (`processing_delay_s`), whatever the profile's."""

DESTINATION_KEYS = {"label", "verdict", "notes", "customer_list", "audience", "state", "error"}
LIST_KEYS = {"id", "name", "status", "num_batches", "num_uploaded_user_records", "num_removed_user_records"}
STATE_KEYS = {
    "customer_list_id",
    "list_name",
    "confirmed_in_snapshot",
    "acknowledged_batches",
    "pending_batches",
    "pending_records",
    "audience",
}


def _settings(tmp_path: Path, input_file: Path | None = None, **destination: Any) -> Settings:
    pinterest = PinterestSettings(
        ad_account_id=SEED_AD_ACCOUNT_ID,
        credentials=Credentials(access_token=Secret(SEED_ACCESS_TOKEN)),
        api_base=API_BASE,
    )
    audience = AudienceSettings(input=input_file, **(destination or {"list_name": "VIP customers"}))
    return Settings(pinterest=pinterest, audiences=(audience,), state_dir=tmp_path / "state")


async def _status(settings: Settings, emulator: Emulator, clock: FakeClock) -> StatusReport:
    return await status_async(settings, transport=emulator.transport(), clock=clock)


async def _sync(settings: Settings, emulator: Emulator, clock: FakeClock) -> None:
    # The status under test does not depend on how the sync reports an audience it could not create yet.
    await sync_async(settings, transport=emulator.transport(), clock=clock)


@pytest.mark.anyio
async def test_a_list_not_created_yet_is_no_list_and_not_an_error(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    """Before the first sync: verdict no_list, no state, nothing written anywhere."""
    report = await _status(_settings(tmp_path), emulator, clock)
    assert report.ok
    (destination,) = report.destinations
    assert destination.verdict.code == "no_list"
    assert "the first sync creates it" in destination.verdict.text
    assert (destination.customer_list, destination.audience, destination.state) == (None, None, None)
    assert report.state_found is False
    assert not (tmp_path / "state").exists()


@pytest.mark.anyio
async def test_status_follows_a_list_from_matching_to_a_ready_audience(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    """While Pinterest matches (processing_delay_s, audience_on_unmatched=refuse): matching, state pending; once
    matched: audience_pending; after the next sync: audience_ready with Pinterest's size."""
    emulator.settings.processing_delay_s = MATCHING_S
    emulator.settings.audience_on_unmatched = "refuse"
    settings = _settings(tmp_path, write_csv(tmp_path / "customers.csv", emails(300)))
    await _sync(settings, emulator, clock)

    matching = (await _status(settings, emulator, clock)).destinations[0]
    assert matching.verdict.code == "matching"
    assert matching.verdict.text == (
        "Pinterest is still matching (list PROCESSING): the audience is created by the next sync"
    )
    assert matching.customer_list is not None
    assert matching.audience is None
    assert matching.customer_list.status == "PROCESSING"
    assert matching.customer_list.num_uploaded_user_records == 300
    assert matching.state is not None
    assert (matching.state.confirmed_in_snapshot, matching.state.pending_batches) == (300, 0)
    assert matching.state.audience == "pending"
    assert matching.notes == ()

    emulator.advance(MATCHING_S + 1)
    matched = (await _status(settings, emulator, clock)).destinations[0]
    assert matched.verdict.code == "audience_pending"
    assert matched.customer_list is not None
    assert matched.customer_list.status == "READY"

    await _sync(settings, emulator, clock)
    emulator.advance(MATCHING_S + 1)
    ready = await _status(settings, emulator, clock)
    (destination,) = ready.destinations
    assert destination.verdict.code == "audience_ready", destination.verdict.text
    assert destination.audience is not None
    assert destination.audience.size is not None
    assert destination.verdict.text == f"audience ready: size {destination.audience.size:,}"
    assert destination.state is not None
    assert destination.state.audience == destination.audience.id
    document = ready.to_dict()
    assert set(document) == {"ok", "api_base", "ad_account_id", "state_dir", "state_found", "destinations"}
    (shown,) = document["destinations"]
    assert set(shown) == DESTINATION_KEYS
    assert set(shown["customer_list"]) == LIST_KEYS
    assert set(shown["audience"]) == {"id", "name", "status", "size"}
    assert set(shown["state"]) == STATE_KEYS
    assert shown["verdict"]["code"] == "audience_ready"


@pytest.mark.anyio
async def test_an_audience_before_matching_has_no_size_yet(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    """An audience accepted on a list still matching (audience_on_unmatched=accept) shows size None: matching."""
    emulator.settings.processing_delay_s = MATCHING_S
    emulator.settings.audience_on_unmatched = "accept"
    settings = _settings(tmp_path, write_csv(tmp_path / "customers.csv", emails(300)))
    await _sync(settings, emulator, clock)
    (destination,) = (await _status(settings, emulator, clock)).destinations
    assert destination.audience is not None
    assert (destination.audience.status, destination.audience.size) == ("INITIALIZING", None)
    assert destination.verdict.code == "matching"
    assert "size is not known yet" in destination.verdict.text


@pytest.mark.anyio
async def test_a_list_too_small_after_matching_says_so(emulator: Emulator, clock: FakeClock, tmp_path: Path) -> None:
    """Fewer than 100 matched users (match_rate 0.3 of 150 records): verdict too_small, no audience."""
    emulator.settings.match_rate = 0.3
    settings = _settings(tmp_path, write_csv(tmp_path / "customers.csv", emails(150)))
    await _sync(settings, emulator, clock)
    emulator.advance(emulator.settings.processing_delay_s + 1)
    (destination,) = (await _status(settings, emulator, clock)).destinations
    assert destination.customer_list is not None
    assert destination.customer_list.status == "TOO_SMALL"
    assert destination.audience is None
    assert destination.verdict.code == "too_small"
    assert "fewer than 100" in destination.verdict.text


@pytest.mark.anyio
async def test_an_unknown_list_id_is_not_found(emulator: Emulator, clock: FakeClock, tmp_path: Path) -> None:
    """A customer list id Pinterest does not know: verdict list_not_found, and the error (not_found) to exit 1."""
    report = await _status(_settings(tmp_path, customer_list_id="999999999"), emulator, clock)
    assert not report.ok
    (destination,) = report.destinations
    assert destination.verdict.code == "list_not_found"
    assert destination.error is not None
    assert destination.error.kind == "not_found"
    with pytest.raises(type(destination.error)):
        report.raise_for_error()


@pytest.mark.anyio
async def test_a_recorded_list_gone_from_pinterest_points_at_state_forget(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    """The state recorded a list that Pinterest no longer has: list_not_found, with `state forget` and its id."""
    emulator.settings.processing_delay_s = 0.0  # the list is matched at once, so the first sync makes the audience
    settings = _settings(tmp_path, write_csv(tmp_path / "customers.csv", emails(300)))
    await _sync(settings, emulator, clock)
    with StateStore(tmp_path / "state", clock=clock) as store:
        (info,) = store.lists()
    emulator.reset()  # Pinterest forgets every list, as if it was deleted in Ads Manager
    emulator.settings.processing_delay_s = 0.0
    (destination,) = (await _status(settings, emulator, clock)).destinations
    assert destination.verdict.code == "list_not_found"
    assert f"pinaudience state forget {info.ref.customer_list_id}" in destination.verdict.text
    assert destination.state is not None
    assert destination.state.confirmed_in_snapshot == 300


@pytest.mark.anyio
async def test_batches_of_unknown_outcome_and_an_unknown_list_are_noted(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    """A pending batch in the journal is noted (the next sync resends it); a list the state lacks is noted too."""
    settings = _settings(tmp_path, write_csv(tmp_path / "customers.csv", emails(300)))
    await _sync(settings, emulator, clock)
    with StateStore(tmp_path / "state", clock=clock) as store:
        (info,) = store.lists()
        store.open_list(info.ref).begin(ListOperation.ADD, ["0" * 64, "1" * 64])
    (destination,) = (await _status(settings, emulator, clock)).destinations
    assert destination.state is not None
    assert (destination.state.pending_batches, destination.state.pending_records) == (1, 2)
    assert destination.notes == (
        "2 records in 1 batches have an unknown outcome (a run ended before Pinterest answered): "
        "the next sync resends them",
    )

    other_state = tmp_path / "elsewhere"
    elsewhere = Settings(pinterest=settings.pinterest, audiences=settings.audiences, state_dir=other_state)
    with StateStore(other_state, clock=clock) as store:
        store.open_list(ListRef(API_BASE, SEED_AD_ACCOUNT_ID, "1"))  # a state, but not of this list
    (unknown,) = (await _status(elsewhere, emulator, clock)).destinations
    assert unknown.state is None
    assert unknown.notes
    assert "no record of this list" in unknown.notes[0]


def test_the_status_command_shows_pinterest_beside_the_state(
    served: Served, tmp_path: Path, env: dict[str, str]
) -> None:
    """After a sync, `pinaudience status` prints the list, counters, audience and state, and --json the same keys."""
    served.settings(processing_delay_s=MATCHING_S, audience_on_unmatched="refuse")
    customers = write_csv(tmp_path / "customers.csv", emails(250))
    common: list[str | Path] = [
        "--ad-account-id", ACCOUNT, "--list-name", "VIP", "--api-base", served.api_base, "--state", tmp_path / "state"
    ]  # fmt: skip
    run_cli("sync", customers, *common, "--quiet", env=env)  # the status does not depend on how it reports

    writes = len(served.writes())
    shown = run_cli("status", *common, env=env)
    assert shown.returncode == 0, shown.stderr
    assert_private(shown)
    assert "Pinterest is still matching (list PROCESSING): the audience is created by the next sync" in shown.stdout
    assert "250 records uploaded" in shown.stdout
    assert "pending (the next sync creates it)" in shown.stdout
    assert len(served.writes()) == writes

    served.advance(MATCHING_S + 1)
    as_json = run_cli("status", *common, "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    (destination,) = document["destinations"]
    assert set(destination) == DESTINATION_KEYS
    assert destination["verdict"]["code"] == "audience_pending"
    assert destination["customer_list"]["status"] == "READY"
    assert destination["state"]["confirmed_in_snapshot"] == 250
    assert (tmp_path / "state" / DB_NAME).is_file()

    missing = run_cli(
        "status", "--ad-account-id", ACCOUNT, "--customer-list-id", "999999999", "--api-base", served.api_base,
        "--state", tmp_path / "state", env=env,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "error not_found:" in missing.stderr
    assert "resolution:" in missing.stderr
    assert "list not found at Pinterest" in missing.stdout
