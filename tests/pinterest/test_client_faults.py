"""A bad night at Pinterest's end, scripted in the emulator: 429 storms, 5xx, drops and timeouts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import PinterestSettings
from pinaudience.emulator import Emulator
from pinaudience.errors import InvalidRequest, PinterestUnavailable, RateLimited
from pinaudience.pinterest.events import ClientEvent, RetryScheduled
from tests.helpers import hashed_emails
from tests.pinterest.client_helpers import Admin

pytestmark = pytest.mark.anyio


def retries(events: list[ClientEvent]) -> list[RetryScheduled]:
    return [e for e in events if isinstance(e, RetryScheduled)]


async def test_429_storm_with_headers_waits_what_pinterest_asks(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """Three 429s with Retry-After 5 (emulator setting rate_limit_hints): three waits of 5 s, then the batch lands
    once."""
    await admin.settings(rate_limit_hints="retry_after_and_reset_at")
    events: list[ClientEvent] = []
    async with connect(static_settings, observer=events.append) as client:
        created = await client.create_customer_list("storm", hashed_emails(10))
        await admin.faults({"operation": "customer_lists/update", "calls": [1, 2, 3], "status": 429, "retry_after": 5})
        start = clock.monotonic()
        await client.update_customer_list(created.id, "ADD", hashed_emails(10, start=10))
        assert [(e.reason, e.delay_s) for e in retries(events)] == [("429", 5.0)] * 3
        assert clock.monotonic() - start >= 15.0
        assert client.stats.rate_limited == 3
        assert client.stats.retries_by_reason == {"429": 3}
    assert sorted(await admin.records(created.id)) == sorted(hashed_emails(20))


async def test_429_storm_without_headers_backs_off_exponentially(
    static_settings: PinterestSettings, connect: Any, admin: Admin
) -> None:
    """Bare 429s (as Pinterest documents them): waits grow from about 1 s, doubling, with jitter."""
    await admin.settings(rate_limit_hints="none")
    events: list[ClientEvent] = []
    async with connect(static_settings, observer=events.append) as client:
        await admin.faults({"operation": "ad_accounts/get", "calls": [1, 2, 3, 4], "status": 429})
        await client.get_ad_account()
    delays = [e.delay_s for e in retries(events)]
    assert len(delays) == 4
    for n, delay in enumerate(delays):
        assert 2.0**n / 2 <= delay <= 2.0**n


async def test_endless_429_is_rate_limited_after_the_time_budget(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """When every attempt is refused with 429, rate_limited comes back once the time budget is spent, not after
    max_attempts: a 429 asks to wait, nothing failed."""
    settings = replace(static_settings, max_attempts=4, max_retry_s=60.0)
    await admin.faults({"operation": "ad_accounts/get", "calls": list(range(1, 200)), "status": 429})
    started = clock.monotonic()
    async with connect(settings) as client:
        with pytest.raises(RateLimited, match=r"Gave up after [0-9]+ attempts") as caught:
            await client.get_ad_account()
        assert client.stats.requests > 4
    assert clock.monotonic() - started <= 60.0
    assert caught.value.kind == "rate_limited"
    assert caught.value.request_id


async def test_429s_do_not_use_up_the_attempts(static_settings: PinterestSettings, connect: Any, admin: Admin) -> None:
    """Five 429s and then an answer: the call succeeds with max_attempts=2, which counts failures, not waits."""
    settings = replace(static_settings, max_attempts=2)
    await admin.faults({"operation": "ad_accounts/get", "calls": list(range(1, 6)), "status": 429})
    async with connect(settings) as client:
        account = await client.get_ad_account()
        assert client.stats.requests == 6
    assert account.id == settings.ad_account_id


async def test_a_wait_past_the_time_budget_is_not_started(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """A Retry-After longer than max_retry_s (emulator setting rate_limit_hints) ends the call at once instead of
    sleeping in vain."""
    await admin.settings(rate_limit_hints="retry_after_and_reset_at")
    settings = replace(static_settings, max_retry_s=60.0)
    await admin.faults({"operation": "ad_accounts/get", "calls": [1], "status": 429, "retry_after": 600})
    async with connect(settings) as client:
        with pytest.raises(RateLimited, match="Gave up after 1 attempt "):
            await client.get_ad_account()
    assert clock.monotonic() < 60.0


@pytest.mark.parametrize("headers", [True, False])
async def test_real_rate_limit_429s_are_absorbed(
    static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock, headers: bool
) -> None:
    """A limiter set looser than Pinterest's limit draws real 429s; every call still succeeds."""
    hints = "retry_after_and_reset_at" if headers else "none"
    await admin.settings(ads_read_per_window=3, window_s=10.0, rate_limit_hints=hints)
    events: list[ClientEvent] = []
    async with connect(static_settings, observer=events.append) as client:
        for _ in range(8):
            await client.get_ad_account()
        assert client.stats.rate_limited > 0
    assert clock.monotonic() >= 20.0  # 8 reads at 3 per 10 s need at least two more windows
    if headers:
        assert all(e.delay_s >= 1.0 for e in retries(events))


async def test_5xx_then_success(static_settings: PinterestSettings, connect: Any, admin: Admin) -> None:
    """500, 502 and 503 are each retried; the write then lands exactly once in the membership."""
    async with connect(static_settings) as client:
        created = await client.create_customer_list("flaky", hashed_emails(5))
        await admin.faults(
            {"operation": "customer_lists/update", "calls": [1], "status": 500},
            {"operation": "customer_lists/update", "calls": [2], "status": 502},
            {"operation": "customer_lists/update", "calls": [3], "status": 503},
        )
        updated = await client.update_customer_list(created.id, "ADD", hashed_emails(5, start=5))
        assert client.stats.retries_by_reason == {"500": 1, "502": 1, "503": 1}
    assert updated.num_batches == 2
    assert sorted(await admin.records(created.id)) == sorted(hashed_emails(10))


async def test_endless_5xx_is_pinterest_unavailable(
    static_settings: PinterestSettings, connect: Any, admin: Admin
) -> None:
    """When Pinterest keeps failing, pinterest_unavailable comes back after the attempts."""
    settings = replace(static_settings, max_attempts=3)
    await admin.faults({"operation": "ad_accounts/get", "calls": list(range(1, 10)), "status": 503})
    async with connect(settings) as client:
        with pytest.raises(PinterestUnavailable, match="Gave up after 3 attempts") as caught:
            await client.get_ad_account()
    assert caught.value.status == 503


async def test_dropped_connections_are_retried_and_adds_stay_idempotent(
    static_settings: PinterestSettings, connect: Any, admin: Admin
) -> None:
    """A drop before the write and a drop after it: both resent, the membership is exactly the batch."""
    async with connect(static_settings) as client:
        created = await client.create_customer_list("drops", hashed_emails(5))
        await admin.faults(
            {"operation": "customer_lists/update", "calls": [1], "drop": "before"},
            {"operation": "customer_lists/update", "calls": [2], "drop": "after"},
        )
        updated = await client.update_customer_list(created.id, "ADD", hashed_emails(5, start=5))
        assert client.stats.retries_by_reason == {"connection": 2}
    # Applied twice (the lost answer, then the resend): counters count both, membership once.
    assert updated.num_batches == 3
    assert updated.num_uploaded_user_records == 15
    assert sorted(await admin.records(created.id)) == sorted(hashed_emails(10))


class Flaky(httpx.AsyncBaseTransport):
    """Answers the first requests with scripted failures, then passes through to the emulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport, script: list[str]) -> None:
        self.inner = inner
        self.script = script

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.script:
            step = self.script.pop(0)
            if step == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            if step == "refused":
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(int(step), text="<html>gateway</html>", request=request)
        return await self.inner.handle_async_request(request)


async def test_timeouts_refusals_and_504_are_retried(
    static_settings: PinterestSettings, connect: Any, emulator: Emulator
) -> None:
    """A read timeout, a refused connection and a gateway 504 each get another attempt."""
    transport = Flaky(emulator.transport(), ["timeout", "refused", "504"])
    async with connect(static_settings, transport=transport) as client:
        account = await client.get_ad_account()
        assert client.stats.retries_by_reason == {"timeout": 1, "connection": 1, "504": 1}
    assert account.id == static_settings.ad_account_id


async def test_endless_timeouts_are_pinterest_unavailable(
    static_settings: PinterestSettings, connect: Any, emulator: Emulator
) -> None:
    """Timeouts to the end: pinterest_unavailable with no status, naming the failure."""
    settings = replace(static_settings, max_attempts=2)
    transport = Flaky(emulator.transport(), ["timeout"] * 5)
    async with connect(settings, transport=transport) as client:
        with pytest.raises(PinterestUnavailable, match="timed out") as caught:
            await client.get_ad_account()
    assert caught.value.status is None


async def test_400_is_never_retried(static_settings: PinterestSettings, connect: Any, emulator: Emulator) -> None:
    """A 400 from anywhere on the path is final at once."""
    transport = Flaky(emulator.transport(), ["400"])
    async with connect(static_settings, transport=transport) as client:
        with pytest.raises(InvalidRequest, match="HTTP 400"):
            await client.get_ad_account()
        assert client.stats.requests == 1


@pytest.mark.parametrize("fault", [{"drop": "after"}, {"status": 503}])
async def test_creates_are_never_resent_when_they_may_have_landed(
    static_settings: PinterestSettings, connect: Any, admin: Admin, fault: dict[str, Any]
) -> None:
    """A create whose answer is lost is raised as outcome-unknown, never resent into a second list."""
    await admin.faults({"operation": "customer_lists/create", "calls": [1], **fault})
    async with connect(static_settings) as client:
        with pytest.raises(PinterestUnavailable) as caught:
            await client.create_customer_list("once", hashed_emails(5))
    assert caught.value.outcome_unknown
    creates = [r for r in await admin.requests() if r["operation"] == "customer_lists/create"]
    assert len(creates) == 1


async def test_creates_are_retried_when_they_surely_did_not_land(
    static_settings: PinterestSettings, connect: Any, admin: Admin
) -> None:
    """A 429 or a refused connection means nothing was created: the create is retried."""
    await admin.faults({"operation": "customer_lists/create", "calls": [1], "status": 429})
    async with connect(static_settings) as client:
        created = await client.create_customer_list("retried", hashed_emails(5))
        assert client.stats.retries == 1
    lists = [r for r in await admin.requests() if r["operation"] == "customer_lists/create" and r["status"] == 200]
    assert len(lists) == 1
    assert sorted(await admin.records(created.id)) == sorted(hashed_emails(5))
