"""State: records encoding, persistence across a restart with --db, and lists far larger than a page."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pinaudience.clock import FakeClock
from pinaudience.emulator import SEED_APP_ID, SEED_APP_SECRET, SEED_REFRESH_TOKEN, Emulator
from pinaudience.emulator import records as rec
from pinaudience.emulator.store import Store
from tests.emulator.emulator_helpers import (
    create_audience,
    create_list,
    joined,
    lists_url,
    members,
    sha256s,
    update_list,
)
from tests.helpers import emulator_http

pytestmark = pytest.mark.anyio


@given(st.one_of(st.text(min_size=1), st.binary(min_size=1, max_size=40).map(bytes.hex)))
def test_encoding_round_trips(record: str) -> None:
    """Any record decodes to itself, and distinct records never share a key."""
    assert rec.decode(rec.encode(record)) == record
    assert rec.encode(record) != rec.encode(record + "0")


def test_hashes_are_stored_compactly() -> None:
    """A SHA-256 hex record is stored as its 32 bytes plus a tag."""
    assert len(rec.encode(sha256s(1)[0])) == 33


async def test_state_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    """With a database file, lists, members, audiences, tokens and the clock offset outlive the emulator."""
    db = tmp_path / "emulator.sqlite"
    first = Emulator(clock=clock, db_path=db)
    first.settings.match_rate = 1.0
    async with emulator_http(first) as http:
        created = await create_list(http, sha256s(150), list_type="MAID")
        await update_list(http, created["id"], "REMOVE", sha256s(10))
        audience = (await create_audience(http, created["id"])).json()
        rotated = await http.post(
            "/v5/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": SEED_REFRESH_TOKEN},
            auth=(SEED_APP_ID, SEED_APP_SECRET),
        )
        await http.post("/_emulator/clock/advance", json={"seconds": 5})
    first.close()

    second = Emulator(clock=clock, db_path=db)
    async with emulator_http(second) as http:
        got = (await http.get(f"{lists_url()}/{created['id']}")).json()
        assert got["num_batches"] == 2
        assert got["num_removed_user_records"] == 10
        assert sorted(await members(http, created["id"])) == sorted(sha256s(150)[10:])
        assert (await http.get(f"/v5/ad_accounts/549755885175/audiences/{audience['id']}")).json()["size"] == 140
        stale = await http.post(
            "/v5/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": SEED_REFRESH_TOKEN},
            auth=(SEED_APP_ID, SEED_APP_SECRET),
        )
        assert stale.status_code == 401
        fresh = await http.post(
            "/v5/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": rotated.json()["refresh_token"]},
            auth=(SEED_APP_ID, SEED_APP_SECRET),
        )
        assert fresh.status_code == 200
        assert (await http.get("/_emulator/clock")).json()["now"] == pytest.approx(clock.now() + 5)
    second.close()


async def test_large_list(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """A list of 150,000 members, built and trimmed in 50,000-record requests, keeps exact counts."""
    records = sha256s(150_000)
    created = await create_list(emulator_client, records[:50_000], list_type="MAID")
    for start in (50_000, 100_000):
        response = await update_list(emulator_client, created["id"], "ADD", records[start : start + 50_000])
        assert response.status_code == 200
    removed = await emulator_client.patch(
        f"{lists_url()}/{created['id']}",
        json={"operation_type": "REMOVE", "records": joined(records[:30_000])},
    )
    assert removed.json()["num_removed_user_records"] == 30_000
    assert removed.json()["num_uploaded_user_records"] == 150_000
    expected_matched = sum(rec.is_matched(r, emulator.settings.match_rate) for r in records[30_000:])
    audience = (await create_audience(emulator_client, created["id"])).json()
    assert audience["size"] == expected_matched
    assert len(await members(emulator_client, created["id"])) == 120_000


def test_a_version_1_file_gains_the_new_columns(tmp_path: Path) -> None:
    """A database written before lists had matching state and bad-record counts opens, and its lists read as matched."""
    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE customer_lists (id INTEGER PRIMARY KEY, ad_account_id TEXT NOT NULL, name TEXT NOT NULL, "
            "list_type TEXT NOT NULL, created_time REAL NOT NULL, updated_time REAL NOT NULL, num_batches INTEGER "
            "NOT NULL, num_uploaded INTEGER NOT NULL, num_removed INTEGER NOT NULL, size INTEGER NOT NULL, matched "
            "INTEGER NOT NULL, processing_until REAL NOT NULL)"
        )
        db.execute("INSERT INTO customer_lists VALUES (7, '1', 'old', 'EMAIL', 0, 0, 1, 150, 0, 150, 120, 0)")
    db.close()
    store = Store(path)
    found = store.get_list(7)
    store.close()
    assert found is not None
    assert (found.shown_matched, found.invalid_received, found.visible_matched(1.0)) == (None, 0, 120)
