"""What the client tells the outside while it works: events for an observer, and the run's counters.

The progress display and the run report subscribe with one callable, `Observer`; `ClientStats` is
itself an observer, which is how the client counts requests, retries, 429s and refreshes. Events hold
operation names, attempt numbers, delays, statuses and request ids: never a token or a record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestSent:
    """One HTTP request to Pinterest left the client."""

    operation: str
    attempt: int
    """1 for the first attempt of a call; a retry or the resend after a refresh counts up."""


@dataclass(frozen=True)
class RetryScheduled:
    """A call failed in a way worth another attempt; the client waits `delay_s` first."""

    operation: str
    attempt: int
    """The attempt that failed."""
    reason: str
    """`429`, `500`, `502`, `503`, `504`, `timeout` or `connection`."""
    delay_s: float
    status: int | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class RateLimitHit:
    """Pinterest answered 429."""

    operation: str
    retry_after_s: float | None
    """What Pinterest asked us to wait (`Retry-After` or `X-RateLimit-Reset`), None when it said nothing."""
    request_id: str | None = None


@dataclass(frozen=True)
class TokenRefreshed:
    """A new access token (and rotated refresh token) was obtained and written to the token store."""

    reason: str
    """`first use`, `expiring`, `unauthorized`, `refresh token renewal` or `requested`."""
    access_expires_at: float | None
    refresh_expires_at: float | None


ClientEvent = RequestSent | RetryScheduled | RateLimitHit | TokenRefreshed
Observer = Callable[[ClientEvent], None]


@dataclass
class ClientStats:
    """Counters for the run report, fed by the client's events."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    """429 answers received."""
    refreshes: int = 0
    requests_by_operation: Counter[str] = field(default_factory=Counter)
    retries_by_reason: Counter[str] = field(default_factory=Counter)

    def __call__(self, event: ClientEvent) -> None:
        if isinstance(event, RequestSent):
            self.requests += 1
            self.requests_by_operation[event.operation] += 1
        elif isinstance(event, RetryScheduled):
            self.retries += 1
            self.retries_by_reason[event.reason] += 1
        elif isinstance(event, RateLimitHit):
            self.rate_limited += 1
        else:
            self.refreshes += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "refreshes": self.refreshes,
            "requests_by_operation": dict(sorted(self.requests_by_operation.items())),
            "retries_by_reason": dict(sorted(self.retries_by_reason.items())),
        }


def fan_out(*observers: Observer | None) -> Observer:
    """One observer that tells each of `observers` (Nones skipped), in order."""
    targets = [o for o in observers if o is not None]

    def notify(event: ClientEvent) -> None:
        for target in targets:
            target(event)

    return notify
