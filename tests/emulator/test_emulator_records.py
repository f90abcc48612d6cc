"""Records as Pinterest takes them: accepted and counted whatever they hold, matched only when they follow the rules.

Pinterest's own tests of its API against production (the official SDK's integration tests, API-NOTES.md) add
upper-case UUID-like strings, some not hex, to an EMAIL list and get 200 with every record counted; REMOVE of
records that were never members counts each one too. The emulator does the same by default, never matches
such records, and reports how many it received (admin API), so a loader's tests can assert it sent none. The
setting `strict_records` refuses the whole request instead, for tests that want a loud failure.
"""

from __future__ import annotations

import httpx
import pytest

from pinaudience.emulator import Emulator
from pinaudience.emulator.records import invalid_count, is_valid
from tests.emulator.emulator_helpers import (
    assert_pinterest_error,
    create_audience,
    create_list,
    emails,
    lists_url,
    sha256s,
    update_list,
)

pytestmark = pytest.mark.anyio

UUID_LIKE = ["1D5E4A3B-7C2F-4E8A-9B1D-0F6C2E3A4B5C", "ZZ5E4A3B-7C2F-4E8A-9B1D-0F6C2E3A4B5Q"]
"""What Pinterest's SDK tests send to an EMAIL list: upper case, and the second not even hex."""


async def stats(client: httpx.AsyncClient, list_id: str) -> dict[str, object]:
    response = await client.get(f"/_emulator/customer_lists/{list_id}")
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()
    return found


@pytest.mark.parametrize(
    ("record", "list_type", "valid"),
    [
        ("a@example.com", "EMAIL", True),
        ("A@example.com", "EMAIL", False),
        ("not-an-email", "EMAIL", False),
        ("a b@example.com", "EMAIL", False),
        ("0" * 64, "EMAIL", True),
        ("A" * 64, "EMAIL", False),
        ("0" * 32, "MAID", True),
        ("1" * 40, "IDFA", True),
        ("a@example.com", "MAID", False),
        ("AB" * 16, "IDFA", False),
        ("anything at all", "LR_ID", True),
    ],
)
def test_record_rules(record: str, list_type: str, valid: bool) -> None:
    """EMAIL: lowercase emails or lowercase MD5/SHA1/SHA256 hex; MAID and IDFA: such hashes; other types: any."""
    assert is_valid(record, list_type) is valid
    assert invalid_count([record, record], list_type) == (0 if valid else 2)


async def test_bad_records_are_accepted_and_counted(emulator_client: httpx.AsyncClient) -> None:
    """ADD of records that break the rules answers 200 and counts each one, as Pinterest's own tests observe."""
    created = await create_list(emulator_client, emails(3))
    response = await update_list(emulator_client, created["id"], "ADD", [*UUID_LIKE, "ok@example.com"])
    assert response.status_code == 200
    body = response.json()
    assert body["num_batches"] == 2
    assert body["num_uploaded_user_records"] == 6
    assert (await stats(emulator_client, created["id"]))["invalid_records_received"] == 2


async def test_bad_records_never_match(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """Even at match_rate 1, records that break the rules are members that never count towards a size."""
    emulator.settings.match_rate = 1.0
    upper = [record.upper() for record in emails(150)]
    created = await create_list(emulator_client, upper)
    assert created["status"] == "TOO_SMALL"
    listed = await stats(emulator_client, created["id"])
    assert (listed["members"], listed["matched"], listed["invalid_records_received"]) == (150, 0, 150)
    assert_pinterest_error(await create_audience(emulator_client, created["id"]), 400, 1)


async def test_remove_of_non_members_counts_every_record(emulator_client: httpx.AsyncClient) -> None:
    """REMOVE of records that were never members (bad ones included) answers 200 and counts each one."""
    created = await create_list(emulator_client, sha256s(5), list_type="MAID")
    response = await update_list(emulator_client, created["id"], "REMOVE", [*sha256s(3, start=100), "a@example.com"])
    assert response.status_code == 200
    assert response.json()["num_removed_user_records"] == 4
    assert response.json()["num_batches"] == 2
    assert (await stats(emulator_client, created["id"]))["invalid_records_received"] == 1


async def test_stats_sum_bad_records_over_lists(emulator_client: httpx.AsyncClient) -> None:
    """GET /_emulator/stats gives the bad records received in all and per list (counts only, never records)."""
    clean = await create_list(emulator_client, emails(2), name="clean")
    dirty = await create_list(emulator_client, [*UUID_LIKE, "a@example.com"], name="dirty")
    found = (await emulator_client.get("/_emulator/stats")).json()
    assert found == {"invalid_records_received": 2, "by_customer_list": {clean["id"]: 0, dirty["id"]: 2}}
    assert UUID_LIKE[0] not in str(found)


async def test_list_stats_are_counts(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """GET /_emulator/customer_lists/{id} shows the list's type, status, members and matches; 404 for no list."""
    emulator.settings.match_rate = 1.0
    created = await create_list(emulator_client, emails(120))
    assert await stats(emulator_client, created["id"]) == {
        "id": created["id"],
        "list_type": "EMAIL",
        "status": "READY",
        "members": 120,
        "matched": 120,
        "visible_matched": 120,
        "processing_until": emulator.now(),
        "invalid_records_received": 0,
    }
    assert_pinterest_error(await emulator_client.get("/_emulator/customer_lists/42"), 404)


async def test_strict_records_refuses_the_whole_batch(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """With the setting `strict_records` one bad record is 400 code 1 naming its position, and nothing is applied."""
    emulator.settings.strict_records = True
    created = await create_list(emulator_client, emails(3))
    refused = await update_list(emulator_client, created["id"], "ADD", ["ok@example.com", UUID_LIKE[0]])
    assert "record 2" in assert_pinterest_error(refused, 400, 1)["message"]
    after = (await emulator_client.get(f"{lists_url()}/{created['id']}")).json()
    assert (after["num_batches"], after["num_uploaded_user_records"]) == (1, 3)
    assert (await stats(emulator_client, created["id"]))["invalid_records_received"] == 0


async def test_no_records_ceiling_by_default(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """Pinterest documents no records-per-request maximum, so by default there is none (max_records_per_request)."""
    assert emulator.settings.max_records_per_request is None
    records = [f"{i}@x.io" for i in range(100_001)]
    created = await create_list(emulator_client, records)
    assert created["num_uploaded_user_records"] == 100_001
