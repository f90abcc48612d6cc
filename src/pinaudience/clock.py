"""Time as a dependency: rate limiters, retries, token expiry and the emulator all take a Clock.

Production code uses `SystemClock`; tests use `FakeClock`, whose `sleep` moves time forward at once,
so no test ever waits for real seconds.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall time (Unix seconds, for expiry stamps) and a monotonic time (for intervals)."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        import asyncio  # only what sleeps loads it: the CLI reads its input before asyncio loads

        if seconds > 0:
            await asyncio.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to, or when something sleeps on it.

    `sleep(s)` moves time to at least the moment the sleeper asked to wake (now + s at the call) and
    yields to the event loop once: tasks sleeping concurrently overlap instead of adding up, so elapsed
    fake time matches what real concurrent sleeps would take, without waiting.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._start = start

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._start

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        import asyncio

        wake_at = self._now + max(seconds, 0.0)
        await asyncio.sleep(0)
        self._now = max(self._now, wake_at)
        await asyncio.sleep(0)
