"""The Redis limiter's Lua script against the local limiter's properties, on a fake clock.

With `time_from_clock`, the scripts take the test's `FakeClock` time instead of Redis's `TIME`, so the local
limiter's property tests (tests/pinterest/test_client_ratelimit.py) run against the script that the fleet
shares: same windows, same late callers, same pace. Real Redis, no real seconds.

A grant's time is the time the script granted at (`on_grant`), not the clock after the answer: while one
caller waits for Redis's answer (real I/O), another caller's fake sleep may move the clock on by seconds.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinaudience.clock import FakeClock
from pinaudience.pinterest.limits import Category, RateLimit
from pinaudience.pinterest.ratelimit import DEFAULT_HEADROOM, LocalRateLimiter
from pinaudience.pinterest.redis_ratelimit import RedisRateLimiter
from tests.pinterest.test_client_ratelimit import KEY_PLAN, key_schedule, most_in_any_window
from tests.servers import RedisServer


def on_fake_time(
    server: RedisServer,
    clock: FakeClock,
    limit: RateLimit,
    per_second: int | None,
    times: list[float],
    scope: str | None = None,
) -> RedisRateLimiter:
    """A Redis limiter of ads_write at `limit` whose scripts run on `clock`'s time; grant times go to `times`."""
    return RedisRateLimiter(
        server.url(),
        clock,
        {Category.ADS_WRITE: limit},
        per_second,
        scope=scope or f"prop-{secrets.token_hex(6)}",
        time_from_clock=True,
        on_grant=lambda _category, at: times.append(at),
    )


async def run_callers(
    limiters: list[RedisRateLimiter],
    clock: FakeClock,
    calls: int,
    tasks: int,
    lateness: list[float] | None = None,
) -> None:
    """`calls` grants of ads_write to `tasks` callers spread over the limiters (workers of one scope); each call
    first sleeps its `lateness` (cycled), if any."""
    per_task = [calls // tasks + (1 if i < calls % tasks else 0) for i in range(tasks)]
    late = iter(lateness * calls if lateness else [])

    async def worker(limiter: RedisRateLimiter, n: int) -> None:
        for _ in range(n):
            delay = next(late, 0.0)
            if delay:
                await clock.sleep(delay)
            await limiter.acquire(Category.ADS_WRITE)

    for limiter in limiters:
        await limiter.open()
    try:
        await asyncio.gather(*(worker(limiters[i % len(limiters)], n) for i, n in enumerate(per_task)))
    finally:
        for limiter in limiters:
            await limiter.close()


def workers_of_one_scope(
    server: RedisServer, clock: FakeClock, count: int, limit: RateLimit, per_second: int | None, times: list[float]
) -> list[RedisRateLimiter]:
    scope = f"prop-{secrets.token_hex(6)}"
    return [on_fake_time(server, clock, limit, per_second, times, scope) for _ in range(count)]


@settings(max_examples=40, deadline=None)
@given(
    requests=st.integers(min_value=1, max_value=60),
    window_s=st.floats(min_value=0.5, max_value=120.0),
    calls=st.integers(min_value=1, max_value=120),
    tasks=st.integers(min_value=1, max_value=6),
    per_second=st.none() | st.integers(min_value=1, max_value=200),
)
def test_never_more_than_the_limit_in_any_window(
    redis_server: RedisServer, requests: int, window_s: float, calls: int, tasks: int, per_second: int | None
) -> None:
    """Whatever the limit and the number of callers across workers of one scope, no window holds more than N."""
    clock = FakeClock()
    limit = RateLimit(requests, window_s)
    times: list[float] = []
    limiters = workers_of_one_scope(redis_server, clock, min(tasks, 3), limit, per_second, times)
    asyncio.run(run_callers(limiters, clock, calls, tasks))
    assert len(times) == calls
    assert most_in_any_window(times, window_s) <= requests
    if per_second is not None:
        assert most_in_any_window(times, 1.0) <= per_second


@settings(max_examples=40, deadline=None)
@given(
    requests=st.integers(min_value=1, max_value=60),
    window_s=st.floats(min_value=0.5, max_value=120.0),
    calls=st.integers(min_value=2, max_value=120),
    tasks=st.integers(min_value=1, max_value=4),
    lateness=st.lists(st.floats(min_value=0.0, max_value=0.02), min_size=1, max_size=20),
)
def test_late_callers_never_overfill_a_window(
    redis_server: RedisServer, requests: int, window_s: float, calls: int, tasks: int, lateness: list[float]
) -> None:
    """Callers late by varied shares of a window still never put more than N calls in any window."""
    clock = FakeClock()
    times: list[float] = []
    limiters = workers_of_one_scope(redis_server, clock, min(tasks, 2), RateLimit(requests, window_s), None, times)
    asyncio.run(run_callers(limiters, clock, calls, tasks, [share * window_s for share in lateness]))
    assert len(times) == calls
    assert most_in_any_window(times, window_s) <= requests


@pytest.mark.parametrize("late_share", [0.0, 0.2, 0.45])
def test_the_script_keeps_the_local_limiters_pace(redis_server: RedisServer, late_share: float) -> None:
    """Callers on time, or late by up to nearly the slack, get the same grant times from the script as from the
    local limiter (to the microsecond the script counts in): the same maths, kept in Redis."""
    limit = RateLimit(400, 60.0)
    late = [late_share * limit.window_s * DEFAULT_HEADROOM]

    async def local_times() -> list[float]:
        clock = FakeClock()
        limiter = LocalRateLimiter(clock, {Category.ADS_WRITE: limit}, 100)
        times: list[float] = []
        for _ in range(300):
            await clock.sleep(late[0])
            await limiter.acquire(Category.ADS_WRITE)
            times.append(clock.monotonic())
        return times

    clock = FakeClock()
    shared: list[float] = []
    asyncio.run(run_callers([on_fake_time(redis_server, clock, limit, 100, shared)], clock, 300, 1, late))
    local = asyncio.run(local_times())
    assert shared == pytest.approx(local, abs=300e-6)


def granted_to(times: list[float]) -> Callable[[Category, float], None]:
    """An `on_grant` that notes each grant's time in `times`."""
    return lambda _category, at: times.append(at)


@settings(max_examples=25, deadline=None)
@given(
    requests=st.integers(min_value=1, max_value=40),
    window_s=st.floats(min_value=0.5, max_value=120.0),
    calls=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=3),
    per_second=st.none() | st.integers(min_value=1, max_value=200),
)
def test_each_key_never_has_more_than_the_limit_in_any_window(
    redis_server: RedisServer, requests: int, window_s: float, calls: list[int], per_second: int | None
) -> None:
    """Workers of one scope each sending one key's calls (ad accounts' conversion events): no key's window holds
    more than N, and all keys together stay under the scope's per-second cap."""
    clock = FakeClock()
    scope = f"prop-{secrets.token_hex(6)}"
    times: list[list[float]] = [[] for _ in calls]
    limiters = [
        RedisRateLimiter(
            redis_server.url(),
            clock,
            {Category.ADS_CONVERSIONS: RateLimit(requests, window_s)},
            per_second,
            scope=scope,
            time_from_clock=True,
            on_grant=granted_to(mine),
        )
        for mine in times
    ]

    async def worker(limiter: RedisRateLimiter, key: str, n: int) -> None:
        for _ in range(n):
            await limiter.acquire(Category.ADS_CONVERSIONS, key=key)

    async def run() -> None:
        try:
            await asyncio.gather(*(worker(limiters[i], f"{i}", n) for i, n in enumerate(calls)))
        finally:
            for limiter in limiters:
                await limiter.close()

    asyncio.run(run())
    for n, granted in zip(calls, times, strict=True):
        assert len(granted) == n
        assert most_in_any_window(granted, window_s) <= requests
    if per_second is not None:
        assert most_in_any_window([t for ts in times for t in ts], 1.0) <= per_second


def test_the_script_keeps_the_local_limiters_keys(redis_server: RedisServer) -> None:
    """A schedule over several keys (and none) gets the same grant times, and the same pause of one key, from the
    script as from the local limiter; each key is a Redis key of its own under the scope."""
    limits = {Category.ADS_CONVERSIONS: RateLimit(5, 60.0)}

    async def schedule(limiter: LocalRateLimiter | RedisRateLimiter, clock: FakeClock) -> list[float]:
        times = await key_schedule(limiter, clock, KEY_PLAN)
        await limiter.pause(Category.ADS_CONVERSIONS, 1_000.0, key="333")
        times += await key_schedule(limiter, clock, ["222", "333"])
        return times

    local_clock = FakeClock()
    local = asyncio.run(schedule(LocalRateLimiter(local_clock, limits, 100), local_clock))
    clock = FakeClock()
    scope = f"keys-{secrets.token_hex(6)}"
    limiter = RedisRateLimiter(redis_server.url(), clock, limits, 100, scope=scope, time_from_clock=True)

    async def shared_run() -> tuple[list[float], list[str]]:
        import redis.asyncio

        async with limiter, redis.asyncio.Redis.from_url(redis_server.url()) as raw:
            times = await schedule(limiter, clock)
            stored = sorted(k if isinstance(k, str) else k.decode() for k in await raw.keys(f"*{{{scope}}}*"))
        return times, stored

    shared, stored = asyncio.run(shared_run())
    assert shared == pytest.approx(local, abs=300e-6)
    assert local[-1] == pytest.approx(local[-3] + 1_000.0)  # key 333 waited out its pause, set after the plan
    prefix = f"pinaudience:rl:{{{scope}}}"
    assert stored == sorted(
        [f"{prefix}:ads_conversions", f"{prefix}:second"]
        + [f"{prefix}:ads_conversions:{k}" for k in ("111", "222", "333")]
    )
