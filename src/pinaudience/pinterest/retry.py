"""The retry policy: which failures get another attempt, how long to wait, and when to give up.

Retried: 429 (waiting what `Retry-After`, else `X-RateLimit-Reset`, asks; else exponential backoff with
jitter), 500/502/503/504, timeouts and dropped connections. Never: 400, 403, 404, and 401 beyond the
single token refresh the client does itself. Bounded twice: by attempts (`max_attempts`, the first
included) and by total time (`max_retry_s`, counted on the injected clock from the first attempt; a
wait that would cross it is not started). A 429 says "wait", not "failed": attempts answered 429 count
against the time budget only (and a generous cap, `MAX_RATE_LIMITED_ATTEMPTS`), so that a throttle
Pinterest applies for a while (a per-list write window, a shared quota) cannot use up the attempts that
are there for real failures.

The loop is tenacity's (`AsyncRetrying`), which stamina wraps: unlike stamina, tenacity takes the
sleep function and arbitrary stop and wait callables, so the injected clock drives both the waiting
and the time budget, and tests never sleep. An attempt says "worth another try" by raising
`Retryable`; anything else it raises passes straight through.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from pinaudience.clock import Clock
from pinaudience.errors import PinterestError
from pinaudience.pinterest.events import RetryScheduled

if TYPE_CHECKING:
    from pinaudience.pinterest.settings import PinterestSettings

T = TypeVar("T")

MAX_RATE_LIMITED_ATTEMPTS = 100
"""Attempts answered 429 that one call may make (beside `max_attempts` for other failures), whatever the time."""


class Retryable(Exception):
    """Raised by an attempt whose failure is worth another try; carries the error to raise if none is left."""

    def __init__(self, error: PinterestError, reason: str, delay_hint_s: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.reason = reason
        """What failed, for the observer: the HTTP status, `timeout` or `connection`."""
        self.delay_hint_s = delay_hint_s
        """What the server asked us to wait; None lets the policy back off on its own."""


class RetryPolicy:
    """Attempts, backoff and the time budget for one call, on an injected clock."""

    def __init__(
        self,
        clock: Clock,
        *,
        max_attempts: int = 10,
        max_retry_s: float = 900.0,
        initial_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts counts the first attempt: it must be at least 1")
        if max_retry_s < 0 or initial_backoff_s <= 0 or max_backoff_s < initial_backoff_s:
            raise ValueError("retry times must be positive, and the maximum backoff at least the initial one")
        self.clock = clock
        self.max_attempts = max_attempts
        self.max_retry_s = max_retry_s
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        # Jitter only spreads clients apart; it needs no cryptographic randomness, and tests seed it.
        self._rng = rng or random.Random()  # noqa: S311

    @classmethod
    def from_settings(
        cls, settings: PinterestSettings, clock: Clock, *, rng: random.Random | None = None
    ) -> RetryPolicy:
        return cls(clock, max_attempts=settings.max_attempts, max_retry_s=settings.max_retry_s, rng=rng)

    def backoff(self, failed_attempts: int) -> float:
        """Exponential backoff with "equal jitter": between half and all of initial * 2^(n-1), capped."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2.0 ** max(failed_attempts - 1, 0))
        return ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)

    async def run(
        self,
        attempt: Callable[[int], Awaitable[T]],
        *,
        operation: str,
        on_retry: Callable[[RetryScheduled], None] | None = None,
    ) -> T:
        """Call `attempt(n)` (n = 1, 2, ...) until it returns, raises something not `Retryable`, or the budget ends.

        When the budget ends, the last failure's error is raised, saying how many attempts were made.
        """
        started = self.clock.monotonic()
        rate_limited = 0

        def stop(state: RetryCallState) -> bool:
            nonlocal rate_limited
            if _retryable(state).error.status == 429:
                rate_limited += 1
            if state.attempt_number - rate_limited >= self.max_attempts or rate_limited >= MAX_RATE_LIMITED_ATTEMPTS:
                return True
            return self.clock.monotonic() - started + state.upcoming_sleep > self.max_retry_s

        def wait(state: RetryCallState) -> float:
            failure = _retryable(state)
            if failure.delay_hint_s is not None:
                return float(failure.delay_hint_s)
            return self.backoff(state.attempt_number)

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is None:
                return
            failure = _retryable(state)
            on_retry(
                RetryScheduled(
                    operation=operation,
                    attempt=state.attempt_number,
                    reason=failure.reason,
                    delay_s=state.upcoming_sleep,
                    status=failure.error.status,
                    request_id=failure.error.request_id,
                )
            )

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception_type(Retryable),
            sleep=self.clock.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 0
        try:
            async for try_ in retrying:
                with try_:
                    attempts = try_.retry_state.attempt_number
                    return await attempt(attempts)
        except Retryable as failure:
            raise _gave_up(failure.error, attempts, self.clock.monotonic() - started) from None
        raise AssertionError("tenacity ended without a result or an error")  # pragma: no cover


def _retryable(state: RetryCallState) -> Retryable:
    outcome = state.outcome
    failure = outcome.exception() if outcome is not None else None
    if not isinstance(failure, Retryable):  # pragma: no cover - the retry predicate admits nothing else
        raise TypeError("only Retryable failures are retried")
    return failure


def _gave_up(error: PinterestError, attempts: int, elapsed_s: float) -> PinterestError:
    """The same error, its message saying how long the client tried."""
    tried = f" Gave up after {attempts} attempt{'s' if attempts != 1 else ''} in {elapsed_s:.0f} s."
    return type(error)(
        error.message + tried,
        resolution=error.resolution,
        status=error.status,
        code=error.code,
        pinterest_message=error.pinterest_message,
        request_id=error.request_id,
        operation=error.operation,
    )
