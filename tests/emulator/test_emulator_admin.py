"""The admin API: reset, settings, the request log, the clock, users, ad accounts and list records."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import (
    SEED_AD_ACCOUNT_ID,
    SEED_APP_ID,
    SEED_APP_SECRET,
    SEED_REFRESH_TOKEN,
    Emulator,
    EmulatorSettings,
)
from tests.emulator.emulator_helpers import assert_pinterest_error, create_list, emails, lists_url, sha256s, update_list

pytestmark = pytest.mark.anyio


async def test_reset_forgets_everything(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Reset drops lists, tokens, faults, log, clock offset and changed settings, and re-seeds."""
    await create_list(emulator_client, emails(3))
    await emulator_client.put("/_emulator/settings", json={"match_rate": 0.1})
    await emulator_client.put(
        "/_emulator/faults", json={"rules": [{"operation": "ad_accounts/get", "calls": [1], "status": 500}]}
    )
    await emulator_client.post("/_emulator/clock/advance", json={"seconds": 100})
    await emulator_client.post("/_emulator/tokens/revoke", json={"token": "pina_emulator_access"})

    assert (await emulator_client.post("/_emulator/reset")).status_code == 204
    assert (await emulator_client.get(f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}")).status_code == 200
    assert (await emulator_client.get(lists_url())).json()["items"] == []
    assert (await emulator_client.get("/_emulator/settings")).json()["match_rate"] == 0.6
    assert (await emulator_client.get("/_emulator/clock")).json()["now"] == clock.now()
    log = (await emulator_client.get("/_emulator/requests")).json()["requests"]
    assert [entry["operation"] for entry in log] == ["ad_accounts/get", "customer_lists/list"]


async def test_reset_restores_constructor_settings(clock: FakeClock) -> None:
    """Reset goes back to the settings the emulator was built with, not to the library defaults."""
    emulator = Emulator(EmulatorSettings(match_rate=0.9), clock=clock)
    emulator.settings.match_rate = 0.2
    emulator.reset()
    assert emulator.settings.match_rate == 0.9


async def test_settings_round_trip(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """GET lists every setting; PUT changes the named ones and answers them all."""
    names = {f.name for f in dataclasses.fields(EmulatorSettings)}
    assert set((await emulator_client.get("/_emulator/settings")).json()) == names
    changed = (await emulator_client.put("/_emulator/settings", json={"window_s": 6, "per_second": 5})).json()
    assert changed["window_s"] == 6.0
    assert changed["per_second"] == 5
    assert emulator.settings.window_s == 6.0
    assert set(changed) == names


@pytest.mark.parametrize(
    "change",
    [
        {"speed": 1},
        {"match_rate": 1.5},
        {"window_s": 0},
        {"per_second": 2.5},
        {"rate_limit_hints": "yes"},
        {"latency_ms": -1},
        {"list_writes_per_window": 0},
        {"match_rate": 0.5, "max_records_per_request": "many"},
    ],
)
async def test_bad_settings_change_nothing(
    emulator: Emulator, emulator_client: httpx.AsyncClient, change: dict[str, object]
) -> None:
    """An unknown name or a bad value is 400 code 1 and leaves every setting as it was."""
    before = emulator.settings.to_dict()
    assert_pinterest_error(await emulator_client.put("/_emulator/settings", json=change), 400, 1)
    assert emulator.settings.to_dict() == before


async def test_request_log(emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Each Pinterest call is logged with method, path, operation, status, record count and time, never records."""
    records = emails(5, domain="private.example")
    created = await create_list(emulator_client, records)
    clock.advance(3)
    await update_list(emulator_client, created["id"], "REMOVE", records[:2])
    await emulator_client.get(f"{lists_url()}/{created['id']}", headers={"Authorization": "Bearer bad"})
    response = await emulator_client.get("/_emulator/requests")
    log = response.json()["requests"]
    assert [(e["method"], e["operation"], e["status"], e["records"]) for e in log] == [
        ("POST", "customer_lists/create", 200, 5),
        ("PATCH", "customer_lists/update", 200, 2),
        ("GET", "customer_lists/get", 401, 0),
    ]
    assert log[0]["path"] == lists_url()
    assert log[1]["at"] - log[0]["at"] == pytest.approx(3)
    assert {"method", "path", "operation", "status", "records", "at"} <= set(log[0])
    assert "private.example" not in response.text
    assert (await emulator_client.delete("/_emulator/requests")).status_code == 204
    assert (await emulator_client.get("/_emulator/requests")).json() == {"requests": []}


async def test_grants_count_token_answers_per_grant_type(emulator_client: httpx.AsyncClient) -> None:
    """The token endpoint's answers are counted per grant type, granted or refused, until cleared or reset."""
    auth = (SEED_APP_ID, SEED_APP_SECRET)
    granted = await emulator_client.post(
        "/v5/oauth/token", data={"grant_type": "refresh_token", "refresh_token": SEED_REFRESH_TOKEN}, auth=auth
    )
    assert granted.status_code == 200
    dead = await emulator_client.post(
        "/v5/oauth/token", data={"grant_type": "refresh_token", "refresh_token": SEED_REFRESH_TOKEN}, auth=auth
    )
    assert dead.status_code == 401
    answer = (await emulator_client.get("/_emulator/grants")).json()
    assert answer == {"grants": {"refresh_token": {"granted": 1, "refused": 1}}}
    assert (await emulator_client.delete("/_emulator/grants")).status_code == 204
    assert (await emulator_client.get("/_emulator/grants")).json() == {"grants": {}}
    await emulator_client.post(
        "/v5/oauth/token", data={"grant_type": "client_credentials", "scope": "ads:read"}, auth=auth
    )
    assert (await emulator_client.post("/_emulator/reset")).status_code == 204
    assert (await emulator_client.get("/_emulator/grants")).json() == {"grants": {}}


async def test_admin_calls_are_not_logged_or_limited(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """The admin API is outside rate limits and the request log."""
    emulator.settings.per_second = 1
    for _ in range(5):
        assert (await emulator_client.get("/_emulator/settings")).status_code == 200
    assert (await emulator_client.get("/_emulator/requests")).json()["requests"] == []


async def test_records_are_sorted(emulator_client: httpx.AsyncClient) -> None:
    """The records endpoint returns the membership sorted, hashes and plain emails alike."""
    records = ["zed@example.com", *sha256s(3), "amy@example.com"]
    created = await create_list(emulator_client, records)
    response = await emulator_client.get(f"/_emulator/customer_lists/{created['id']}/records")
    assert response.json() == {"records": sorted(records)}
    assert_pinterest_error(await emulator_client.get("/_emulator/customer_lists/999/records"), 404)


async def test_clock_only_moves_forward(emulator_client: httpx.AsyncClient) -> None:
    """Advancing by a negative or missing number of seconds is refused."""
    for body in ({"seconds": -1}, {}, {"seconds": "soon"}):
        assert_pinterest_error(await emulator_client.post("/_emulator/clock/advance", json=body), 400, 1)


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/_emulator/ad_accounts", {"id": "12x", "owner": "bob"}),
        ("/_emulator/ad_accounts", {"id": SEED_AD_ACCOUNT_ID, "owner": "bob"}),
        ("/_emulator/ad_accounts", {"id": "5"}),
        ("/_emulator/ad_accounts", {"id": "5", "owner": "bob", "country": "usa"}),
        ("/_emulator/users", {"name": "bob", "ad_accounts": {"404": "ADMIN"}}),
        ("/_emulator/users", {"name": "bob", "ad_accounts": {SEED_AD_ACCOUNT_ID: "KING"}}),
        ("/_emulator/users", {"ad_accounts": {}}),
        ("/_emulator/tokens", {"user": "bob", "app_id": "42"}),
        ("/_emulator/tokens", {"user": "bob", "access_ttl_s": 0}),
        ("/_emulator/tokens", {"user": "bob", "scopes": "ads:read"}),
        ("/_emulator/tokens/revoke", {}),
    ],
)
async def test_bad_admin_bodies(emulator_client: httpx.AsyncClient, url: str, body: dict[str, object]) -> None:
    """Admin bodies are checked and answered in Pinterest's error shape."""
    response = await emulator_client.post(url, json=body)
    assert response.status_code in (400, 409)
    assert set(response.json()) == {"code", "message"}


async def test_admin_rejects_non_json(emulator_client: httpx.AsyncClient) -> None:
    """A body that is not a JSON object is 400 code 1."""
    for content in (b"[1]", b"{oops"):
        response = await emulator_client.post("/_emulator/users", content=content)
        assert_pinterest_error(response, 400, 1)
    assert json.loads((await emulator_client.get("/_emulator/faults")).text)["rules"] == []


async def test_send_counts_say_how_often_each_record_arrived(emulator_client: httpx.AsyncClient) -> None:
    """With track_sends on, the emulator counts each record's ADDs and REMOVEs, and forgets them on request."""
    await emulator_client.put("/_emulator/settings", json={"track_sends": True})
    base = "/v5/ad_accounts/549755885175/customer_lists"
    records = [hashlib.sha256(f"p{i}".encode()).hexdigest() for i in range(4)]
    created = (await emulator_client.post(base, json={"name": "n", "records": ",".join(records[:3])})).json()
    for operation, batch in (("ADD", records[2:]), ("REMOVE", records[:1]), ("ADD", records[3:])):
        answer = await emulator_client.patch(
            f"{base}/{created['id']}", json={"operation_type": operation, "records": ",".join(batch)}
        )
        assert answer.status_code == 200
    sends = (await emulator_client.get(f"/_emulator/customer_lists/{created['id']}/sends")).json()["sends"]
    assert sends == {"ADD": {"1": 2, "2": 2}, "REMOVE": {"1": 1}}
    assert (await emulator_client.delete("/_emulator/sends")).status_code == 204
    cleared = (await emulator_client.get(f"/_emulator/customer_lists/{created['id']}/sends")).json()["sends"]
    assert cleared == {"ADD": {}, "REMOVE": {}}
