"""Secrets: the leak search of the suite finds what it looks for, and the token store is the only holder of tokens.

Every sync of the reliability suite ends with `assert_no_leaks`: no canary token, app secret, token
issued on refresh, raw canary email or (outside the state) full record hash in any log record, report,
exception text or file the runs left, the token store excepted for tokens. These tests show that search
would see a leak in each of those places, compressed ones included, and check the token store itself.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from tests.helpers import expected_members, write_csv
from tests.reliability.reliability_helpers import (
    CANARY_ACCESS_TOKEN,
    CANARY_APP_SECRET,
    CANARY_DOMAIN,
    CANARY_REFRESH_TOKEN,
    UPDATE,
    Harness,
    assert_no_leaks,
    canary_emails,
    find_leaks,
)

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

PEOPLE = canary_emails(300)


def plant_log(h: Harness) -> None:
    logging.getLogger("pinaudience.sync").warning("token %s", CANARY_ACCESS_TOKEN)


def plant_hash_in_log(h: Harness) -> None:
    logging.getLogger("pinaudience.sync").debug("record %s", expected_members(PEOPLE[:1])[0])


def plant_report(h: Harness) -> None:
    h.reports.append({"audiences": [{"error": {"message": f"secret {CANARY_APP_SECRET}"}}]})


def plant_exception(h: Harness) -> None:
    try:
        raise ValueError("wrapped") from KeyError(PEOPLE[3])
    except ValueError as exc:
        h.exceptions.append(exc)


def compressed_emails() -> bytes:
    """Parquet bytes holding the emails where a search of the raw bytes cannot see them."""
    out = io.BytesIO()
    pl.DataFrame({"text": PEOPLE * 20}).write_parquet(out, compression="zstd", statistics=False)
    data = out.getvalue()
    assert CANARY_DOMAIN.encode() not in data
    return data


def plant_compressed_parquet(h: Harness) -> None:
    folder = h.state_dir / "snapshots" / "1" / "s1"
    folder.mkdir(parents=True)
    (folder / "part-00000.parquet").write_bytes(compressed_emails())


def plant_sqlite_blob(h: Harness) -> None:
    h.state_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(h.state_dir / "state.sqlite3")
    with db:
        db.execute("CREATE TABLE batches (records BLOB)")
        db.execute("INSERT INTO batches VALUES (?)", (compressed_emails(),))
    db.close()


def plant_token_elsewhere(h: Harness) -> None:
    (h.tmp_path / "report.json").write_text(json.dumps({"refresh": CANARY_REFRESH_TOKEN}))


PLANTS: dict[str, tuple[Callable[[Harness], None], str]] = {
    "a token in a log record": (plant_log, "logs"),
    "a full record hash in a log record": (plant_hash_in_log, "logs"),
    "the app secret in a report": (plant_report, "report 0"),
    "an email in an exception's cause": (plant_exception, "exception ValueError"),
    "emails in a compressed Parquet file": (plant_compressed_parquet, "state/snapshots/1/s1/part-00000.parquet"),
    "emails in a Parquet blob in SQLite": (plant_sqlite_blob, "state/state.sqlite3"),
    "a token in a file that is not the token store": (plant_token_elsewhere, "report.json"),
}


@pytest.mark.parametrize("plant", PLANTS)
async def test_the_leak_search_finds_a_planted_canary(
    harness: Harness, logs: pytest.LogCaptureFixture, plant: str
) -> None:
    """A canary planted in any place the suite searches is found there."""
    assert find_leaks(harness, logs.records, people=PEOPLE) == []
    do, where = PLANTS[plant]
    do(harness)
    leaks = find_leaks(harness, logs.records, people=PEOPLE)
    assert [leak.where for leak in leaks] == [where], leaks


async def test_a_token_store_readable_by_others_fails(harness: Harness, logs: pytest.LogCaptureFixture) -> None:
    """A token store with a mode other than 0600 is caught."""
    harness.token_store.parent.mkdir(parents=True)
    harness.token_store.write_text("{}")
    harness.token_store.chmod(0o644)
    with pytest.raises(AssertionError):
        assert_no_leaks(harness, logs.records)


async def test_the_token_store_alone_holds_the_rotated_tokens(harness: Harness, logs: pytest.LogCaptureFixture) -> None:
    """After refreshes, the token store (0600, in a 0700 folder) holds the live pair, and no other file any token."""
    settings = harness.settings(write_csv(harness.inputs / "customers.csv", PEOPLE), batch_size=25)
    await harness.admin.faults({"operation": UPDATE, "calls": [2, 7], "revoke": True})
    (report,) = await harness.converge(settings)
    assert report.status == "ok"
    stored = json.loads(harness.token_store.read_text())
    assert stored["refresh_token"] in harness.wire.secrets
    assert stored["access_token"] in harness.wire.secrets
    rotating = harness.emulator.settings.rotate_refresh_token
    if rotating:
        assert stored["refresh_token"] != CANARY_REFRESH_TOKEN
    else:  # a refresh answer without a new refresh token keeps the one we had
        assert stored["refresh_token"] == CANARY_REFRESH_TOKEN
    assert CANARY_APP_SECRET not in harness.token_store.read_text()
    assert stat.S_IMODE(harness.token_store.stat().st_mode) == 0o600
    assert stat.S_IMODE(harness.token_store.parent.stat().st_mode) == 0o700
    # two canaries, the app secret, and two refreshed pairs (access tokens only, without rotation)
    assert len(harness.wire.secrets) >= (6 if rotating else 5)
    await harness.admin.clear_faults()
    await harness.assert_exact(report.customer_list_id or "", PEOPLE)
    assert_no_leaks(harness, logs.records, people=PEOPLE)


async def test_the_inputs_folder_is_the_only_one_skipped(harness: Harness, logs: pytest.LogCaptureFixture) -> None:
    """Raw emails are allowed in the customer files only: the same file elsewhere is a leak."""
    write_csv(harness.inputs / "customers.csv", PEOPLE)
    assert find_leaks(harness, logs.records, people=PEOPLE) == []
    write_csv(harness.tmp_path / "copy.csv", PEOPLE)
    assert [leak.where for leak in find_leaks(harness, logs.records, people=PEOPLE)] == ["copy.csv"]


async def test_leaks_name_no_secret(harness: Harness, logs: pytest.LogCaptureFixture) -> None:
    """What the leak search reports shows where and what kind, never the secret it found."""
    plant_log(harness)
    plant_report(harness)
    text = repr(find_leaks(harness, logs.records, people=PEOPLE))
    assert CANARY_ACCESS_TOKEN not in text
    assert CANARY_APP_SECRET not in text
    assert Path(harness.tmp_path).name not in text
