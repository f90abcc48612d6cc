"""Pinterest's undocumented behaviours, each a setting, and the `default` and `realistic` profiles that pick them.

Each test names the setting it relies on. Time is the test's `FakeClock`: nothing sleeps.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import (
    PROFILES,
    SEED_AD_ACCOUNT_ID,
    SEED_APP_ID,
    SEED_APP_SECRET,
    SEED_REFRESH_TOKEN,
    Emulator,
    EmulatorSettings,
    SettingsError,
)
from tests.emulator.emulator_helpers import (
    assert_pinterest_error,
    audiences_url,
    create_audience,
    create_list,
    emails,
    joined,
    lists_url,
    update_list,
)
from tests.helpers import emulator_http

pytestmark = pytest.mark.anyio

ACCOUNT_URL = f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}"


async def get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


# profiles -------------------------------------------------------------------------------------------------------


def test_profiles_start_from_their_settings(clock: FakeClock) -> None:
    """Emulator(profile=...) takes the profile's settings; realistic differs from default in exactly PROFILES."""
    default = Emulator(clock=clock)
    realistic = Emulator(profile="realistic", clock=clock)
    try:
        assert default.settings == EmulatorSettings()
        changed = {k for k, v in realistic.settings.to_dict().items() if default.settings.to_dict()[k] != v}
        assert changed == set(PROFILES["realistic"]) - {"rate_limit_hints", "list_write_window_s"}
        assert realistic.settings.processing_delay_s == 60.0
        assert realistic.settings.audience_on_unmatched == "refuse"
        assert realistic.settings.rate_limit_hints == "none"
        assert realistic.settings.max_body_bytes == 1_000_000
    finally:
        default.close()
        realistic.close()


def test_profile_and_settings_do_not_mix(clock: FakeClock) -> None:
    """Giving settings and a profile is an error; from_profile applies changes on top; unknown profiles are refused."""
    with pytest.raises(ValueError, match="not both"):
        Emulator(EmulatorSettings(), profile="realistic", clock=clock)
    assert EmulatorSettings.from_profile("realistic", processing_delay_s=5).processing_delay_s == 5.0
    with pytest.raises(SettingsError, match="profile"):
        EmulatorSettings.from_profile("optimistic")


async def test_profile_through_the_admin_api(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """PUT /_emulator/profile replaces every setting with the profile's; an unknown name is 400 and changes nothing."""
    emulator.settings.match_rate = 0.1
    answer = await emulator_client.put("/_emulator/profile", json={"name": "realistic"})
    assert answer.json() == EmulatorSettings.from_profile("realistic").to_dict()
    assert emulator.settings == EmulatorSettings.from_profile("realistic")
    assert_pinterest_error(await emulator_client.put("/_emulator/profile", json={"name": "nope"}), 400, 1)
    assert emulator.settings == EmulatorSettings.from_profile("realistic")


async def test_reset_restores_the_profile(clock: FakeClock) -> None:
    """Reset goes back to the profile the emulator started with, not to the defaults."""
    emulator = Emulator(profile="realistic", clock=clock)
    emulator.settings.processing_delay_s = 1.0
    emulator.reset()
    assert emulator.settings == EmulatorSettings.from_profile("realistic")
    emulator.close()


@pytest.mark.parametrize(
    "change",
    [
        {"rate_limit_hints": "sometimes"},
        {"audience_on_unmatched": "maybe"},
        {"removed_audiences": "archived"},
        {"strict_records": "yes"},
        {"max_records_per_request": 0},
        {"fractional_counters": 1},
    ],
)
async def test_new_settings_are_checked(
    emulator: Emulator, emulator_client: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    """A bad value for a behaviour setting is 400 code 1 and changes nothing."""
    before = emulator.settings.to_dict()
    assert_pinterest_error(await emulator_client.put("/_emulator/settings", json=change), 400, 1)
    assert emulator.settings.to_dict() == before


# matching delay -------------------------------------------------------------------------------------------------


async def test_matching_shows_only_after_the_delay(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """With processing_delay_s a list is PROCESSING and its audience keeps its old size until matching ends."""
    emulator.settings.match_rate = 1.0
    created = await create_list(emulator_client, emails(150))
    audience = (await create_audience(emulator_client, created["id"])).json()
    emulator.settings.processing_delay_s = 60
    updated = await update_list(emulator_client, created["id"], "ADD", emails(50, start=150))
    assert updated.json()["status"] == "PROCESSING"
    assert updated.json()["num_uploaded_user_records"] == 200  # upload counters are at once
    audience_url = f"{audiences_url()}/{audience['id']}"
    clock.advance(59)
    assert (await get_json(emulator_client, audience_url))["size"] == 150
    clock.advance(1)
    assert (await get_json(emulator_client, audience_url))["size"] == 200
    assert (await get_json(emulator_client, f"{lists_url()}/{created['id']}"))["status"] == "READY"


async def test_writes_during_processing_keep_the_last_finished_match(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A write while processing restarts the delay and still shows the matches of the last finished processing."""
    emulator.settings.match_rate = 1.0
    created = await create_list(emulator_client, emails(100))
    audience = (await create_audience(emulator_client, created["id"])).json()
    emulator.settings.processing_delay_s = 60
    await update_list(emulator_client, created["id"], "ADD", emails(10, start=100))
    clock.advance(30)
    await update_list(emulator_client, created["id"], "ADD", emails(10, start=110))
    clock.advance(59)
    assert (await get_json(emulator_client, f"{audiences_url()}/{audience['id']}"))["size"] == 100
    clock.advance(1)
    assert (await get_json(emulator_client, f"{audiences_url()}/{audience['id']}"))["size"] == 120


async def test_unmatched_list_refuses_an_audience(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """With audience_on_unmatched "refuse", an audience on a list still processing is 400 code 1 naming the rule;
    once matched, it is built."""
    emulator.settings.update({"match_rate": 1.0, "processing_delay_s": 60, "audience_on_unmatched": "refuse"})
    created = await create_list(emulator_client, emails(150))
    body = assert_pinterest_error(await create_audience(emulator_client, created["id"]), 400, 1)
    assert "customer_list_id" in body["message"]
    clock.advance(60)
    built = (await create_audience(emulator_client, created["id"])).json()
    assert (built["status"], built["size"]) == ("READY", 150)


async def test_unmatched_list_accepts_an_audience(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """With audience_on_unmatched "accept", the audience is INITIALIZING with no size until its list is matched."""
    emulator.settings.update({"match_rate": 1.0, "processing_delay_s": 60, "audience_on_unmatched": "accept"})
    big = await create_list(emulator_client, emails(150), name="big")
    small = await create_list(emulator_client, emails(20), name="small")
    first = (await create_audience(emulator_client, big["id"], name="big")).json()
    second = (await create_audience(emulator_client, small["id"], name="small")).json()
    for audience in (first, second):
        assert (audience["status"], audience["size"]) == ("INITIALIZING", None)
    clock.advance(60)
    now_big = await get_json(emulator_client, f"{audiences_url()}/{first['id']}")
    now_small = await get_json(emulator_client, f"{audiences_url()}/{second['id']}")
    assert (now_big["status"], now_big["size"]) == ("READY", 150)
    assert (now_small["status"], now_small["size"]) == ("TOO_SMALL", 20)
    assert_pinterest_error(await create_audience(emulator_client, small["id"]), 400, 1)


# writes to one object, bodies and gateways ----------------------------------------------------------------------


async def test_realistic_throttles_writes_to_one_list(clock: FakeClock) -> None:
    """The realistic profile's list_writes_per_window: a second write to one list within a second is 429 code 8
    with no hint; another list is unaffected."""
    emulator = Emulator(profile="realistic", clock=clock)
    async with emulator_http(emulator) as client:
        one = await create_list(client, emails(5), name="one")
        other = await create_list(client, emails(5), name="other")
        assert (await update_list(client, one["id"], "ADD", emails(1, start=9))).status_code == 200
        refused = await update_list(client, one["id"], "ADD", emails(1, start=10))
        assert (refused.status_code, refused.json()["code"]) == (429, 8)  # with extra keys (error_extra_keys)
        assert "retry-after" not in refused.headers
        assert "x-ratelimit-reset" not in refused.headers
        assert (await update_list(client, other["id"], "ADD", emails(1, start=9))).status_code == 200
        clock.advance(1)
        assert (await update_list(client, one["id"], "ADD", emails(1, start=10))).status_code == 200
    emulator.close()


async def test_large_body_as_a_gateway_page(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """With gateway_html a body over max_body_bytes is a 413 HTML page, refused before authentication."""
    emulator.settings.update({"gateway_html": True, "max_body_bytes": 500})
    body = {"name": "n", "records": joined(emails(50))}
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        refused = await emulator_client.post(lists_url(), json=body, headers=headers)
        assert refused.status_code == 413
        assert refused.headers["content-type"].startswith("text/html")
        assert "413 Request Entity Too Large" in refused.text
    logged = (await emulator_client.get("/_emulator/requests")).json()["requests"]
    assert [r["status"] for r in logged] == [413, 413]


async def test_large_body_as_pinterest_json(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """With gateway_html off (the default) a body over max_body_bytes is 413 code 1 in Pinterest's shape."""
    emulator.settings.max_body_bytes = 500
    refused = await emulator_client.post(lists_url(), json={"name": "n", "records": joined(emails(50))})
    assert_pinterest_error(refused, 413, 1)


@pytest.mark.parametrize(
    ("gateway_html", "rule", "html"),
    [
        (False, {"status": 502}, False),
        (False, {"status": 504}, False),
        (True, {"status": 502}, True),
        (True, {"status": 504}, True),
        (True, {"status": 503}, False),
        (False, {"status": 502, "html": True}, True),
        (True, {"status": 504, "html": False}, False),
        (False, {"status": 500, "html": True}, True),
    ],
)
async def test_gateway_faults_as_html(
    emulator: Emulator, emulator_client: httpx.AsyncClient, gateway_html: bool, rule: dict[str, Any], html: bool
) -> None:
    """Scripted 502 and 504 are HTML pages with gateway_html; a rule's `html` decides for itself."""
    emulator.settings.gateway_html = gateway_html
    plan = {"rules": [{"operation": "customer_lists/list", "calls": [1], **rule}]}
    assert (await emulator_client.put("/_emulator/faults", json=plan)).status_code == 200
    answer = await emulator_client.get(lists_url())
    assert answer.status_code == rule["status"]
    if html:
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.text.lstrip().startswith("<html>")
    else:
        assert_pinterest_error(answer, rule["status"], rule["status"])


async def test_html_is_only_for_server_errors(emulator_client: httpx.AsyncClient) -> None:
    """A rule's `html` needs a status of 500 or more: with a 429 or alone it is 400 code 1."""
    for rule in ({"status": 429, "html": True}, {"delay": 1, "html": True}, {"status": 502, "html": "yes"}):
        plan = {"rules": [{"operation": "customer_lists/list", "calls": [1], **rule}]}
        assert_pinterest_error(await emulator_client.put("/_emulator/faults", json=plan), 400, 1)


# shapes ---------------------------------------------------------------------------------------------------------


async def test_fractional_counters(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """With fractional_counters the list counters are JSON numbers with a fraction (the spec types them `number`)."""
    emulator.settings.fractional_counters = True
    created = await emulator_client.post(lists_url(), json={"name": "n", "records": joined(emails(150))})
    raw = json.loads(created.text, parse_float=str)
    assert (raw["num_batches"], raw["num_uploaded_user_records"], raw["num_removed_user_records"]) == (
        "1.0",
        "150.0",
        "0.0",
    )
    emulator.settings.fractional_counters = False
    assert (await get_json(emulator_client, f"{lists_url()}/{created.json()['id']}"))["num_batches"] == 1


async def test_error_extra_keys(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """With error_extra_keys Pinterest's errors carry status, host, generated_at and data beside code and message."""
    emulator.settings.error_extra_keys = True
    body = (await emulator_client.get(f"{lists_url()}/42")).json()
    assert set(body) == {"code", "message", "status", "host", "generated_at", "data"}
    assert (body["code"], body["status"]) == (404, "failure")
    emulator.settings.error_extra_keys = False
    assert_pinterest_error(await emulator_client.get(f"{lists_url()}/42"), 404)


async def test_removed_audiences_listed(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """With removed_audiences "listed" a removed audience stays in listings and reads with status REMOVED, but
    cannot be changed (404)."""
    emulator.settings.update({"match_rate": 1.0, "removed_audiences": "listed"})
    created = await create_list(emulator_client, emails(100))
    audience = (await create_audience(emulator_client, created["id"])).json()
    url = f"{audiences_url()}/{audience['id']}"
    assert (await emulator_client.patch(url, json={"operation_type": "REMOVE"})).json()["status"] == "REMOVED"
    listed = (await get_json(emulator_client, audiences_url()))["items"]
    assert [(a["id"], a["status"]) for a in listed] == [(audience["id"], "REMOVED")]
    assert (await get_json(emulator_client, url))["status"] == "REMOVED"
    assert_pinterest_error(await emulator_client.patch(url, json={"name": "again"}), 404)
    emulator.settings.removed_audiences = "hidden"
    assert (await get_json(emulator_client, audiences_url()))["items"] == []


# OAuth and account states ---------------------------------------------------------------------------------------


async def test_refresh_without_rotation(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """With rotate_refresh_token off a refresh answers an access token only, and the old refresh token still works."""
    emulator.settings.rotate_refresh_token = False
    grant = {"grant_type": "refresh_token", "refresh_token": SEED_REFRESH_TOKEN}
    for _ in range(2):
        answer = await emulator_client.post("/v5/oauth/token", data=grant, auth=(SEED_APP_ID, SEED_APP_SECRET))
        assert answer.status_code == 200
        tokens = answer.json()
        assert not {"refresh_token", "refresh_token_expires_in", "refresh_token_expires_at"} & set(tokens)
        assert tokens["access_token"].startswith("pina_")
        read = await emulator_client.get(ACCOUNT_URL, headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert read.status_code == 200


@pytest.mark.parametrize(("state", "code"), [("DISAPPROVED", 2625), ("UNDER_REVIEW", 2626)])
async def test_account_state_refuses_writes(emulator_client: httpx.AsyncClient, state: str, code: int) -> None:
    """An ad account DISAPPROVED or UNDER_REVIEW answers writes with 403 and the spec's code; reads still work."""
    created = await create_list(emulator_client, emails(3))
    answer = await emulator_client.put(f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/state", json={"state": state})
    assert answer.json() == {"id": SEED_AD_ACCOUNT_ID, "state": state}
    assert_pinterest_error(await update_list(emulator_client, created["id"], "ADD", emails(1, start=5)), 403, code)
    message = assert_pinterest_error(
        await emulator_client.post(lists_url(), json={"name": "n", "records": "a@b.c"}), 403
    )
    assert "business hub" in message["message"]
    assert (await emulator_client.get(f"{lists_url()}/{created['id']}")).status_code == 200
    await emulator_client.put(f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/state", json={"state": "ACTIVE"})
    assert (await update_list(emulator_client, created["id"], "ADD", emails(1, start=5))).status_code == 200


async def test_account_state_is_checked(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """An unknown state is 400, an unknown account 404; reset makes every account ACTIVE again."""
    url = f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/state"
    assert_pinterest_error(await emulator_client.put(url, json={"state": "BANNED"}), 400, 1)
    assert_pinterest_error(await emulator_client.put("/_emulator/ad_accounts/1/state", json={"state": "ACTIVE"}), 404)
    await emulator_client.put(url, json={"state": "DISAPPROVED"})
    emulator.reset()
    assert (await emulator_client.post(lists_url(), json={"name": "n", "records": "a@b.c"})).status_code == 200
