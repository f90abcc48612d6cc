"""Sliding-window rate limits: at most N admitted requests in any window of W seconds.

Each key keeps the times of its admitted requests within the last window. A request is admitted when every
limit it falls under has a free slot, and only then is it recorded in all of them: a refused request uses no
slot. When a limit is full, its slot frees W seconds after the oldest request still in the window, which is
what `Retry-After` and `X-RateLimit-Reset` report. docs/emulator.md describes the algorithm for clients.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """At most `requests` admitted under `key` in any `window_s` seconds."""

    key: Hashable
    requests: int
    window_s: float
    cause: str = ""
    """What a 429 from this limit is counted as (`GET /_emulator/counters`)."""


class SlidingWindows:
    """The admitted-request times of every key, checked and recorded together."""

    def __init__(self) -> None:
        self._admitted: dict[Hashable, deque[float]] = {}

    def acquire(self, limits: Sequence[Limit], now: float) -> float:
        """Admit a request at `now` under all `limits` and return 0, or admit nothing and return the seconds
        until every full limit has a free slot."""
        return self.admit(limits, now)[0]

    def admit(self, limits: Sequence[Limit], now: float) -> tuple[float, tuple[Limit, ...]]:
        """`acquire`, also saying which limits were full (none when the request was admitted)."""
        wait = 0.0
        full: list[Limit] = []
        for limit in limits:
            times = self._window(limit, now)
            if len(times) >= limit.requests:
                # The slot of the request `requests` places back from the newest frees first.
                frees_at = times[len(times) - limit.requests] + limit.window_s
                wait = max(wait, frees_at - now)
                full.append(limit)
        if wait > 0:
            return wait, tuple(full)
        for limit in limits:
            self._admitted.setdefault(limit.key, deque()).append(now)
        return 0.0, ()

    def clear(self) -> None:
        self._admitted.clear()

    def _window(self, limit: Limit, now: float) -> deque[float]:
        times = self._admitted.get(limit.key)
        if times is None:
            return deque()
        # A request at t holds its slot for [t, t + window): at t + window it has left.
        while times and times[0] <= now - limit.window_s:
            times.popleft()
        return times
