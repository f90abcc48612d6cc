"""`GET /_emulator/counters`: token grants, admissions with their times, and 429s by cause; token expiry on demand."""

from __future__ import annotations

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_APP_ID, SEED_APP_SECRET, SEED_REFRESH_TOKEN, Emulator
from tests.emulator.emulator_helpers import emails, joined, lists_url, update_list

pytestmark = pytest.mark.anyio


async def counters(client: httpx.AsyncClient) -> dict[str, object]:
    response = await client.get("/_emulator/counters")
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


async def test_nothing_counted_at_start(emulator_client: httpx.AsyncClient) -> None:
    """A fresh emulator: no grant, no admission, every cause of 429 at zero."""
    assert await counters(emulator_client) == {
        "token_grants": {},
        "rate_limited": {"ads_write": 0, "ads_read": 0, "ads_conversions": 0, "per_second": 0, "object": 0, "fault": 0},
        "admitted": {},
        "admitted_at": {},
    }


async def test_admissions_are_counted_with_their_window_times(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Each admitted call counts under its category, at the time the rate-limit windows saw it."""
    body = {"name": "n", "records": joined(emails(1))}
    first = emulator.monotonic()
    assert (await emulator_client.post(lists_url(), json=body)).status_code == 200
    clock.advance(2.5)
    assert (await emulator_client.get(lists_url())).status_code == 200
    found = await counters(emulator_client)
    assert found["admitted"] == {"ads_write": 1, "ads_read": 1}
    assert found["admitted_at"] == {"ads_write": [first], "ads_read": [first + 2.5]}


async def test_429s_are_counted_by_the_limit_that_refused(
    emulator: Emulator, emulator_client: httpx.AsyncClient
) -> None:
    """A category's window, the per-second ceiling, the per-object throttle and a scripted fault each have a cause;
    a refused call is not an admission."""
    emulator.settings.ads_write_per_window = 1
    body = {"name": "n", "records": joined(emails(1))}
    created = await emulator_client.post(lists_url(), json=body)
    assert created.status_code == 200
    assert (await emulator_client.post(lists_url(), json=body)).status_code == 429
    emulator.settings.ads_write_per_window = 100
    emulator.settings.list_writes_per_window = 1
    list_id = created.json()["id"]
    assert (await update_list(emulator_client, list_id, "ADD", emails(1))).status_code == 200
    assert (await update_list(emulator_client, list_id, "ADD", emails(1))).status_code == 429
    emulator.settings.per_second = 2  # the two admitted writes fill this second
    assert (await emulator_client.get(lists_url())).status_code == 429
    await emulator_client.put(
        "/_emulator/faults", json={"rules": [{"operation": "customer_lists/list", "calls": [1], "status": 429}]}
    )
    assert (await emulator_client.get(lists_url())).status_code == 429
    found = await counters(emulator_client)
    assert found["rate_limited"] == {
        "ads_write": 1,
        "ads_read": 0,
        "ads_conversions": 0,
        "per_second": 1,
        "object": 1,
        "fault": 1,
    }
    assert found["admitted"] == {"ads_write": 2}


async def test_refreshes_are_counted_and_reset_forgets_them(emulator_client: httpx.AsyncClient) -> None:
    """A refresh grant Pinterest answered counts once; a refused one does not; DELETE and reset clear the counts."""
    grant = {"grant_type": "refresh_token", "refresh_token": SEED_REFRESH_TOKEN}
    auth = (SEED_APP_ID, SEED_APP_SECRET)
    assert (await emulator_client.post("/v5/oauth/token", data=grant, auth=auth)).status_code == 200
    assert (await emulator_client.post("/v5/oauth/token", data=grant, auth=auth)).status_code == 401  # rotated
    assert (await counters(emulator_client))["token_grants"] == {"refresh_token": 1}
    assert (await emulator_client.delete("/_emulator/counters")).status_code == 204
    assert (await counters(emulator_client))["token_grants"] == {}
    assert (await emulator_client.get(lists_url())).status_code == 200
    assert (await emulator_client.post("/_emulator/reset")).status_code == 204
    assert (await counters(emulator_client))["admitted"] == {}


async def test_an_access_token_expires_on_demand(emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """`POST /tokens/expire` sets a token's expiry (now, or `in_s` later): then it answers 401 code 2, as a token
    past its 30 days does."""
    answer = await emulator_client.post("/_emulator/tokens/expire", json={"token": SEED_ACCESS_TOKEN, "in_s": 5})
    assert answer.json()["expired"] is True
    assert (await emulator_client.get(lists_url())).status_code == 200
    clock.advance(5)
    refused = await emulator_client.get(lists_url())
    assert (refused.status_code, refused.json()["code"]) == (401, 2)
    unknown = await emulator_client.post("/_emulator/tokens/expire", json={"token": "pina_nope"})
    assert unknown.json()["expired"] is False
    bad = await emulator_client.post("/_emulator/tokens/expire", json={"token": SEED_ACCESS_TOKEN, "in_s": -1})
    assert bad.status_code == 400
