"""A seeded soak: random faults on every Pinterest call through a list's life, each change ending exact.

Each seed runs three changes of one file (the first creates the list and the audience) against the
emulator's random fault mode, with its own mix of rates: 429s, 500/502/503, connections dropped before
and after the write, and access tokens revoked (the refresh token carries on). A run that ends in an
error is run again, as a scheduler would. After each change the membership is exactly the file, the
state agrees, and every send beyond the first of a record was the resend of a write whose answer was lost.
The retry jitter is seeded too, so a seed replays the same calls and faults on every machine.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import write_csv
from tests.reliability.reliability_helpers import PINTEREST_OPERATIONS, Harness, assert_no_leaks, canary_emails

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

MIXES: dict[int, dict[str, Any]] = {
    11: {"rates": {"429": 0.05, "503": 0.05, "drop": 0.01}},
    23: {"rates": {"429": 0.10, "500": 0.05, "502": 0.05, "503": 0.10, "drop_after": 0.03}, "max_attempts": 3},
    37: {"rates": {"503": 0.15, "drop": 0.05, "drop_after": 0.05, "revoke": 0.03}, "writes_in_flight": 4,
         "max_attempts": 2},
    41: {"rates": {"429": 0.25, "revoke": 0.05, "drop_after": 0.03}, "rate_limit_hints": "none", "max_attempts": 4},
    59: {"rates": {"429": 0.05, "500": 0.05, "502": 0.05, "503": 0.05, "drop": 0.05, "drop_after": 0.05,
                   "revoke": 0.03}, "latency_ms": 800.0, "max_attempts": 3},
}  # fmt: skip
"""Seed: fault rates, and the emulator's or client's settings that go with them (few attempts: runs fail and resume).
429s carry Retry-After and an absolute reset (emulator setting `rate_limit_hints`) unless the mix says otherwise."""

CHANGES = [
    canary_emails(800),
    canary_emails(650, start=150) + canary_emails(200, start=2000),  # 150 leave, 200 join
    canary_emails(550, start=150)
    + canary_emails(200, start=2000)
    + canary_emails(100, start=40),  # 100 leave, 100 return
]
RECOVERABLE = {"rate_limited", "pinterest_unavailable"}


@pytest.mark.parametrize("seed", MIXES)
async def test_seeded_random_faults_end_exact(harness: Harness, logs: pytest.LogCaptureFixture, seed: int) -> None:
    """With random faults of a seeded mix on every call, every change of the file ends in exactly its membership."""
    mix = MIXES[seed]
    emulator = {"rate_limit_hints": "retry_after_and_reset_at"}
    emulator.update({k: v for k, v in mix.items() if k in ("rate_limit_hints", "latency_ms")})
    await harness.admin.settings(**emulator)
    connection = {k: v for k, v in mix.items() if k in ("writes_in_flight", "max_attempts")}
    source = harness.inputs / "customers.csv"
    settings = harness.settings(source, batch_size=25, pinterest=connection)
    random_mode = {"seed": seed, "rates": mix["rates"], "operations": list(PINTEREST_OPERATIONS)}
    await harness.admin.faults(random_mode=random_mode)

    previous: list[str] = []
    list_id: str | None = None
    faults_met = 0
    for people in CHANGES:
        await harness.clear_sends()
        write_csv(source, people)
        reports = await harness.converge(settings, allowed=RECOVERABLE, max_runs=6)
        list_id = list_id or reports[-1].customer_list_id
        assert list_id is not None
        assert all(r.customer_list_id in (None, list_id) for r in reports)
        await harness.assert_exact(list_id, people)
        lost = await harness.lost_writes()
        await harness.assert_sends(
            list_id, added=set(people) - set(previous), removed=set(previous) - set(people), most=1 + lost
        )
        faults_met += sum(1 for r in await harness.admin.requests() if r["fault"])
        previous = people

    assert faults_met >= 5, "the random mode should have met this soak with several faults"
    await harness.admin.clear_faults()  # the admin's own Pinterest reads would meet them too
    assert list_id is not None
    await harness.assert_one_list_and_audience(list_id, settings)
    assert_no_leaks(harness, logs.records, people=[p for change in CHANGES for p in change])
