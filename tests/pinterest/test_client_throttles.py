"""Pinterest as it behaves (issue 11): bare 429s pause a whole category, a list's writes are spaced, counters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import PinterestSettings
from pinaudience.emulator import Emulator
from pinaudience.pinterest.limits import Category, RateLimit
from pinaudience.pinterest.ratelimit import LIST_SPACING_FIRST_S, ListWriteGate, LocalRateLimiter
from tests.helpers import hashed_emails
from tests.pinterest.client_helpers import Admin

pytestmark = pytest.mark.anyio


async def test_pause_holds_back_every_caller_of_the_category(clock: FakeClock) -> None:
    """After `pause(category, s)` no caller of that category starts before s; another category is not held."""
    limiter = LocalRateLimiter(
        clock, {Category.ADS_WRITE: RateLimit(400, 60.0), Category.ADS_READ: RateLimit(1000, 60.0)}
    )
    start = clock.monotonic()
    await limiter.pause(Category.ADS_WRITE, 2.0)
    await limiter.acquire(Category.ADS_READ)
    assert clock.monotonic() - start < 0.01
    started: list[float] = []

    async def writer() -> None:
        await limiter.acquire(Category.ADS_WRITE)
        started.append(clock.monotonic() - start)

    await asyncio.gather(*(writer() for _ in range(3)))
    assert min(started) >= 2.0


async def test_a_bare_429_pauses_the_other_writers_for_the_backoff(
    static_settings: PinterestSettings, connect: Any, admin: Admin, emulator: Emulator
) -> None:
    """A 429 without hints (Pinterest's documented answer) holds back writes to other lists too, for the backoff."""
    await admin.settings(rate_limit_hints="none", list_writes_per_window=None)
    async with connect(static_settings) as client:
        lists = [await client.create_customer_list(f"l{n}", hashed_emails(1, start=n)) for n in range(3)]
        await admin.clear_requests()
        await admin.faults({"operation": "customer_lists/update", "calls": [1], "status": 429})

        async def writer(n: int) -> None:
            for i in range(3):
                await client.update_customer_list(lists[n].id, "ADD", hashed_emails(1, start=100 * n + i + 10))

        await asyncio.gather(*(writer(n) for n in range(3)))
        assert client.stats.rate_limited == 1
    calls = [r for r in await admin.requests() if r["operation"] == "customer_lists/update"]
    refused = [r for r in calls if r["status"] == 429]
    assert len(refused) == 1
    after = [r["at"] for r in calls if r["at"] > refused[0]["at"]]
    assert after
    assert min(after) - refused[0]["at"] >= 0.5  # the first backoff is between 0.5 and 1 s
    assert len(calls) == 10  # nine writes and one refusal: the storm did not multiply


async def test_a_list_throttle_costs_a_few_requests_then_none(
    static_settings: PinterestSettings, connect: Any, admin: Admin
) -> None:
    """Under a one-write-per-second per-list throttle, a list's writes learn their spacing: three 429s for 30 writes."""
    await admin.settings(list_writes_per_window=1, list_write_window_s=1.0, rate_limit_hints="none")
    async with connect(static_settings) as client:
        created = await client.create_customer_list("throttled", hashed_emails(1))
        for i in range(30):
            await client.update_customer_list(created.id, "ADD", hashed_emails(1, start=i + 1))
        assert client.stats.rate_limited == 3
        assert client.list_gate(created.id).spacing_s == pytest.approx(4 * LIST_SPACING_FIRST_S)
    assert len(await admin.records(created.id)) == 31


async def test_one_write_in_flight_per_list_by_default(clock: FakeClock) -> None:
    """The gate lets one write to a list run at a time; a second waits for the first to end."""
    gate = ListWriteGate(clock)
    order: list[str] = []

    async def write(name: str) -> None:
        async with gate.slot():
            order.append(f"{name} start")
            await clock.sleep(1.0)
            order.append(f"{name} end")

    await asyncio.gather(write("a"), write("b"))
    assert order == ["a start", "a end", "b start", "b end"]


async def test_fractional_counters_parse_as_ints(
    static_settings: PinterestSettings, connect: Any, admin: Admin
) -> None:
    """Counters sent as JSON numbers with a fraction (setting `fractional_counters`) come out as ints."""
    await admin.settings(fractional_counters=True)
    async with connect(static_settings) as client:
        created = await client.create_customer_list("fractions", hashed_emails(150))
        fetched = await client.get_customer_list(created.id)
    for value in (fetched.num_batches, fetched.num_uploaded_user_records, fetched.num_removed_user_records):
        assert type(value) is int
    assert fetched.num_uploaded_user_records == 150
