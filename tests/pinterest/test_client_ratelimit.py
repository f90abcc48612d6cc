"""The rate limiter: never more than N calls in any window, at the limit's sustained pace, on a fake clock."""

from __future__ import annotations

import asyncio
import bisect
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinaudience.clock import FakeClock
from pinaudience.config import PinterestSettings
from pinaudience.pinterest.limits import Category, RateLimit
from pinaudience.pinterest.ratelimit import DEFAULT_HEADROOM, LocalRateLimiter, TokenBucket


def most_in_any_window(times: list[float], window_s: float) -> int:
    """The largest number of `times` inside one closed window of `window_s` seconds."""
    ordered = sorted(times)
    return max((bisect.bisect_right(ordered, t + window_s) - i for i, t in enumerate(ordered)), default=0)


async def grant_times(
    limiter: LocalRateLimiter,
    clock: FakeClock,
    category: Category,
    calls: int,
    tasks: int,
    lateness: list[float] | None = None,
) -> list[float]:
    """Grant `calls` calls to `tasks` concurrent callers; each call first sleeps its `lateness` (cycled), if any."""
    times: list[float] = []
    per_task = [calls // tasks + (1 if i < calls % tasks else 0) for i in range(tasks)]
    late = iter(lateness * calls if lateness else [])

    async def worker(n: int) -> None:
        for _ in range(n):
            delay = next(late, 0.0)
            if delay:
                await clock.sleep(delay)
            await limiter.acquire(category)
            times.append(clock.monotonic())

    await asyncio.gather(*(worker(n) for n in per_task))
    return times


@settings(max_examples=60, deadline=None)
@given(
    requests=st.integers(min_value=1, max_value=60),
    window_s=st.floats(min_value=0.5, max_value=120.0),
    calls=st.integers(min_value=1, max_value=150),
    tasks=st.integers(min_value=1, max_value=6),
    per_second=st.none() | st.integers(min_value=1, max_value=200),
)
def test_never_more_than_the_limit_in_any_window(
    requests: int, window_s: float, calls: int, tasks: int, per_second: int | None
) -> None:
    """Whatever the limit and the number of concurrent callers, no window holds more than N calls."""
    clock = FakeClock()
    limit = RateLimit(requests, window_s)
    limiter = LocalRateLimiter(clock, {Category.ADS_WRITE: limit}, per_second)
    times = asyncio.run(grant_times(limiter, clock, Category.ADS_WRITE, calls, tasks))
    assert len(times) == calls
    assert most_in_any_window(times, window_s) <= requests
    if per_second is not None:
        assert most_in_any_window(times, 1.0) <= per_second


@settings(max_examples=60, deadline=None)
@given(
    requests=st.integers(min_value=1, max_value=60),
    window_s=st.floats(min_value=0.5, max_value=120.0),
    calls=st.integers(min_value=2, max_value=150),
    tasks=st.integers(min_value=1, max_value=4),
    lateness=st.lists(st.floats(min_value=0.0, max_value=0.02), min_size=1, max_size=20),
)
def test_late_callers_never_overfill_a_window(
    requests: int, window_s: float, calls: int, tasks: int, lateness: list[float]
) -> None:
    """Callers that come late by varied shares of a window (a busy event loop) still never put more
    than N calls in any window, though a slightly late call is charged at its slot."""
    clock = FakeClock()
    limiter = LocalRateLimiter(clock, {Category.ADS_WRITE: RateLimit(requests, window_s)})
    late_s = [share * window_s for share in lateness]
    times = asyncio.run(grant_times(limiter, clock, Category.ADS_WRITE, calls, tasks, late_s))
    assert len(times) == calls
    assert most_in_any_window(times, window_s) <= requests


@pytest.mark.anyio
async def test_a_slightly_late_call_keeps_the_pace(clock: FakeClock) -> None:
    """A call that comes for its slot a little late is charged at that slot: the next slot does not move."""
    limit = RateLimit(400, 60.0)
    limiter = LocalRateLimiter(clock, {Category.ADS_WRITE: limit})
    interval = limiter.interval_s(Category.ADS_WRITE)
    late = interval / 2
    assert late < limit.window_s * DEFAULT_HEADROOM / 2  # within the slack
    await limiter.acquire(Category.ADS_WRITE)
    start = clock.monotonic()
    clock.advance(interval + late)
    await limiter.acquire(Category.ADS_WRITE)
    assert clock.monotonic() == pytest.approx(start + interval + late)
    await limiter.acquire(Category.ADS_WRITE)
    assert clock.monotonic() == pytest.approx(start + 2 * interval)


@pytest.mark.anyio
async def test_idle_time_earns_no_burst(clock: FakeClock) -> None:
    """After a pause in calling longer than the slack, the next two calls are still a full interval apart."""
    limit = RateLimit(400, 60.0)
    limiter = LocalRateLimiter(clock, {Category.ADS_WRITE: limit})
    interval = limiter.interval_s(Category.ADS_WRITE)
    await limiter.acquire(Category.ADS_WRITE)
    clock.advance(interval + limit.window_s * DEFAULT_HEADROOM)
    await limiter.acquire(Category.ADS_WRITE)
    first = clock.monotonic()
    await limiter.acquire(Category.ADS_WRITE)
    assert clock.monotonic() - first == pytest.approx(interval)


@pytest.mark.anyio
async def test_sustained_pace_is_the_limit_less_headroom(clock: FakeClock) -> None:
    """2,000 calls at 400/60 take (n - 1) windows / (N - 1), plus the 1% headroom: about 300 s."""
    settings_ = PinterestSettings(ad_account_id="1", ads_write_limit=RateLimit(400, 60.0))
    limiter = LocalRateLimiter.from_settings(settings_, clock)
    times = await grant_times(limiter, clock, Category.ADS_WRITE, 2_000, tasks=2)
    elapsed = max(times) - min(times)
    expected = 1_999 * 60.0 / 399 * (1 + DEFAULT_HEADROOM)
    assert elapsed == pytest.approx(expected, rel=1e-6)
    assert abs(elapsed - 2_000 / 400 * 60.0) / 300.0 < 0.05
    assert limiter.granted[Category.ADS_WRITE] == 2_000


@pytest.mark.anyio
async def test_overall_cap_spans_categories(clock: FakeClock) -> None:
    """Reads and writes together stay under the per-second cap, even when each category allows more."""
    limiter = LocalRateLimiter(
        clock, {Category.ADS_READ: RateLimit(1000, 1.0), Category.ADS_WRITE: RateLimit(1000, 1.0)}, per_second=10
    )
    reads, writes = await asyncio.gather(
        grant_times(limiter, clock, Category.ADS_READ, 40, tasks=2),
        grant_times(limiter, clock, Category.ADS_WRITE, 40, tasks=2),
    )
    assert most_in_any_window(reads + writes, 1.0) <= 10


@pytest.mark.anyio
async def test_reads_do_not_queue_behind_writes(clock: FakeClock) -> None:
    """A backlog of writes waiting for their slots does not hold reads of another category back."""
    # Reads unlimited here: FakeClock moves time for every sleeper at once, so reads that sleep at all
    # would wake with the writer's wait; what is checked is the order in which the lock lets them go.
    limiter = LocalRateLimiter(clock, {Category.ADS_WRITE: RateLimit(2, 60.0)})
    order: list[str] = []

    async def calls(category: Category, n: int) -> None:
        for _ in range(n):
            await limiter.acquire(category)
            order.append(category.value)

    writes = asyncio.create_task(calls(Category.ADS_WRITE, 5))
    await asyncio.sleep(0)
    await calls(Category.ADS_READ, 3)
    await writes
    # One lock for all categories would grant the three reads only after the five writes.
    assert order == ["ads_write", "ads_read", "ads_read", "ads_read"] + ["ads_write"] * 4


@pytest.mark.anyio
async def test_pause_holds_a_category_back(clock: FakeClock) -> None:
    """After a pause (a 429 with Retry-After), no call of that category starts before it ends."""
    limiter = LocalRateLimiter(clock, {Category.ADS_WRITE: RateLimit(400, 60.0)}, per_second=100)
    await limiter.acquire(Category.ADS_WRITE)
    start = clock.monotonic()
    await limiter.pause(Category.ADS_WRITE, 30.0)
    await limiter.acquire(Category.ADS_WRITE)
    assert clock.monotonic() - start >= 30.0
    assert limiter.waited_s[Category.ADS_WRITE] >= 30.0


def test_bucket_rejects_nonsense() -> None:
    """A bucket needs a positive interval and a burst of at least one."""
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0.0)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1.0, burst=0)
    with pytest.raises(ValueError, match="headroom"):
        TokenBucket.for_limit(RateLimit(10, 1.0), headroom=-0.1)
    with pytest.raises(ValueError, match="slack"):
        TokenBucket(1.0, slack_s=-1.0)


@settings(max_examples=40, deadline=None)
@given(
    requests=st.integers(min_value=1, max_value=40),
    window_s=st.floats(min_value=0.5, max_value=120.0),
    calls=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=3),
    per_second=st.none() | st.integers(min_value=1, max_value=200),
)
def test_each_key_never_has_more_than_the_limit_in_any_window(
    requests: int, window_s: float, calls: list[int], per_second: int | None
) -> None:
    """Callers of several keys at once (ad accounts' conversion events): no key's window holds more than N, and all
    keys together stay under the shared per-second cap."""
    clock = FakeClock()
    limiter = LocalRateLimiter(clock, {Category.ADS_CONVERSIONS: RateLimit(requests, window_s)}, per_second)
    times: dict[str, list[float]] = {f"{n}": [] for n in range(len(calls))}

    async def worker(key: str, n: int) -> None:
        for _ in range(n):
            await limiter.acquire(Category.ADS_CONVERSIONS, key=key)
            times[key].append(clock.monotonic())

    async def run() -> None:
        await asyncio.gather(*(worker(f"{i}", n) for i, n in enumerate(calls)))

    asyncio.run(run())
    for i, n in enumerate(calls):
        assert len(times[f"{i}"]) == n
        assert most_in_any_window(times[f"{i}"], window_s) <= requests
    if per_second is not None:
        assert most_in_any_window([t for ts in times.values() for t in ts], 1.0) <= per_second


async def key_schedule(limiter: LocalRateLimiter | Any, clock: FakeClock, plan: list[str | None]) -> list[float]:
    """Acquire ads_conversions for each key of `plan` in turn (None: no key); the clock after each grant."""
    times = []
    for key in plan:
        await limiter.acquire(Category.ADS_CONVERSIONS, key=key)
        times.append(clock.monotonic())
    return times


KEY_PLAN: list[str | None] = ["111", "222", "111", "222", "111", None, None, "333", "222", "111"]
"""Two ad accounts alternating, the shared bucket, and a third account: each key at its own pace."""


@pytest.mark.anyio
async def test_keys_divide_a_category_into_budgets(clock: FakeClock) -> None:
    """Each key (and no key) has its own bucket at the category's limit; a pause holds back only its key."""
    limit = RateLimit(5, 60.0)
    limiter = LocalRateLimiter(clock, {Category.ADS_CONVERSIONS: limit, Category.ADS_WRITE: limit})
    step = limiter.interval_s(Category.ADS_CONVERSIONS, key="111")
    assert step == pytest.approx(60.0 / 4 * (1 + DEFAULT_HEADROOM))
    times = await key_schedule(limiter, clock, KEY_PLAN)
    assert times == pytest.approx([0, 0, step, step, 2 * step, 2 * step, 3 * step, 3 * step, 3 * step, 3 * step])
    await limiter.pause(Category.ADS_CONVERSIONS, 1_000.0, key="333")
    assert limiter.delay(Category.ADS_CONVERSIONS, key="333") == pytest.approx(1_000.0)
    assert limiter.delay(Category.ADS_CONVERSIONS, key="444") == 0.0
    assert limiter.delay(Category.ADS_WRITE) == 0.0
    assert limiter.granted[Category.ADS_CONVERSIONS] == len(KEY_PLAN)


@pytest.mark.anyio
async def test_a_key_must_fit_a_redis_key(clock: FakeClock) -> None:
    """A key with braces, spaces or nothing in it is refused (it becomes part of a Redis key)."""
    limiter = LocalRateLimiter(clock, {Category.ADS_CONVERSIONS: RateLimit(5, 60.0)})
    for key in ("", "a b", "{x}", "x" * 201):
        with pytest.raises(ValueError, match="rate-limit key"):
            await limiter.acquire(Category.ADS_CONVERSIONS, key=key)
