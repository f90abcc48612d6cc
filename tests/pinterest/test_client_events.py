"""Conversion events (`PinterestClient.send_events`) against the emulator: answers, test mode, errors and tokens."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import Credentials, PinterestSettings, Secret
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, SEED_CONVERSION_TOKEN, SEED_USER, Emulator
from pinaudience.errors import (
    AuthorizationError,
    ConfigError,
    InsufficientPermissions,
    InvalidEvents,
    PinaudienceError,
    PinterestUnavailable,
    RequestTooLarge,
)
from pinaudience.pinterest.limits import MAX_EVENTS_PER_REQUEST
from tests.pinterest.client_helpers import Admin, add_ad_account, conversion_event, conversion_events

pytestmark = pytest.mark.anyio

PLAIN_EMAIL = "Canary.Buyer@Example.com"
"""An `em` sent unhashed: Pinterest fails that event (422), and the address must never show anywhere."""


async def test_a_batch_pinterest_processes_is_recorded_in_order(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """A 200: every event processed, one answer per event, and the emulator holds them in the order sent."""
    events = conversion_events(3, clock)
    async with connect(static_settings) as client:
        result = await client.send_events(events)
        stats = client.stats
    assert (result.received, result.processed, result.failed) == (3, 3, 0)
    assert result.all_processed
    assert result.http_status == 200
    assert not result.test
    assert [e.status for e in result.events] == ["processed"] * 3
    assert all(e.error_message is None and e.warning_message is None for e in result.events)
    assert result.ad_account_id == SEED_AD_ACCOUNT_ID
    assert result.request_id
    recorded = await admin.conversion_events()
    assert [e["event"]["event_id"] for e in recorded["events"]] == ["order-0", "order-1", "order-2"]
    assert recorded["requests"] == 1
    assert stats.requests_by_operation["events/create"] == 1


async def test_any_mapping_is_an_event(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """An event may be any mapping (a read-only view here), sent as a JSON object."""
    from types import MappingProxyType

    async with connect(static_settings) as client:
        result = await client.send_events((MappingProxyType(conversion_event(0, clock)),))
    assert result.processed == 1
    assert (await admin.conversion_events())["events"][0]["event"] == conversion_event(0, clock)


async def test_a_422_is_a_partial_success_read_event_by_event(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """A plain email in `em` fails that event with Pinterest's message; the others are processed and recorded, a
    warning rides along, and nothing is raised."""
    events = conversion_events(4, clock)
    events[1] = conversion_event(1, clock, user_data={"em": [PLAIN_EMAIL]})
    events[3] = conversion_event(3, clock, user_data={**events[3]["user_data"], "loyalty_tier": "gold"})
    async with connect(static_settings) as client:
        result = await client.send_events(events)
    assert result.http_status == 422
    assert (result.received, result.processed, result.failed) == (4, 3, 1)
    assert [e.status for e in result.events] == ["processed", "failed", "processed", "processed"]
    assert result.failures() == [(1, "user_data.em[0]: not a SHA-256 hash in lowercase hex")]
    assert result.failed_by_message() == {"user_data.em[0]: not a SHA-256 hash in lowercase hex": 1}
    assert result.warnings_by_message() == {"user_data: 1 field(s) that are not standard were ignored": 1}
    assert result.events[3].processed
    assert result.events[3].warning_message
    recorded = await admin.conversion_events()
    assert [e["event"]["event_id"] for e in recorded["events"]] == ["order-0", "order-2", "order-3"]
    assert recorded["events_failed"] == 1
    assert PLAIN_EMAIL.lower() not in json.dumps(result.to_dict()).lower()


async def test_test_mode_is_answered_and_records_nothing(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """`test=True` sends `?test=true`: the same per-event answers, nothing recorded."""
    events = [*conversion_events(2, clock), conversion_event(2, clock, user_data={"em": [PLAIN_EMAIL]})]
    async with connect(static_settings) as client:
        result = await client.send_events(events, test=True)
    assert result.test
    assert [e.status for e in result.events] == ["processed", "processed", "failed"]
    recorded = await admin.conversion_events()
    assert (recorded["received"], recorded["requests"], recorded["events"]) == (0, 0, [])
    assert (recorded["test_requests"], recorded["test_events"]) == (1, 3)


@pytest.mark.parametrize("size", [0, MAX_EVENTS_PER_REQUEST + 1])
async def test_a_batch_out_of_bounds_never_leaves(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock, size: int
) -> None:
    """0 or 1,001 events are refused before anything is sent."""
    async with connect(static_settings) as client:
        with pytest.raises(ValueError, match=f"1 to {MAX_EVENTS_PER_REQUEST} events, got {size}"):
            await client.send_events(conversion_events(size, clock))
        with pytest.raises(TypeError, match="not one event"):
            await client.send_events(conversion_event(0, clock))
        with pytest.raises(TypeError, match="event 1 of the batch is a str"):
            await client.send_events([conversion_event(0, clock), "order-1"])
        with pytest.raises(ValueError, match="1 to 18 digits"):
            await client.send_events(conversion_events(1, clock), ad_account_id="act_1")
    assert await admin.requests() == []


async def test_a_batch_outside_the_schema_is_invalid_events(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """400 code 4196 (a `custom_data` field Pinterest does not know) raises InvalidEvents, not retried, nothing
    recorded; its message names the field and the event's position."""
    events = conversion_events(2, clock)
    events[1]["custom_data"]["category_name"] = "shoes"
    async with connect(static_settings) as client:
        with pytest.raises(InvalidEvents) as caught:
            await client.send_events(events)
        stats = client.stats
    error = caught.value
    assert (error.kind, error.status, error.code) == ("invalid_request", 400, 4196)
    assert "none was recorded" in error.message
    assert "data[1].custom_data" in (error.pinterest_message or "")
    assert "'category_name' was unexpected" in (error.pinterest_message or "")
    assert "send the batch again" in error.resolution
    assert stats.retries == 0
    assert (await admin.conversion_events())["received"] == 0


async def test_a_429_then_a_ramp_down_are_retried(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """429, then 503 code 4197, then the answer: retried by the policy, the batch recorded once."""
    await admin.faults(
        {"operation": "events/create", "calls": [1], "status": 429},
        {"operation": "events/create", "calls": [2], "status": 503},
    )
    async with connect(static_settings) as client:
        result = await client.send_events(conversion_events(5, clock))
        stats = client.stats
    assert result.processed == 5
    assert (stats.rate_limited, stats.retries, stats.requests) == (1, 2, 3)
    assert dict(stats.retries_by_reason) == {"429": 1, "503": 1}
    recorded = await admin.conversion_events()
    assert (recorded["received"], recorded["requests"]) == (5, 1)


async def test_a_resend_after_a_lost_answer_is_deduplicated_by_event_id(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock, emulator: Emulator
) -> None:
    """An answer lost after Pinterest recorded the batch: the retry sends it again, Pinterest holds the events
    twice, and counts them once by event id (as `send_events` warns) where it de-duplicates."""
    await admin.faults({"operation": "events/create", "calls": [1], "drop": "after"})
    async with connect(static_settings) as client:
        result = await client.send_events(conversion_events(3, clock))
    assert result.processed == 3
    recorded = await admin.conversion_events()
    assert (recorded["received"], recorded["unique_event_ids"]) == (6, 3)
    assert recorded["reported"] == (3 if emulator.settings.dedupe_event_ids else 6)


async def test_a_body_too_large_is_request_too_large(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """413: RequestTooLarge (an invalid_request) that tells the caller to split the batch; not retried."""
    await admin.settings(max_body_bytes=2_000)
    async with connect(static_settings) as client:
        with pytest.raises(RequestTooLarge) as caught:
            await client.send_events(conversion_events(20, clock))
        stats = client.stats
    assert caught.value.kind == "invalid_request"
    assert caught.value.status == 413
    assert "Split the batch" in caught.value.resolution
    assert stats.requests == 1
    assert (await admin.conversion_events())["received"] == 0


async def test_events_go_to_another_ad_account_when_named(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """`ad_account_id=` sends to that account (the seed user owns it) and the result names it."""
    await add_ad_account(admin, "42", SEED_USER)
    async with connect(static_settings) as client:
        result = await client.send_events(conversion_events(2, clock), ad_account_id="42")
    assert result.ad_account_id == "42"
    assert (await admin.conversion_events("42"))["received"] == 2
    assert (await admin.conversion_events())["received"] == 0


async def test_a_user_without_a_role_on_the_account_is_refused(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """403 code 29: InsufficientPermissions whose resolution names the roles that may send events."""
    await add_ad_account(admin, "43", "someone-else")
    async with connect(static_settings) as client:
        with pytest.raises(InsufficientPermissions) as caught:
            await client.send_events(conversion_events(1, clock), ad_account_id="43")
    assert caught.value.status == 403
    assert "ad account 43" in caught.value.message
    assert "Admin, Analyst, Audience or Campaign" in caught.value.resolution
    assert "OAuth token" in caught.value.resolution


async def test_an_oauth_token_without_ads_write_is_an_authorization_error(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """401 code 3 for a token with ads:read only: AuthorizationError asking for ads:write or a conversion token."""
    reader = (await admin.tokens(scopes=["ads:read"]))["access_token"]
    settings = replace(static_settings, credentials=Credentials(access_token=Secret(reader)))
    async with connect(settings) as client:
        with pytest.raises(AuthorizationError) as caught:
            await client.send_events(conversion_events(1, clock))
    assert (caught.value.status, caught.value.code) == (401, 3)
    assert "ads:write" in caught.value.resolution


async def test_a_conversion_token_alone_sends_events_and_nothing_else(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """Credentials holding only a conversion token (minted through the admin API) send events; any other call
    raises the ConfigError of missing OAuth credentials, without a request."""
    token = await admin.conversion_token()
    settings = replace(static_settings, credentials=Credentials(conversion_token=Secret(token)))
    async with connect(settings) as client:
        result = await client.send_events(conversion_events(2, clock))
        assert result.processed == 2
        with pytest.raises(ConfigError, match="No Pinterest credentials"):
            await client.get_ad_account()
    assert [r["operation"] for r in await admin.requests()] == ["events/create"]


async def test_the_conversion_token_is_used_for_events_only(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """With an OAuth token and a conversion token, events go with the conversion token: once it is revoked, events
    fail with a 401 that names it (never refreshed), while list calls still work with the OAuth token."""
    token = await admin.conversion_token()
    settings = replace(
        static_settings,
        credentials=Credentials(access_token=Secret(SEED_ACCESS_TOKEN), conversion_token=Secret(token)),
    )
    async with connect(settings) as client:
        assert (await client.send_events(conversion_events(1, clock))).processed == 1
        await admin.revoke(token)
        with pytest.raises(AuthorizationError) as caught:
            await client.send_events(conversion_events(1, clock, start=1))
        await client.list_customer_lists()
        stats = client.stats
    assert "conversion access token was not accepted" in caught.value.message
    assert "PINTEREST_CONVERSION_TOKEN" in caught.value.resolution
    assert stats.refreshes == 0
    assert stats.retries == 0


async def test_no_token_reaches_an_error_or_a_log_record(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The OAuth token, the seed and a minted conversion token, and a plain email sent as `em`, stay out of
    results, errors and log records, through retries, a 422, a 400, a 401 and a 403."""
    caplog.set_level(logging.DEBUG)
    minted = await admin.conversion_token()
    secrets = {SEED_ACCESS_TOKEN, SEED_CONVERSION_TOKEN, minted}
    await add_ad_account(admin, "43", "someone-else")
    texts: list[str] = []
    settings = replace(
        static_settings,
        credentials=Credentials(access_token=Secret(SEED_ACCESS_TOKEN), conversion_token=Secret(minted)),
    )
    texts.append(repr(settings))

    async def expect_error(call: Any) -> None:
        try:
            await call
        except PinaudienceError as exc:
            texts.extend([str(exc), repr(exc), json.dumps(exc.to_dict())])
        else:
            pytest.fail("expected an error")

    await admin.faults({"operation": "events/create", "calls": [1], "status": 503})
    async with connect(settings) as client:
        partial = await client.send_events([conversion_event(0, clock, user_data={"em": [PLAIN_EMAIL]})])
        texts.append(json.dumps(partial.to_dict()))
        texts.extend(repr(e) for e in partial.events)
        bad = conversion_event(1, clock, custom_data={"colour": PLAIN_EMAIL})
        await expect_error(client.send_events([bad]))
        await expect_error(client.send_events(conversion_events(1, clock), ad_account_id="43"))
        await admin.revoke(minted)
        await expect_error(client.send_events(conversion_events(1, clock)))
    texts.extend(record.getMessage() for record in caplog.records)
    assert any("retrying events/create" in t for t in texts)
    haystack = "\n".join(texts)
    for secret in secrets:
        assert secret not in haystack
    assert PLAIN_EMAIL.lower() not in haystack.lower()


async def test_an_answer_that_does_not_say_which_events_failed_is_outcome_unknown(
    static_settings: PinterestSettings, connect: Any, clock: FakeClock
) -> None:
    """A 422 without per-event answers (not Pinterest's shape) raises PinterestUnavailable with outcome_unknown."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"code": 422, "message": "Not all events were successfully processed."})

    async with connect(static_settings, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(PinterestUnavailable) as caught:
            await client.send_events(conversion_events(2, clock))
    assert caught.value.outcome_unknown
    assert caught.value.status == 422
    assert "event_id" in caught.value.resolution


@pytest.mark.parametrize("status", [200, 422])
async def test_an_answer_that_is_not_json_is_outcome_unknown(
    static_settings: PinterestSettings, connect: Any, clock: FakeClock, status: int
) -> None:
    """A 200 or 422 whose body is not JSON may follow recorded events: outcome_unknown, not a plain failure."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="<html>ok</html>", headers={"content-type": "text/html"})

    async with connect(static_settings, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(PinterestUnavailable) as caught:
            await client.send_events(conversion_events(1, clock))
    assert caught.value.outcome_unknown
