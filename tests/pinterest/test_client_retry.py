"""The retry policy on a fake clock: attempts, backoff, server hints, the time budget, and what is never retried."""

from __future__ import annotations

import random

import pytest

from pinaudience.clock import FakeClock
from pinaudience.errors import NotFound, PinterestUnavailable, RateLimited
from pinaudience.pinterest.events import RetryScheduled
from pinaudience.pinterest.retry import Retryable, RetryPolicy


def unavailable() -> PinterestUnavailable:
    return PinterestUnavailable("Pinterest failed.", status=503, request_id="rid-9", operation="op")


class Script:
    """An attempt function that fails as scripted, then returns "done"."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.attempts: list[int] = []

    async def __call__(self, number: int) -> str:
        self.attempts.append(number)
        if self.failures:
            raise self.failures.pop(0)
        return "done"


@pytest.mark.anyio
async def test_succeeds_after_retryable_failures(clock: FakeClock) -> None:
    """Two 503s then success: three attempts, two retry events, time moved by the two waits."""
    policy = RetryPolicy(clock, rng=random.Random(1))
    events: list[RetryScheduled] = []
    script = Script([Retryable(unavailable(), "503"), Retryable(unavailable(), "503")])
    start = clock.monotonic()
    assert await policy.run(script, operation="op", on_retry=events.append) == "done"
    assert script.attempts == [1, 2, 3]
    assert [(e.attempt, e.reason, e.status, e.request_id) for e in events] == [
        (1, "503", 503, "rid-9"),
        (2, "503", 503, "rid-9"),
    ]
    assert clock.monotonic() - start == pytest.approx(sum(e.delay_s for e in events))


@pytest.mark.anyio
async def test_server_hint_is_waited_exactly(clock: FakeClock) -> None:
    """A Retry-After of 7 s is what the policy waits, not its own backoff."""
    policy = RetryPolicy(clock)
    events: list[RetryScheduled] = []
    script = Script([Retryable(RateLimited("429", status=429), "429", delay_hint_s=7.0)])
    await policy.run(script, operation="op", on_retry=events.append)
    assert [e.delay_s for e in events] == [7.0]
    assert clock.monotonic() == pytest.approx(7.0)


@pytest.mark.anyio
async def test_gives_up_after_max_attempts(clock: FakeClock) -> None:
    """When attempts run out, the last error is raised, saying how many attempts were made."""
    policy = RetryPolicy(clock, max_attempts=4)
    script = Script([Retryable(unavailable(), "503") for _ in range(10)])
    with pytest.raises(PinterestUnavailable, match="Gave up after 4 attempts") as caught:
        await policy.run(script, operation="op")
    assert script.attempts == [1, 2, 3, 4]
    assert caught.value.status == 503
    assert caught.value.request_id == "rid-9"


@pytest.mark.anyio
async def test_gives_up_before_crossing_the_time_budget(clock: FakeClock) -> None:
    """A wait that would end past max_retry_s is not started: the error comes at once."""
    policy = RetryPolicy(clock, max_attempts=100, max_retry_s=150.0)
    script = Script([Retryable(RateLimited("429", status=429), "429", delay_hint_s=100.0) for _ in range(10)])
    with pytest.raises(RateLimited, match="Gave up after 2 attempts"):
        await policy.run(script, operation="op")
    assert clock.monotonic() == pytest.approx(100.0)


@pytest.mark.anyio
async def test_other_errors_pass_straight_through(clock: FakeClock) -> None:
    """A 404 (not Retryable) is raised on the first attempt, unchanged."""
    policy = RetryPolicy(clock)
    error = NotFound("Not found.", status=404)
    script = Script([error])
    with pytest.raises(NotFound) as caught:
        await policy.run(script, operation="op")
    assert caught.value is error
    assert script.attempts == [1]
    assert clock.monotonic() == 0.0


def test_backoff_grows_exponentially_within_its_jitter_and_cap(clock: FakeClock) -> None:
    """Attempt n waits between half and all of initial * 2^(n-1), never above the cap."""
    policy = RetryPolicy(clock, initial_backoff_s=1.0, max_backoff_s=60.0, rng=random.Random(7))
    for failed in range(1, 12):
        ceiling = min(60.0, 2.0 ** (failed - 1))
        waits = [policy.backoff(failed) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1


def test_policy_rejects_nonsense(clock: FakeClock) -> None:
    """At least one attempt; positive times."""
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(clock, max_attempts=0)
    with pytest.raises(ValueError, match="positive"):
        RetryPolicy(clock, initial_backoff_s=0.0)
