"""The Conversions API (`events/create`): body and event validation, per-event answers, 422, test mode, the
per-ad-account limit, conversion access tokens, de-duplication counts, faults and the admin API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import SEED_AD_ACCOUNT_ID, SEED_CONVERSION_TOKEN, Emulator
from pinaudience.pinterest import limits
from tests.emulator.emulator_helpers import (
    assert_pinterest_error,
    conversion_event,
    events_url,
    lists_url,
    sha256,
)

pytestmark = pytest.mark.anyio

OTHER_ACCOUNT = "549755885176"


async def send(client: httpx.AsyncClient, events: list[dict[str, Any]], **kwargs: Any) -> httpx.Response:
    return await client.post(events_url(kwargs.pop("account", SEED_AD_ACCOUNT_ID)), json={"data": events}, **kwargs)


async def recorded(client: httpx.AsyncClient, account: str = SEED_AD_ACCOUNT_ID) -> dict[str, Any]:
    response = await client.get(f"/_emulator/ad_accounts/{account}/events")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def assert_invalid(response: httpx.Response, *words: str) -> None:
    """400 code 4196, "Invalid request: ...", naming each of `words`."""
    body = assert_pinterest_error(response, 400, 4196)
    assert body["message"].startswith("Invalid request: ")
    for word in words:
        assert word in body["message"], body["message"]


# success ----------------------------------------------------------------------------------------------------------


async def test_processed_events_are_answered_and_recorded(emulator_client: httpx.AsyncClient) -> None:
    """Valid events: 200, one processed answer each with empty messages, and the admin API holds them."""
    events = [conversion_event(i) for i in range(3)]
    response = await send(emulator_client, events)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "num_events_processed": 3,
        "num_events_received": 3,
        "events": [{"status": "processed", "error_message": "", "warning_message": ""}] * 3,
    }
    found = await recorded(emulator_client)
    assert [item["event"] for item in found["events"]] == events
    assert (found["received"], found["unique_event_ids"], found["requests"], found["events_failed"]) == (3, 3, 1, 0)


async def test_every_identifier_option_is_enough(emulator_client: httpx.AsyncClient) -> None:
    """user_data needs em, or hashed_maids, or client_ip_address with client_user_agent."""
    options = [
        {"em": [sha256("a@example.com")]},
        {"hashed_maids": [sha256("device")]},
        {"client_ip_address": "216.3.128.12", "client_user_agent": "Mozilla/5.0"},
    ]
    events = [conversion_event(i, user_data=user_data) for i, user_data in enumerate(options)]
    assert (await send(emulator_client, events)).json()["num_events_processed"] == 3


async def test_every_documented_field_is_accepted(emulator_client: httpx.AsyncClient) -> None:
    """An event with every field of the spec's schema filled is processed."""
    hashed = [sha256("x")]
    full = conversion_event(
        app_id="429047995", app_name="Pinterest", app_version="7.9", device_brand="Apple", device_carrier="T-Mobile",
        device_model="iPhone X", device_type="iPhone", event_source_url="https://shop.example/", language="en",
        opt_out=False, os_version="12.1.4", partner_name="ss-partnername", wifi=True,
        app_info={"app_id": "1", "install_time": 1739222269, "window_height": 900, "window_width": 1678},
        device_info={"battery_level": 78, "form_factor": "cellphone", "languages": ["en"], "os_family": "ios",
                     "network_type": "wifi", "timezone_abbr": "PDT"},
        user_data={name: hashed for name in limits.CONVERSION_HASHED_FIELDS}
        | {"client_ip_address": "216.3.128.12", "client_user_agent": "UA", "click_id": "c", "partner_id": None},
        custom_data={"content_ids": ["p1"], "contents": [{"id": "p1", "item_price": "14.99", "quantity": 3}],
                     "num_items": 3, "order_id": None, "value": "42.00", "currency": "EUR", "opt_out_type": "LDP"},
    )  # fmt: skip
    response = await send(emulator_client, [full])
    assert response.status_code == 200, response.text
    assert response.json()["events"][0]["warning_message"] == ""


# 400: the body against the spec's schema ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ["data is required"]),
        ({"data": []}, ["data", "at least 1"]),
        ({"data": [conversion_event(i) for i in range(1_001)]}, ["data", "at most 1000"]),
        ({"data": {"event_name": "checkout"}}, ["data", "array"]),
        ({"data": [conversion_event()], "extra": 1}, ["'extra' was unexpected"]),
        ({"data": ["event"]}, ["data[0]", "object"]),
    ],
)
async def test_bodies_outside_the_schema_are_refused(
    emulator_client: httpx.AsyncClient, body: dict[str, Any], words: list[str]
) -> None:
    """No events, 1,001 events, data not a list, unknown top-level fields: 400 code 4196, nothing recorded."""
    response = await emulator_client.post(events_url(), json=body)
    assert_invalid(response, *words)
    assert (await recorded(emulator_client))["requests"] == 0


async def test_exactly_1000_events_are_accepted(emulator_client: httpx.AsyncClient) -> None:
    """1,000 events is the ceiling, not beyond it."""
    response = await send(emulator_client, [conversion_event(i) for i in range(1_000)])
    assert response.json()["num_events_processed"] == 1_000


@pytest.mark.parametrize("field", ["event_name", "action_source", "event_time", "event_id", "user_data"])
async def test_a_missing_required_field_refuses_the_request(emulator_client: httpx.AsyncClient, field: str) -> None:
    """Each required field missing from one event refuses the whole request, naming the event and the field."""
    broken = conversion_event(1)
    del broken[field]
    response = await send(emulator_client, [conversion_event(0), broken])
    assert_invalid(response, "data[1]", field)
    assert (await recorded(emulator_client))["received"] == 0


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"event_time": "1767225000"}, ["data[0].event_time", "integer"]),
        ({"event_time": 1767225000.5}, ["event_time", "integer"]),
        ({"event_time": True}, ["event_time", "integer"]),
        ({"event_id": 7}, ["event_id", "string"]),
        ({"event_name": None}, ["event_name", "null"]),
        ({"opt_out": "no"}, ["opt_out", "boolean"]),
        ({"user_data": {"em": sha256("a")}}, ["user_data.em", "array"]),
        ({"user_data": {"em": [7]}}, ["user_data.em[0]", "string"]),
        ({"user_data": {"ph": [sha256("1")]}}, ["user_data", "needs em, hashed_maids"]),
        ({"user_data": {"client_ip_address": "1.2.3.4"}}, ["user_data", "client_user_agent"]),
        ({"custom_data": {"value": 72.39}}, ["custom_data.value", "string"]),
        ({"custom_data": {"category_name": "x"}}, ["custom_data", "'category_name' was unexpected"]),
        ({"custom_data": {"contents": [{"quantity": "3"}]}}, ["contents[0].quantity", "integer"]),
        ({"device_info": {"form_factor": "phone"}}, ["device_info.form_factor", "one of"]),
        ({"device_info": {"battery_level": 101}}, ["battery_level", "at most 100"]),
        ({"app_info": {"window_width": -1}}, ["window_width", "at least 0"]),
        ({"device_info": {"timezone_abbr": "ABCDEF"}}, ["timezone_abbr", "longer than 5"]),
        ({"surprise": 1}, ["data[0]", "'surprise' was unexpected"]),
    ],
)
async def test_fields_of_the_wrong_shape_refuse_the_request(
    emulator_client: httpx.AsyncClient, changes: dict[str, Any], words: list[str]
) -> None:
    """Wrong types, nulls where the spec allows none, enums, bounds, lengths, unknown fields in closed objects."""
    assert_invalid(await send(emulator_client, [conversion_event(**changes)]), *words)


async def test_the_message_never_holds_a_value(emulator_client: httpx.AsyncClient) -> None:
    """A refusal names the field and position, not the value sent."""
    response = await send(emulator_client, [conversion_event(custom_data={"value": 123456789})])
    assert "123456789" not in response.text


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff"])
async def test_a_body_that_is_not_json_is_4196(emulator_client: httpx.AsyncClient, content: bytes) -> None:
    """No body or not JSON: 400 code 4196, this endpoint's code for an invalid request."""
    response = await emulator_client.post(events_url(), content=content, headers={"Content-Type": "application/json"})
    assert_pinterest_error(response, 400, 4196)


# 422: per-event failures --------------------------------------------------------------------------------------


async def test_a_plain_email_fails_its_event_with_422(emulator_client: httpx.AsyncClient) -> None:
    """An `em` that is an email, not its hash: that event fails, the others are processed and recorded, and the
    answer is 422 with DetailedError, the per-event answers in request order under `details` (the email unechoed)."""
    events = [conversion_event(0), conversion_event(1, user_data={"em": ["test_non_hashed_email@pinterest.com"]})]
    response = await send(emulator_client, events)
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert isinstance(body["code"], int)
    details = body["details"]
    assert (details["num_events_received"], details["num_events_processed"]) == (2, 1)
    assert [e["status"] for e in details["events"]] == ["processed", "failed"]
    assert details["events"][0]["error_message"] == ""
    assert "user_data.em[0]" in details["events"][1]["error_message"]
    assert "SHA-256" in details["events"][1]["error_message"]
    assert "pinterest.com" not in response.text
    found = await recorded(emulator_client)
    assert [item["event"]["event_id"] for item in found["events"]] == ["order-0"]
    assert found["events_failed"] == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"event_name": "purchase"}, "event_name"), ({"action_source": "website"}, "action_source")],
)
async def test_names_the_spec_does_not_list_fail_the_event(
    emulator_client: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    """The spec types event_name and action_source as strings but lists their values ("otherwise the event will
    not be accepted"): another value fails that event."""
    response = await send(emulator_client, [conversion_event(**changes)])
    assert response.status_code == 422
    event = response.json()["details"]["events"][0]
    assert event["status"] == "failed"
    assert field in event["error_message"]


async def test_every_listed_event_name_and_source_is_processed(emulator_client: httpx.AsyncClient) -> None:
    """All fifteen event names and four action sources of the spec are processed."""
    events = [
        conversion_event(i, event_name=name, action_source=limits.CONVERSION_ACTION_SOURCES[i % 4])
        for i, name in enumerate(limits.CONVERSION_EVENT_NAMES)
    ]
    assert (await send(emulator_client, events)).status_code == 200


async def test_other_unhashed_fields_warn_by_default(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """A plain phone number in `ph` is processed with a warning (`unhashed_user_data` "warn"), or fails ("fail")."""
    event = conversion_event(user_data={"em": [sha256("a@example.com")], "ph": ["+1 555 0100"]})
    response = await send(emulator_client, [event])
    assert response.status_code == 200
    assert "user_data.ph[0]" in response.json()["events"][0]["warning_message"]
    emulator.settings.unhashed_user_data = "fail"
    response = await send(emulator_client, [event])
    assert response.status_code == 422
    assert "user_data.ph[0]" in response.json()["details"]["events"][0]["error_message"]


@pytest.mark.parametrize(("setting", "status", "message"), [("accept", 200, ""), ("warn", 200, "upper-case"),
                                                             ("fail", 422, "lowercase")])  # fmt: skip
async def test_upper_case_hex_follows_its_setting(
    emulator: Emulator, emulator_client: httpx.AsyncClient, setting: str, status: int, message: str
) -> None:
    """An upper-case SHA-256 in `em` is taken, taken with a warning, or fails the event (`uppercase_hex`)."""
    emulator.settings.uppercase_hex = setting
    response = await send(emulator_client, [conversion_event(user_data={"em": [sha256("a").upper()]})])
    assert response.status_code == status
    answer = response.json() if status == 200 else response.json()["details"]
    event = answer["events"][0]
    assert message in (event["warning_message"] + event["error_message"])


async def test_unknown_user_data_fields_warn(emulator_client: httpx.AsyncClient) -> None:
    """user_data is open in the spec: an unknown field is processed with a warning that does not echo its name."""
    event = conversion_event(user_data={"em": [sha256("a")], "secret_field": "x"})
    response = await send(emulator_client, [event])
    assert response.status_code == 200
    assert "not standard" in response.json()["events"][0]["warning_message"]
    assert "secret_field" not in response.text


async def test_old_events_fail_only_with_a_maximum_age(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Any event_time is accepted by default; with `max_event_age_s`, an older event fails."""
    old = conversion_event(event_time=int(clock.now()) - 8 * 86400)
    assert (await send(emulator_client, [old])).status_code == 200
    emulator.settings.max_event_age_s = 7 * 86400
    response = await send(emulator_client, [old])
    assert response.status_code == 422
    assert "event_time" in response.json()["details"]["events"][0]["error_message"]
    assert (await send(emulator_client, [conversion_event(event_time=int(clock.now()))])).status_code == 200


# test mode --------------------------------------------------------------------------------------------------------


async def test_test_mode_answers_alike_and_records_nothing(emulator_client: httpx.AsyncClient) -> None:
    """?test=true validates and answers as usual (200, or 422 for a failed event) and records no event."""
    good = await send(emulator_client, [conversion_event(0)], params={"test": "true"})
    assert good.status_code == 200
    assert good.json()["num_events_processed"] == 1
    bad = conversion_event(1, user_data={"em": ["plain@example.com"]})
    assert (await send(emulator_client, [bad], params={"test": "true"})).status_code == 422
    found = await recorded(emulator_client)
    assert found["events"] == []
    assert (found["received"], found["requests"], found["test_requests"], found["test_events"]) == (0, 0, 2, 2)
    assert (await send(emulator_client, [conversion_event(0)], params={"test": "false"})).status_code == 200
    assert (await recorded(emulator_client))["received"] == 1


async def test_test_must_be_a_boolean(emulator_client: httpx.AsyncClient) -> None:
    """?test=maybe is an invalid request."""
    assert_invalid(await send(emulator_client, [conversion_event()], params={"test": "maybe"}), "test")


# de-duplication -----------------------------------------------------------------------------------------------


async def test_repeated_event_ids_are_answered_and_counted(
    emulator: Emulator, emulator_client: httpx.AsyncClient
) -> None:
    """A repeated event_id is processed like any other (as Pinterest's SDK tests saw); the admin API counts what was
    received and the distinct ids, and `reported` follows `dedupe_event_ids`."""
    first = await send(emulator_client, [conversion_event(1), conversion_event(1)])
    assert [e["status"] for e in first.json()["events"]] == ["processed", "processed"]
    await send(emulator_client, [conversion_event(1), conversion_event(2)])
    found = await recorded(emulator_client)
    assert (found["received"], found["unique_event_ids"], found["reported"]) == (4, 2, 2)
    emulator.settings.dedupe_event_ids = False
    assert (await recorded(emulator_client))["reported"] == 4


# auth and permissions ---------------------------------------------------------------------------------------------


async def test_a_conversion_token_sends_events_and_nothing_else(emulator_client: httpx.AsyncClient) -> None:
    """A conversion access token minted through the admin API (Ads Manager's stand-in) works for events/create
    only; elsewhere it is 401 code 2."""
    minted = await emulator_client.post(f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/conversion_tokens", json={})
    assert minted.status_code == 200, minted.text
    token = minted.json()
    assert token["token_type"] == "conversion"
    assert token["user"] == "emulator-user"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert (await send(emulator_client, [conversion_event()], headers=headers)).status_code == 200
    assert_pinterest_error(await emulator_client.get(lists_url(), headers=headers), 401, 2)
    await emulator_client.post("/_emulator/tokens/revoke", json={"token": token["access_token"]})
    assert_pinterest_error(await send(emulator_client, [conversion_event()], headers=headers), 401, 2)


async def test_the_seed_has_a_conversion_token(emulator_client: httpx.AsyncClient) -> None:
    """The seed user holds a conversion access token for the seed ad account, restored by reset."""
    headers = {"Authorization": f"Bearer {SEED_CONVERSION_TOKEN}"}
    await emulator_client.post("/_emulator/tokens/revoke", json={"token": SEED_CONVERSION_TOKEN})
    assert_pinterest_error(await send(emulator_client, [conversion_event()], headers=headers), 401, 2)
    await emulator_client.post("/_emulator/reset")
    assert (await send(emulator_client, [conversion_event()], headers=headers)).status_code == 200


async def test_a_conversion_token_can_expire(emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """A token minted with `ttl_s` stops working after it."""
    minted = await emulator_client.post(
        f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/conversion_tokens", json={"ttl_s": 60}
    )
    headers = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    clock.advance(61)
    assert_pinterest_error(await send(emulator_client, [conversion_event()], headers=headers), 401, 2)


async def test_a_conversion_token_works_on_the_users_other_accounts(emulator_client: httpx.AsyncClient) -> None:
    """A conversion token works "across multiple ad accounts under an user ID" (the spec), not on others' accounts."""
    await emulator_client.post("/_emulator/ad_accounts", json={"id": OTHER_ACCOUNT, "owner": "emulator-user"})
    await emulator_client.post("/_emulator/ad_accounts", json={"id": "42", "owner": "someone-else"})
    minted = await emulator_client.post(f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/conversion_tokens", json={})
    headers = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    assert (
        await send(emulator_client, [conversion_event()], headers=headers, account=OTHER_ACCOUNT)
    ).status_code == 200
    assert_pinterest_error(await send(emulator_client, [conversion_event()], headers=headers, account="42"), 403, 29)


@pytest.mark.parametrize(("role", "status"), [("ANALYST", 200), ("AUDIENCE_MANAGER", 200), ("CAMPAIGN_MANAGER", 200),
                                              ("ADMIN", 200), ("FINANCE_MANAGER", 403)])  # fmt: skip
async def test_business_access_roles(emulator_client: httpx.AsyncClient, role: str, status: int) -> None:
    """Owner, Admin, Analyst, Audience and Campaign roles may send events (the spec); others get 403 code 29."""
    await emulator_client.post(
        "/_emulator/users", json={"name": "colleague", "ad_accounts": {SEED_AD_ACCOUNT_ID: role}}
    )
    token = (await emulator_client.post("/_emulator/tokens", json={"user": "colleague"})).json()["access_token"]
    response = await send(emulator_client, [conversion_event()], headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status, response.text


async def test_an_oauth_token_needs_ads_write(emulator_client: httpx.AsyncClient) -> None:
    """An OAuth token with ads:read only: 401 code 3."""
    token = (
        await emulator_client.post("/_emulator/tokens", json={"user": "emulator-user", "scopes": ["ads:read"]})
    ).json()["access_token"]
    response = await send(emulator_client, [conversion_event()], headers={"Authorization": f"Bearer {token}"})
    assert_pinterest_error(response, 401, 3)


async def test_minting_needs_a_user_with_access(emulator_client: httpx.AsyncClient) -> None:
    """The admin API mints tokens only for a user who may send events for the ad account, of an ad account that
    exists."""
    refused = await emulator_client.post(
        f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/conversion_tokens", json={"user": "stranger"}
    )
    assert_pinterest_error(refused, 400, 1)
    missing = await emulator_client.post("/_emulator/ad_accounts/7/conversion_tokens", json={})
    assert_pinterest_error(missing, 404, 404)


async def test_unknown_and_malformed_ad_accounts(emulator_client: httpx.AsyncClient) -> None:
    """An ad account that does not exist: 404; an id that is not digits: 400 code 4196."""
    assert_pinterest_error(await send(emulator_client, [conversion_event()], account="7"), 404)
    assert_invalid(await send(emulator_client, [conversion_event()], account="abc"), "ad_account_id")


# the per-ad-account limit -----------------------------------------------------------------------------------------


async def test_the_limit_is_per_ad_account(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Past `ads_conversions_per_window` calls to one ad account: 429 code 8, whoever calls; another ad account of
    the same user is unaffected; the window slides."""
    assert emulator.settings.ads_conversions_per_window == limits.ADS_CONVERSIONS.requests == 5_000
    emulator.settings.ads_conversions_per_window = 3
    await emulator_client.post("/_emulator/ad_accounts", json={"id": OTHER_ACCOUNT, "owner": "emulator-user"})
    for _ in range(3):
        assert (await send(emulator_client, [conversion_event()])).status_code == 200
    assert_pinterest_error(await send(emulator_client, [conversion_event()]), 429, 8)
    minted = await emulator_client.post(f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/conversion_tokens", json={})
    headers = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    assert_pinterest_error(await send(emulator_client, [conversion_event()], headers=headers), 429, 8)
    assert (await send(emulator_client, [conversion_event()], account=OTHER_ACCOUNT)).status_code == 200
    assert (await emulator_client.get(lists_url())).status_code == 200  # other categories are not affected
    clock.advance(emulator.settings.window_s)
    assert (await send(emulator_client, [conversion_event()])).status_code == 200


async def test_events_use_no_ads_write_slot(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """Sending events leaves the user's ads_write budget alone."""
    emulator.settings.ads_write_per_window = 1
    for _ in range(3):
        assert (await send(emulator_client, [conversion_event()])).status_code == 200
    assert (await emulator_client.post(lists_url(), json={"name": "n", "records": "a@example.com"})).status_code == 200


# faults and the log -----------------------------------------------------------------------------------------------


async def test_scripted_faults(emulator_client: httpx.AsyncClient) -> None:
    """Scripted 429 and 503 on events/create: 429 code 8, and the spec's 503 code 4197; nothing is recorded; the
    request log counts the events of each call."""
    rules = [{"operation": "events/create", "calls": [1], "status": 429},
             {"operation": "events/create", "calls": [2], "status": 503}]  # fmt: skip
    assert (await emulator_client.put("/_emulator/faults", json={"rules": rules})).status_code == 200
    assert_pinterest_error(await send(emulator_client, [conversion_event()]), 429, 8)
    body = assert_pinterest_error(await send(emulator_client, [conversion_event()]), 503, 4197)
    assert "ramped down" in body["message"]
    assert (await send(emulator_client, [conversion_event(1), conversion_event(2)])).status_code == 200
    assert (await recorded(emulator_client))["received"] == 2
    log = (await emulator_client.get("/_emulator/requests")).json()["requests"]
    assert [(r["operation"], r["status"], r["records"], r["fault"]) for r in log] == [
        ("events/create", 429, 0, "429"),
        ("events/create", 503, 0, "503"),
        ("events/create", 200, 2, None),
    ]


async def test_drop_after_records_the_events(emulator_client: httpx.AsyncClient) -> None:
    """A connection dropped after the call was applied: the events are recorded though the client saw an error."""
    rules = [{"operation": "events/create", "calls": [1], "drop": "after"}]
    await emulator_client.put("/_emulator/faults", json={"rules": rules})
    with pytest.raises(httpx.RemoteProtocolError):
        await send(emulator_client, [conversion_event()])
    assert (await recorded(emulator_client))["received"] == 1


# the admin API ----------------------------------------------------------------------------------------------------


async def test_admin_counts_per_account_and_clears(emulator_client: httpx.AsyncClient) -> None:
    """GET /_emulator/events counts per ad account; DELETE per account or all forgets events and counts; reset too."""
    await emulator_client.post("/_emulator/ad_accounts", json={"id": OTHER_ACCOUNT, "owner": "emulator-user"})
    await send(emulator_client, [conversion_event(0)])
    await send(emulator_client, [conversion_event(1), conversion_event(2)], account=OTHER_ACCOUNT)
    stats = (await emulator_client.get("/_emulator/events")).json()["by_ad_account"]
    assert {account: counts["received"] for account, counts in stats.items()} == {
        SEED_AD_ACCOUNT_ID: 1,
        OTHER_ACCOUNT: 2,
    }
    assert (await emulator_client.delete(f"/_emulator/ad_accounts/{OTHER_ACCOUNT}/events")).status_code == 204
    assert (await recorded(emulator_client, OTHER_ACCOUNT))["received"] == 0
    assert (await recorded(emulator_client))["received"] == 1
    assert (await emulator_client.delete("/_emulator/events")).status_code == 204
    assert (await emulator_client.get("/_emulator/events")).json() == {"by_ad_account": {}}
    await send(emulator_client, [conversion_event(0)])
    await emulator_client.post("/_emulator/reset")
    assert (await recorded(emulator_client))["received"] == 0
    missing = await emulator_client.get("/_emulator/ad_accounts/7/events")
    assert_pinterest_error(missing, 404, 404)


async def test_events_survive_a_restart(tmp_path: Any, clock: FakeClock) -> None:
    """With a database file, recorded events and counts are still there after a restart."""
    from tests.helpers import emulator_http

    path = tmp_path / "emu.sqlite"
    first = Emulator(clock=clock, db_path=path)
    async with emulator_http(first) as client:
        assert (await send(client, [conversion_event()])).status_code == 200
    first.close()
    second = Emulator(clock=clock, db_path=path)
    async with emulator_http(second) as client:
        found = await recorded(client)
    second.close()
    assert (found["received"], found["requests"]) == (1, 1)


async def test_the_shared_admin_helpers(emulator_client: httpx.AsyncClient) -> None:
    """tests/emulator_admin.py's conversion helpers mint a token, read the events and clear them."""
    from tests.emulator_admin import EmulatorAdmin

    admin = EmulatorAdmin(emulator_client)
    token = await admin.conversion_token()
    await send(emulator_client, [conversion_event(7)], headers={"Authorization": f"Bearer {token}"})
    found = await admin.conversion_events()
    assert [item["event"]["event_id"] for item in found["events"]] == ["order-7"]
    await admin.clear_conversion_events()
    assert (await admin.conversion_events())["received"] == 0
