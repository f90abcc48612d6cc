"""Client-side rate limiting: stay under Pinterest's limits instead of learning them from 429s.

Pinterest limits each user and app per category (ads_read, ads_write) and overall per second; the
numbers live in `limits.py` and reach us through `PinterestSettings`. Pinterest does not say how it
counts, so the limiter assumes the strictest reading, a sliding window: never more than N calls start
in ANY window of the configured length. Each limit becomes a token bucket (GCRA: one "theoretical
arrival time" per bucket) whose burst plus refill over one window stays below N:

    burst 1, one token every  window / (N - 1) * (1 + headroom)

The headroom (1% by default) absorbs what the limiter cannot see, and pays for a little slack:

- a caller that comes for its slot late (its timer fired late, the event loop was busy, the batch
  before was slow to journal) by at most `slack = window * headroom / 2` is charged at its slot, not
  at the moment it came, so lateness does not add up over a long upload (charged at the moment, each
  late grant pushed every later slot back: 5 to 8% of the rate was lost at 66 writes a second);
- the other half covers calls that reach Pinterest a little later than the one granted after them.

A call is granted at most `slack` after the slot it is charged at, and slots are one interval apart,
so any closed window holds at most 1 + (N - 1) (1 + headroom / 2) / (1 + headroom) calls, fewer than
N. Pacing costs nothing on long runs (the sustained rate is the limit's own, less the headroom) and
spreads writes to one list out, which Pinterest also asks for.

A 429 pauses its whole category (`pause`) for what the server asked, or, without a hint (Pinterest
documents none), for the retry policy's backoff: every caller of the category waits, not only the one
that was refused, so one 429 costs about one extra request instead of one per caller in flight.

A `key` divides a category's limit into one budget per key: Pinterest counts `ads_conversions` (5,000 calls a
minute) per ad account, not per user, so the client acquires and pauses that category with the ad account's id
as the key, and each ad account gets a bucket of its own, made on first use from the category's limit. A 429
on one ad account's events pauses that account only. The overall per-second bucket is shared by every key
(Pinterest counts it per user and app), and a call without a key draws on the category's one shared bucket.

`RateLimiter` is the seam: the in-process `LocalRateLimiter` here, shared by every audience of one run,
and `redis_ratelimit.RedisRateLimiter`, shared by every worker that uses one Pinterest user and app
(`rate_limit_url`). `make_rate_limiter` picks one from the settings.

The Redis limiter runs these buckets' maths unchanged (its numbers come from `TokenBucket.for_limit`, in whole
microseconds, rounded the strict way), with each TAT a Redis key, in one Lua script that checks and charges the
category and per-second buckets at once on Redis's clock (`TIME`), the one clock the workers share. Its tests
run this module's property tests against the script. What differs: the round trip to Redis adds to a caller's
lateness (it counts against the slack, so with 1-second windows a busy machine loses a few percent of the rate;
with Pinterest's 60-second windows the slack is 300 ms), and callers in different processes are not served in
FIFO order (those of one process still are).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from pinaudience.clock import Clock
from pinaudience.pinterest.limits import Category, RateLimit
from pinaudience.pinterest.settings import RATE_LIMIT_SCOPE_PATTERN

if TYPE_CHECKING:
    from pinaudience.pinterest.redis_ratelimit import RedisRateLimiter
    from pinaudience.pinterest.settings import PinterestSettings

DEFAULT_HEADROOM = 0.01
"""Share of each window kept free, for calls that arrive later than they were granted."""

_EPSILON_S = 1e-6
"""Waits shorter than this are rounding noise (a Unix-time float resolves about 0.2 microseconds):
sleeping on them could loop without time moving."""


KEY_PATTERN = RATE_LIMIT_SCOPE_PATTERN
"""What a limiter `key` may hold (it becomes part of a Redis key): an ad account id always fits."""


class RateLimiter(Protocol):
    """What the client needs from a rate limiter."""

    async def acquire(self, category: Category, *, key: str | None = None) -> None:
        """Return when one call of `category` may start now; the call counts against the limits.

        With a `key` (an ad account id for `ads_conversions`), the call counts against that key's own budget of the
        category's limit, and against the overall per-second limit shared by every key.
        """
        ...

    async def pause(self, category: Category, seconds: float, *, key: str | None = None) -> None:
        """Start no call of `category` (of `key`'s budget, if given) for `seconds`: Pinterest answered 429, and
        every such call would meet the same wall. `seconds` is the server's hint, or the backoff the client chose
        without one."""
        ...


def checked_key(key: str | None) -> str | None:
    """`key`, refused with ValueError when it would not make a safe Redis key part."""
    if key is not None and not (isinstance(key, str) and KEY_PATTERN.match(key)):
        raise ValueError(f"a rate-limit key is 1 to 200 letters, digits or _ . : @ = -, got {key!r}")
    return key


class TokenBucket:
    """One limit as a GCRA bucket: `burst` calls at once, then one every `interval_s`.

    A call taken at most `slack_s` after its slot is charged at that slot (see the module's docstring).
    """

    def __init__(self, interval_s: float, burst: int = 1, *, slack_s: float = 0.0) -> None:
        if interval_s <= 0 or burst < 1:
            raise ValueError("a bucket needs a positive interval and a burst of at least 1")
        if slack_s < 0:
            raise ValueError("a bucket's slack cannot be negative")
        self.interval_s = interval_s
        self.burst = burst
        self.slack_s = slack_s
        self._tat: float | None = None  # theoretical arrival time of the next call

    @classmethod
    def for_limit(cls, limit: RateLimit, *, headroom: float = DEFAULT_HEADROOM) -> TokenBucket:
        """A bucket that never lets more than `limit.requests` calls start in any `limit.window_s`."""
        if headroom < 0:
            raise ValueError("headroom cannot be negative")
        steps = max(limit.requests - 1, 1)
        return cls(limit.window_s / steps * (1.0 + headroom), burst=1, slack_s=limit.window_s * headroom / 2)

    def delay(self, now: float) -> float:
        """Seconds until a call may start (0 when it may start now)."""
        if self._tat is None:
            return 0.0
        earliest = self._tat - (self.burst - 1) * self.interval_s
        wait = earliest - now
        return wait if wait > _EPSILON_S else 0.0

    def take(self, now: float) -> None:
        """Count one call started at `now`: at its slot if it came at most `slack_s` late, else at `now`."""
        # Early (within a burst), on time or a little late: its slot. The first call, or one after a pause
        # in calling: now, so idle time earns no burst.
        fresh = self._tat is None or now > self._tat + self.slack_s
        self._tat = (now if fresh or self._tat is None else self._tat) + self.interval_s

    def block_until(self, moment: float) -> None:
        """Let no call start before `moment`."""
        earliest = moment + (self.burst - 1) * self.interval_s
        self._tat = earliest if self._tat is None else max(self._tat, earliest)


class LocalRateLimiter:
    """Per-category buckets plus one overall per-second bucket, for the tasks of one process.

    Callers of one category (and key) queue in order (an asyncio lock each), so a long write queue never holds
    up reads, nor one ad account's events another's; the overall bucket is checked and charged in the same step
    as the category's. A key's bucket is made on first use from its category's limit (see the module's docstring).
    """

    def __init__(
        self,
        clock: Clock,
        limits: Mapping[Category, RateLimit],
        per_second: int | None = None,
        *,
        headroom: float = DEFAULT_HEADROOM,
    ) -> None:
        self._clock = clock
        self._limits = dict(limits)
        self._headroom = headroom
        self._buckets: dict[tuple[Category, str | None], TokenBucket] = {
            (category, None): TokenBucket.for_limit(limit, headroom=headroom) for category, limit in limits.items()
        }
        self._overall = (
            TokenBucket.for_limit(RateLimit(per_second, 1.0), headroom=headroom) if per_second is not None else None
        )
        self._locks: dict[tuple[Category, str | None], asyncio.Lock] = {}
        self.granted: dict[Category, int] = dict.fromkeys(Category, 0)
        """Calls let through, per category (every key's together)."""
        self.waited_s: dict[Category, float] = dict.fromkeys(Category, 0.0)
        """Time callers spent waiting, per category (summed over callers and keys)."""

    @classmethod
    def from_settings(
        cls, settings: PinterestSettings, clock: Clock, *, headroom: float = DEFAULT_HEADROOM
    ) -> LocalRateLimiter:
        """The limiter for `settings.ads_write_limit`, `ads_read_limit`, `ads_conversions_limit` (per ad account)
        and `per_second`."""
        return cls(clock, settings.category_limits(), settings.per_second, headroom=headroom)

    def interval_s(self, category: Category, *, key: str | None = None) -> float:
        """Seconds between two calls of `category` (of one key) at full speed."""
        return max((b.interval_s for b in self._charged(category, key)), default=0.0)

    def delay(self, category: Category, *, key: str | None = None) -> float:
        """Seconds a call of `category` (of `key`'s budget) would wait if it came now (0: it may start now)."""
        now = self._clock.monotonic()
        return max((b.delay(now) for b in self._charged(category, key)), default=0.0)

    def _bucket(self, category: Category, key: str | None) -> TokenBucket | None:
        bucket = self._buckets.get((category, key))
        if bucket is None and key is not None and category in self._limits:
            bucket = TokenBucket.for_limit(self._limits[category], headroom=self._headroom)
            self._buckets[(category, key)] = bucket
        return bucket

    def _charged(self, category: Category, key: str | None) -> list[TokenBucket]:
        return [b for b in (self._bucket(category, checked_key(key)), self._overall) if b is not None]

    async def open(self) -> None:
        """Nothing to open (the Redis limiter's twin: both are async context managers)."""

    async def close(self) -> None:
        """Nothing to close."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def acquire(self, category: Category, *, key: str | None = None) -> None:
        buckets = self._charged(category, key)
        lock = self._locks.setdefault((category, key), asyncio.Lock())
        async with lock:
            started = self._clock.monotonic()
            while True:
                now = self._clock.monotonic()
                wait = max((b.delay(now) for b in buckets), default=0.0)
                if wait > 0.0:
                    await self._clock.sleep(wait)
                    if self._clock.monotonic() > now:
                        continue
                    # The clock did not move: the wait is below its resolution, and the headroom covers it.
                for bucket in buckets:
                    bucket.take(now)
                self.granted[category] += 1
                self.waited_s[category] += now - started
                return

    async def pause(self, category: Category, seconds: float, *, key: str | None = None) -> None:
        bucket = self._bucket(category, checked_key(key)) or self._overall
        if bucket is not None and seconds > 0:
            bucket.block_until(self._clock.monotonic() + seconds)


def make_rate_limiter(
    settings: PinterestSettings, clock: Clock, *, headroom: float = DEFAULT_HEADROOM
) -> LocalRateLimiter | RedisRateLimiter:
    """The limiter `settings` call for: shared through Redis when `rate_limit_url` is set, else in-process.

    Use it as an async context manager (`async with make_rate_limiter(settings, clock) as limiter:`): the Redis
    one connects and pings on entry, raising `RateLimiterUnavailable` before anything is sent, and closes on
    exit. A bad scope or URL is a `ConfigError`.
    """
    if settings.rate_limit_url is None:
        return LocalRateLimiter.from_settings(settings, clock, headroom=headroom)
    from pinaudience.pinterest.redis_ratelimit import RedisRateLimiter

    return RedisRateLimiter.from_settings(settings, clock, headroom=headroom)


LIST_SPACING_FIRST_S = 0.3
"""The spacing between two writes to one list after the first 429 on a write to it."""

LIST_SPACING_MAX_S = 2.4
"""The widest spacing a list's writes learn (0.3 s doubled three times)."""


class ListWriteGate:
    """Writes to one customer list: at most `in_flight` at once, each started `spacing_s` after the last.

    Pinterest may answer 429 "if multiple write operations are applied to an object within a short time
    window", without saying how short. So the gate starts with no spacing (one write in flight, paced by
    the category's limiter) and learns: every 429 on a write to the list doubles its spacing, from
    `LIST_SPACING_FIRST_S` up to `LIST_SPACING_MAX_S`, for the rest of the run. A throttle of one write a
    second costs three refused writes per list and run (0.3, 0.6, then 1.2 s apart), then none.

    Process-local on purpose, and not part of `RateLimiter`: one list is written by one run at a time
    (the state store's lock on the list), so no other worker shares its writes.
    """

    def __init__(self, clock: Clock, in_flight: int = 1, *, spacing_s: float = 0.0) -> None:
        if in_flight < 1:
            raise ValueError("a list needs at least one write in flight")
        self._clock = clock
        self._slots = asyncio.Semaphore(in_flight)
        self._lock = asyncio.Lock()
        self._last_start: float | None = None
        self.spacing_s = spacing_s
        """Seconds between the starts of two writes to the list (learnt from 429s)."""

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the list's writes in flight for the whole call, its retries included."""
        async with self._slots:
            yield

    @contextlib.asynccontextmanager
    async def starting(self) -> AsyncIterator[None]:
        """Wait until `spacing_s` after the last write started; the start is counted when the block ends
        (after the category's limiter let the write go), so a limiter's wait does not eat the spacing."""
        async with self._lock:
            while self._last_start is not None:
                wait = self._last_start + self.spacing_s - self._clock.monotonic()
                if wait <= _EPSILON_S:
                    break
                before = self._clock.monotonic()
                await self._clock.sleep(wait)
                if self._clock.monotonic() <= before:
                    break
            yield
            self._last_start = self._clock.monotonic()

    def throttled(self) -> None:
        """A write to the list drew a 429: space the next ones wider."""
        self.spacing_s = min(max(self.spacing_s * 2, LIST_SPACING_FIRST_S), LIST_SPACING_MAX_S)
