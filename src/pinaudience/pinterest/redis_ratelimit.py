"""A rate limiter shared through Redis: every worker that uses one Pinterest user and app draws from one budget.

The maths are `ratelimit.TokenBucket.for_limit`'s, unchanged: each limit is a GCRA bucket whose "theoretical
arrival time" (TAT) is one Redis key, one call every `window / (N - 1) * (1 + headroom)`, and a caller that
comes for its slot at most `window * headroom / 2` late is charged at its slot. So the guarantee is the local
limiter's: never more than N calls start in any window, at the limit's sustained rate less the headroom;
only the bookkeeping moves from one process's memory to Redis.

One Lua script (`ACQUIRE_SCRIPT`) reads Redis's own clock (`TIME`: workers' clocks differ, Redis's is the
one they share), checks the category's bucket and the overall per-second bucket, and either charges both
and answers a wait of 0, or charges neither and answers how long to wait, in microseconds. Redis runs a script
atomically, so two workers can never both take one slot. The caller sleeps that long (through the injected
clock) and asks again; within one process, callers of one category queue in order behind an asyncio lock,
as with the local limiter. `pause` moves the category's TAT forward in Redis, so a 429 that one worker
receives holds back every worker of the scope.

Keys: `pinaudience:rl:{SCOPE}:ads_write`, `...:ads_read`, `...:second`, and for a call acquired with a `key` (the
ad account of `ads_conversions`, which Pinterest counts per ad account) `...:ads_conversions:KEY`, one bucket per
key at the category's limit, as in the local limiter. A keyed bucket lives under the scope too, because one script
must touch it and the per-second key in one Cluster slot: workers of different scopes (different Pinterest users)
that send events to one ad account count apart, though Pinterest counts them together. The braces are Redis
Cluster's hash tag, so one scope's keys share a slot and one script may touch them all. Each key expires once its
TAT (plus the slack) has passed, after which it would make no difference: an idle scope leaves nothing behind.

Failure: no grant, no call. A Redis that cannot be reached, refuses the password or times out raises
`RateLimiterUnavailable` from `open` (a PING before the run resolves or writes anything) and from every
`acquire`; the client raises it as it is, never retrying it as a transport failure. There is no fallback
to a local share: a worker that lost Redis stops.

The scope (who shares a budget) is `PinterestSettings.rate_limit_scope`, or by default one derived from the
credentials without a call to Pinterest (`default_scope`): workers started with the same app id and seed
refresh token (or the same static access token) share one budget. Only fingerprints enter a key.

redis-py is imported when a limiter opens, not with this module, so that start-up does not pay for it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from pinaudience.clock import Clock
from pinaudience.errors import ConfigError, RateLimiterUnavailable
from pinaudience.pinterest.limits import Category, RateLimit
from pinaudience.pinterest.ratelimit import DEFAULT_HEADROOM, TokenBucket, checked_key
from pinaudience.pinterest.settings import RATE_LIMIT_SCOPE_PATTERN
from pinaudience.pinterest.tokens import fingerprint
from pinaudience.support.redact import redact, redact_url, url_secrets
from pinaudience.support.secret import Secret

if TYPE_CHECKING:
    from pinaudience.pinterest.settings import Credentials, PinterestSettings

KEY_PREFIX = "pinaudience:rl"
"""Every key the limiter writes starts with this."""

TIMEOUT_S = 5.0
"""How long one exchange with Redis (connect, or one command) may take before the limiter gives up."""

_KEY_MARGIN_MS = 1000
"""Kept beyond the moment a key stops mattering, so that no key expires just before a script reads it."""

ACQUIRE_SCRIPT = """
-- KEYS: the buckets a call must fit in (its category, then the overall per-second one).
-- ARGV: for each key, its interval and its slack in microseconds; then the keys' margin in milliseconds; then
-- -1 (the time is Redis's `TIME`) or, in tests on a fake clock, the time in microseconds.
-- Answers {wait, now}: wait 0 when the call was charged to every bucket at the time `now` (microseconds),
-- else the microseconds until it may start, nothing charged.
local now = tonumber(ARGV[#ARGV])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local margin = tonumber(ARGV[#ARGV - 1])
local tats = {}
local wait = 0
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]))
  tats[i] = tat
  if tat ~= nil and tat - now > wait then
    wait = tat - now
  end
end
if wait > 0 then
  return {wait, now}
end
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local slack = tonumber(ARGV[2 * i])
  local base = now
  if tats[i] ~= nil and now <= tats[i] + slack then
    base = tats[i]
  end
  local tat = base + interval
  local ttl = math.ceil((tat + slack - now) / 1000) + margin
  redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', ttl)
end
return {0, now}
"""

PAUSE_SCRIPT = """
-- KEYS[1]: one bucket. ARGV: the pause and the bucket's slack in microseconds, the margin in milliseconds,
-- and the time as for ACQUIRE_SCRIPT (-1: Redis's). Lets no call of the bucket start before now + pause (a TAT
-- already later stays).
local now = tonumber(ARGV[4])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local until_us = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat ~= nil and tat > until_us then
  until_us = tat
end
local ttl = math.ceil((until_us + tonumber(ARGV[2]) - now) / 1000) + tonumber(ARGV[3])
redis.call('SET', KEYS[1], string.format('%d', until_us), 'PX', ttl)
return until_us - now
"""


def default_scope(credentials: Credentials) -> str:
    """The budget's name for these credentials, without a call to Pinterest: the app id and a fingerprint of
    the seed refresh token, or a fingerprint of the static access token. Never a secret."""
    if credentials.refresh_token:
        return f"app-{credentials.app_id or 'none'}.seed-{fingerprint(credentials.refresh_token)}"
    if credentials.access_token:
        return f"token-{fingerprint(credentials.access_token)}"
    if credentials.conversion_token:
        return f"conversion-{fingerprint(credentials.conversion_token)}"
    raise ConfigError(
        "rate_limit_url is set but no rate-limit scope can be derived: the credentials hold neither a refresh "
        "token nor an access token (the tokens come from the token store only)",
        resolution="Set rate_limit_scope under [pinterest] to one name for the Pinterest user and app, the same "
        "on every worker that uses them (for example the Pinterest user id).",
    )


def scope_for(settings: PinterestSettings) -> str:
    """`settings.rate_limit_scope`, checked, or `default_scope` of the credentials."""
    scope = settings.rate_limit_scope
    if scope is None:
        return default_scope(settings.credentials)
    if not RATE_LIMIT_SCOPE_PATTERN.match(scope):
        raise ConfigError(
            "rate_limit_scope must be 1 to 200 letters, digits or the characters _ . : @ = -",
            resolution="Choose a plain name for the Pinterest user and app, such as its user id.",
        )
    return scope


def _micros_up(seconds: float) -> int:
    return math.ceil(seconds * 1_000_000)


def _micros_down(seconds: float) -> int:
    return math.floor(seconds * 1_000_000)


class _Bucket:
    """One limit's key and GCRA numbers in whole microseconds: the interval rounded up, the slack down, so
    rounding can only make the limiter stricter than `TokenBucket.for_limit`."""

    def __init__(self, key: str, limit: RateLimit, headroom: float) -> None:
        self.key = key
        local = TokenBucket.for_limit(limit, headroom=headroom)
        self.interval_s = local.interval_s
        self.interval_us = _micros_up(local.interval_s)
        self.slack_us = _micros_down(local.slack_s)


class RedisRateLimiter:
    """Per-category GCRA buckets plus one overall per-second bucket, kept in Redis under one scope.

    Use it as an async context manager (or call `open` and `close`): opening pings Redis, so a run that
    cannot reach it fails before it resolves or writes anything. `on_grant`, if given, is told each grant's
    category and Redis time (Unix seconds), for measurements. Time is Redis's: the injected clock only sleeps
    (and times `waited_s`), so a `FakeClock` makes the limiter poll Redis until real time has passed, unless
    `time_from_clock` is set: then the scripts take the injected clock's monotonic time instead of Redis's, which
    lets tests run the local limiter's property tests on a `FakeClock` against the script. Never in production:
    workers' clocks differ, and only Redis's is shared.
    """

    def __init__(
        self,
        url: Secret | str,
        clock: Clock,
        limits: Mapping[Category, RateLimit],
        per_second: int | None = None,
        *,
        scope: str,
        headroom: float = DEFAULT_HEADROOM,
        timeout_s: float = TIMEOUT_S,
        on_grant: Callable[[Category, float], None] | None = None,
        time_from_clock: bool = False,
    ) -> None:
        if not RATE_LIMIT_SCOPE_PATTERN.match(scope):
            raise ConfigError(f"rate-limit scope {scope!r} holds characters a Redis key should not")
        self._url = url if isinstance(url, Secret) else Secret(url)
        self.url = redact_url(self._url.reveal())
        """The server's URL without its password: what messages and logs may show."""
        self.scope = scope
        self._clock = clock
        self._timeout_s = timeout_s
        self._on_grant = on_grant
        self._time_from_clock = time_from_clock
        self._prefix = prefix = f"{KEY_PREFIX}:{{{scope}}}"
        self._limits = dict(limits)
        self._headroom = headroom
        self._buckets: dict[tuple[Category, str | None], _Bucket] = {
            (category, None): _Bucket(f"{prefix}:{category.value}", limit, headroom)
            for category, limit in limits.items()
        }
        self._overall = (
            _Bucket(f"{prefix}:second", RateLimit(per_second, 1.0), headroom) if per_second is not None else None
        )
        self._locks: dict[tuple[Category, str | None], asyncio.Lock] = {}
        self._opening = asyncio.Lock()
        self._redis: Any = None
        self._acquire: Any = None
        self._pause: Any = None
        self.granted: dict[Category, int] = dict.fromkeys(Category, 0)
        """Calls let through by this instance, per category (every key's together)."""
        self.waited_s: dict[Category, float] = dict.fromkeys(Category, 0.0)
        """Time this instance's callers spent waiting, per category (summed over callers and keys)."""

    @classmethod
    def from_settings(
        cls, settings: PinterestSettings, clock: Clock, *, headroom: float = DEFAULT_HEADROOM
    ) -> RedisRateLimiter:
        """The limiter for `settings.rate_limit_url` and the scope of `scope_for(settings)`."""
        if settings.rate_limit_url is None:
            raise ConfigError("a shared rate limiter needs rate_limit_url")
        return cls(
            settings.rate_limit_url,
            clock,
            settings.category_limits(),
            settings.per_second,
            scope=scope_for(settings),
            headroom=headroom,
            timeout_s=min(settings.timeout_s, TIMEOUT_S),
        )

    def keys(self, category: Category, *, key: str | None = None) -> list[str]:
        """The Redis keys a call of `category` (of `key`'s budget) is checked and charged against."""
        return [b.key for b in self._charged(category, key)]

    def interval_s(self, category: Category, *, key: str | None = None) -> float:
        """Seconds between two calls of `category` (of one key) at full speed (for the whole scope, not this
        instance)."""
        return max((b.interval_s for b in self._charged(category, key)), default=0.0)

    # ------------------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Connect and PING; `RateLimiterUnavailable` when Redis cannot be reached or refuses the password."""
        if self._redis is not None:
            return
        async with self._opening:  # callers racing to the first acquire open one connection pool, not several
            if self._redis is None:
                await self._connect()

    async def _connect(self) -> None:
        import redis.asyncio
        from redis import exceptions as redis_errors
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        try:
            client = redis.asyncio.Redis.from_url(
                self._url.reveal(),
                socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
                # A dropped connection is retried twice, quickly; a server that stays away fails the run. A
                # timeout is not retried: a Redis that does not answer within `timeout_s` fails the call at once.
                retry=Retry(
                    ExponentialBackoff(cap=0.5, base=0.05), 2, supported_errors=(redis_errors.ConnectionError,)
                ),
                health_check_interval=30,
            )
        except ValueError as exc:
            raise ConfigError(
                f"rate_limit_url {self.url} is not a Redis URL ({redact(str(exc), self._secrets())})",
                resolution="Give a URL such as redis://:PASSWORD@HOST:6379/0 (or rediss:// for TLS).",
            ) from None
        try:
            await self._guarded(client.ping())
        except BaseException:
            await client.aclose()
            raise
        self._redis = client
        self._acquire = client.register_script(ACQUIRE_SCRIPT)
        self._pause = client.register_script(PAUSE_SCRIPT)

    async def close(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------------------------------- limiting

    async def acquire(self, category: Category, *, key: str | None = None) -> None:
        """Return when Redis granted one call of `category` (of `key`'s budget) now; `RateLimiterUnavailable` if it
        cannot."""
        buckets = self._charged(category, key)
        await self.open()
        if not buckets:
            self.granted[category] += 1
            return
        keys = [b.key for b in buckets]
        args: list[int] = [n for b in buckets for n in (b.interval_us, b.slack_us)]
        args.append(_KEY_MARGIN_MS)
        lock = self._locks.setdefault((category, key), asyncio.Lock())
        async with lock:
            started = self._clock.monotonic()
            while True:
                wait_us, now_us = await self._guarded(self._acquire(keys=keys, args=[*args, self._now_arg()]))
                if int(wait_us) <= 0:
                    break
                await self._clock.sleep(int(wait_us) / 1_000_000)
            self.granted[category] += 1
            self.waited_s[category] += self._clock.monotonic() - started
        if self._on_grant is not None:
            self._on_grant(category, int(now_us) / 1_000_000)

    async def pause(self, category: Category, seconds: float, *, key: str | None = None) -> None:
        """Hold back every worker's calls of `category` (of `key`'s budget) for `seconds`, from Redis's now."""
        bucket = self._bucket(category, checked_key(key)) or self._overall
        if bucket is None or seconds <= 0:
            return
        await self.open()
        pause = [_micros_up(seconds), bucket.slack_us, _KEY_MARGIN_MS, self._now_arg()]
        await self._guarded(self._pause(keys=[bucket.key], args=pause))

    # ------------------------------------------------------------------------------------------- internals

    def _now_arg(self) -> int:
        """-1: the scripts read Redis's clock; with `time_from_clock` (tests), the injected clock's time."""
        return round(self._clock.monotonic() * 1_000_000) if self._time_from_clock else -1

    def _bucket(self, category: Category, key: str | None) -> _Bucket | None:
        bucket = self._buckets.get((category, key))
        if bucket is None and key is not None and category in self._limits:
            name = f"{self._prefix}:{category.value}:{key}"
            bucket = self._buckets[(category, key)] = _Bucket(name, self._limits[category], self._headroom)
        return bucket

    def _charged(self, category: Category, key: str | None) -> list[_Bucket]:
        return [b for b in (self._bucket(category, checked_key(key)), self._overall) if b is not None]

    def _secrets(self) -> list[str]:
        return url_secrets(self._url.reveal())

    async def _guarded(self, command: Any) -> Any:
        """Await one Redis command; anything Redis or the network raises becomes `RateLimiterUnavailable`."""
        from redis.exceptions import RedisError

        try:
            return await command
        except (RedisError, OSError, TimeoutError) as exc:
            reason = redact(str(exc), self._secrets()) or type(exc).__name__
            raise RateLimiterUnavailable(
                f"the shared rate limiter at {self.url} cannot grant calls ({type(exc).__name__}: {reason}); "
                "nothing is sent without its grant"
            ) from None
