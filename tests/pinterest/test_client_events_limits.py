"""Conversion events under `ads_conversions`: a budget per ad account, in the client, the local limiter and Redis,
and the client's requests as Pinterest's spec describes them."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis.asyncio

from pinaudience.clock import FakeClock
from pinaudience.config import Credentials, PinterestSettings, Secret
from pinaudience.emulator import SEED_AD_ACCOUNT_ID, SEED_USER, Emulator
from pinaudience.pinterest.events import ClientEvent, RetryScheduled
from pinaudience.pinterest.limits import MAX_EVENTS_PER_REQUEST, Category, RateLimit
from pinaudience.pinterest.ratelimit import DEFAULT_HEADROOM, LocalRateLimiter
from pinaudience.pinterest.redis_ratelimit import KEY_PREFIX, RedisRateLimiter, default_scope
from tests.emulator.test_emulator_contract import SpecRequest, SpecResponse
from tests.helpers import hashed_emails
from tests.pinterest.client_helpers import Admin, add_ad_account, conversion_event, conversion_events
from tests.servers import RedisServer

pytestmark = pytest.mark.anyio

OTHER_ACCOUNT = "42"
LIMIT = RateLimit(20, 60.0)
"""Pinterest's 5,000 a minute per ad account, scaled down so that a test reaches it in a few dozen calls."""


def interval(limit: RateLimit) -> float:
    """The limiter's spacing of two calls at `limit` (the bucket's maths, ratelimit.py)."""
    return limit.window_s / (limit.requests - 1) * (1 + DEFAULT_HEADROOM)


PER_SECOND_SLOT = interval(RateLimit(100, 1.0))
"""The spacing of any two calls under the overall cap of 100 a second, shared by every category and ad account."""


@pytest.fixture
async def scaled(static_settings: PinterestSettings, admin: Admin) -> PinterestSettings:
    """The emulator and the client at `LIMIT` per ad account, and a second ad account of the seed user."""
    await admin.settings(ads_conversions_per_window=LIMIT.requests, window_s=LIMIT.window_s)
    await add_ad_account(admin, OTHER_ACCOUNT, SEED_USER)
    return replace(static_settings, ads_conversions_limit=LIMIT)


async def test_each_ad_account_has_its_own_budget(
    scaled: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """Two ad accounts, 40 calls each, alternating: the time one account's 40 calls take at its limit (one budget
    for both would take twice as long), and no 429 from the emulator, which counts per ad account too."""
    rounds = 40
    start = clock.monotonic()
    async with connect(scaled) as client:
        for n in range(rounds):
            for account in (SEED_AD_ACCOUNT_ID, OTHER_ACCOUNT):
                await client.send_events([conversion_event(n, clock)], ad_account_id=account)
        stats = client.stats
    elapsed = clock.monotonic() - start
    # The second account's calls come one per-second slot (10 ms) after the first's.
    assert elapsed == pytest.approx((rounds - 1) * interval(LIMIT) + PER_SECOND_SLOT, rel=1e-6)
    assert elapsed > LIMIT.window_s  # more calls per account than one window allows: the pacing is what kept 429 away
    assert stats.rate_limited == 0
    assert [r["status"] for r in await admin.requests()] == [200] * 2 * rounds
    for account in (SEED_AD_ACCOUNT_ID, OTHER_ACCOUNT):
        assert (await admin.conversion_events(account))["requests"] == rounds


async def test_a_saturated_account_holds_back_neither_writes_nor_another_account(
    scaled: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """With one account's conversion budget paused (as after a 429 on it), a customer list write and another
    account's events start at once: they use no slot of that budget."""
    created = await admin.create_list("events beside writes", hashed_emails(1))
    async with connect(scaled) as client:
        await client.limiter.pause(Category.ADS_CONVERSIONS, 600.0, key=SEED_AD_ACCOUNT_ID)
        before = clock.monotonic()
        await client.update_customer_list(created["id"], "ADD", hashed_emails(2, start=1))
        result = await client.send_events(conversion_events(3, clock), ad_account_id=OTHER_ACCOUNT)
        assert clock.monotonic() - before == pytest.approx(PER_SECOND_SLOT, abs=1e-6)  # the overall cap's spacing only
        assert result.processed == 3
        await client.send_events(conversion_events(1, clock))
        assert clock.monotonic() - before == pytest.approx(600.0)


async def test_a_429_on_events_pauses_that_account_only(
    scaled: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """A 429 with Retry-After on one account's events pauses that account's budget for what it asked, while the
    other account's calls and writes may still start at once."""
    await admin.settings(rate_limit_hints="retry_after")
    await admin.faults({"operation": "events/create", "calls": [1], "status": 429, "retry_after": 30})
    limiter = LocalRateLimiter.from_settings(scaled, clock)
    delays: list[tuple[float, float, float]] = []

    def during_the_retry_wait(event: ClientEvent) -> None:
        if isinstance(event, RetryScheduled):
            delays.append(
                (
                    limiter.delay(Category.ADS_CONVERSIONS, key=SEED_AD_ACCOUNT_ID),
                    limiter.delay(Category.ADS_CONVERSIONS, key=OTHER_ACCOUNT),
                    limiter.delay(Category.ADS_WRITE),
                )
            )

    async with connect(scaled, limiter=limiter, observer=during_the_retry_wait) as client:
        start = clock.monotonic()
        await client.send_events(conversion_events(1, clock))
        assert clock.monotonic() - start == pytest.approx(30.0)
        assert client.stats.rate_limited == 1
    [(paused, other, writes)] = delays
    assert paused == pytest.approx(30.0, abs=1e-3)
    assert other <= PER_SECOND_SLOT
    assert writes <= PER_SECOND_SLOT


async def test_the_shared_limiter_keeps_a_budget_per_ad_account(
    scaled: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock, redis_server: RedisServer
) -> None:
    """Through Redis (on the test's clock), each ad account's events are charged to a key of their own under the
    scope, at the same pace as the local limiter, with no 429."""
    scope = f"events-{secrets.token_hex(4)}"
    limiter = RedisRateLimiter(
        redis_server.url(), clock, scaled.category_limits(), scaled.per_second, scope=scope, time_from_clock=True
    )
    rounds = 25
    async with limiter:
        keys = limiter.keys(Category.ADS_CONVERSIONS, key=OTHER_ACCOUNT)
        assert keys == [f"{KEY_PREFIX}:{{{scope}}}:ads_conversions:{OTHER_ACCOUNT}", f"{KEY_PREFIX}:{{{scope}}}:second"]
        start = clock.monotonic()
        async with connect(scaled, limiter=limiter) as client:
            for n in range(rounds):
                for account in (SEED_AD_ACCOUNT_ID, OTHER_ACCOUNT):
                    await client.send_events([conversion_event(n, clock)], ad_account_id=account)
            stats = client.stats
        elapsed = clock.monotonic() - start
        async with redis.asyncio.Redis.from_url(redis_server.url()) as raw:
            stored = sorted(
                k if isinstance(k, str) else k.decode() for k in await raw.keys(f"{KEY_PREFIX}:{{{scope}}}:*")
            )
    assert stored == sorted(
        [f"{KEY_PREFIX}:{{{scope}}}:ads_conversions:{a}" for a in (SEED_AD_ACCOUNT_ID, OTHER_ACCOUNT)]
        + [f"{KEY_PREFIX}:{{{scope}}}:second"]
    )
    assert elapsed == pytest.approx((rounds - 1) * interval(LIMIT) + PER_SECOND_SLOT, abs=1e-3)
    assert stats.rate_limited == 0


@pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")  # openapi-core on the bearer scheme
async def test_the_clients_requests_and_answers_are_the_specs(
    static_settings: PinterestSettings, connect: Any, emulator: Emulator, clock: FakeClock, pinterest_openapi: Any
) -> None:
    """Each events/create request the client sends (a batch, a 422 batch, test mode, all optional fields the
    builder uses) validates against Pinterest's spec with openapi-core, and so does each answer it reads."""
    checked: list[tuple[str, int]] = []
    inner = emulator.transport()

    class Checking(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            pinterest_openapi.validate_request(SpecRequest(request))
            response = await inner.handle_async_request(request)
            await response.aread()
            pinterest_openapi.validate_response(SpecRequest(request), SpecResponse(response))
            checked.append((request.url.query.decode(), response.status_code))
            return response

    plain = conversion_event(9, clock, user_data={"em": ["person@example.com"]})
    async with connect(static_settings, transport=Checking()) as client:
        await client.send_events(conversion_events(3, clock))
        await client.send_events([*conversion_events(2, clock, start=3), plain])
        await client.send_events(conversion_events(MAX_EVENTS_PER_REQUEST, clock, start=10), test=True)
    assert checked == [("", 200), ("", 422), ("test=true", 200)]


def test_a_conversion_token_alone_names_a_redis_scope() -> None:
    """Credentials holding only a conversion token still get a default scope: a fingerprint, never the token."""
    token = "pina_conversion_secret_123"
    scope = default_scope(Credentials(conversion_token=Secret(token)))
    assert scope.startswith("conversion-")
    assert token not in scope
