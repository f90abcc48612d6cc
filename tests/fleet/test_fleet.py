"""The fleet test: many `pinaudience sync --audience NAME` workers, one Pinterest user and app, one truth.

One served emulator enforces Pinterest's per-user-and-app limits with time running 1.5 times faster
(`window_s` 40: 400 writes in any 40 s). Six worker processes at a time sync 30 audiences on 3 ad accounts,
all with one token pair of one user for one app (tests/fleet/fleet_harness.py, docs/fleet.md). Checked:

- every audience's membership at Pinterest is exactly its file;
- no 429 came from the per-user limits (the emulator counts 429s by cause);
- the writes reached a share of the shared ceiling (printed; at least 0.9 with the shared Redis limiter);
- the access token expires mid-run (the emulator expires it once 40% of the writes went through), Pinterest sees
  exactly one refresh, and no worker fails;
- two workers SIGKILLed at seeded moments of their upload, their jobs run again: exact, and their locks were
  freed without anyone's help (a lock left behind would fail the rerun with `state_locked`).

Two variants of that test: the embedded state (a directory every worker shares) with local limiters at a
sixth of the limits each, which runs today; and PostgreSQL state (tokens there too) with the Redis limiter,
the fleet issue 13 asks for, which needs the PostgreSQL state backend and `--rate-limit-url`. Then two faults
of the shared pieces: PostgreSQL stopped abruptly mid-upload, and Redis stopped mid-run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.fleet_harness import (
    Backends,
    Fleet,
    Scale,
    ServedEmulator,
    ceiling_ratio,
    list_ids,
    membership_errors,
    per_user_429s,
    seeded_kills,
    served_emulator,
    summary,
)
from tests.servers import start_postgres, start_redis

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(600)]

SEED = 20261206
AUDIENCES, AD_ACCOUNTS, WORKERS = 30, 3, 6
EXPIRE_AT = 0.4
"""The access token expires once this share of the run's writes went through."""
WRITES_IN_FLIGHT = 2
"""Each worker's writes in flight (the default `writes_in_flight`): what may still arrive after the limiter stops."""
SHARED_MIN_RATIO = 0.9
LOCAL_MIN_RATIO = 0.3
"""Local limiters at a sixth each waste the share of every worker that is starting, reading or finishing (on a
loaded 2-core machine a worker takes 6 to 8 s to start when six start at once, against 10 s of upload at its
share): the embedded variant is held to a floor only, and its measured ratio printed (docs/fleet.md)."""
REDIS_DOWN_KIND = "rate_limiter_unavailable"
"""The error kind of a run whose Redis limiter cannot be reached (the Redis limiter's named error)."""


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[ServedEmulator]:
    with served_emulator(tmp_path / "emulator-home") as served:
        yield served


SCALE = Scale(window_s=float(os.environ.get("FLEET_WINDOW_S", "40")))
"""400 writes in any 40 s: ten a second, below what six workers send on an idle 2-core machine. On a machine
loaded by other work the workers may send less than the ceiling, and then the machine, not the limiter, bounds
the ratio (the summary prints the CPU and the load average): `FLEET_WINDOW_S=80` halves the ceiling."""


def fleet_of(
    tmp_path: Path, emulator: ServedEmulator, backends: Backends, *, audiences: int = AUDIENCES, scale: Scale = SCALE
) -> Fleet:
    accounts, tokens = emulator.prepare(scale, AD_ACCOUNTS)
    return Fleet(
        tmp_path / "fleet", emulator, backends, scale=scale, accounts=accounts, tokens=tokens, audiences=audiences,
        workers=WORKERS,
    )  # fmt: skip


def run_the_fleet(fleet: Fleet, *, min_ratio: float) -> None:
    """30 audiences, 6 at a time; the token expires mid-run; two workers killed; every check of the module doc."""
    kills = seeded_kills([job.name for job in fleet.jobs], fleet.workers, SEED)
    run = fleet.run(kill=kills, expire_after_writes=int(fleet.expected_writes * EXPIRE_AT))
    counters = fleet.emulator.counters()
    figures = summary(fleet, run, counters)
    print(figures)
    assert not run.failures(), "\n".join(a.describe() for a in run.failures())
    assert {a.job.name for a in run.killed()} == set(kills), "a worker to kill finished before its moment"
    assert run.expired_at_writes is not None, "the access token never expired"
    assert membership_errors(fleet, run) == []
    assert per_user_429s(counters) == 0, counters["rate_limited"]
    assert counters["token_grants"].get("refresh_token", 0) == 1, counters["token_grants"]
    for name, list_id in list_ids(run).items():
        sends = fleet.emulator.sends(list_id)
        assert max((int(t) for h in sends.values() for t in h), default=0) <= 2, f"{name}: {sends}"
    scale = fleet.scale
    ratio = ceiling_ratio(counters["admitted_at"]["ads_write"], scale.ads_write_per_window, scale.window_s)
    assert ratio.busiest_window <= scale.ads_write_per_window
    assert ratio.ratio >= min_ratio, figures


def test_fleet_with_a_shared_state_directory_and_local_limiter_shares(tmp_path: Path, emulator: ServedEmulator) -> None:
    """Embedded state shared by the workers, each pacing itself at a sixth of the limits: exact, no 429 from the
    per-user limits, one refresh, the killed jobs rerun."""
    state = tmp_path / "state"
    backends = Backends(str(state), local_share=1 / WORKERS, token_store=tmp_path / "tokens" / "tokens.json")
    run_the_fleet(fleet_of(tmp_path, emulator, backends), min_ratio=LOCAL_MIN_RATIO)


def test_fleet_with_postgres_state_and_the_redis_limiter(
    tmp_path: Path, emulator: ServedEmulator, postgres_url: str, redis_url: str
) -> None:
    """The fleet of issue 13: state and tokens in PostgreSQL, one limiter in Redis at the full limits, shared by
    every worker: all the checks, and at least 0.9 of the shared ceiling."""
    backends = Backends(postgres_url, rate_limit_url=redis_url)
    run_the_fleet(fleet_of(tmp_path, emulator, backends), min_ratio=SHARED_MIN_RATIO)


def test_postgres_stopped_mid_upload_stops_the_run_and_loses_nothing(tmp_path: Path, emulator: ServedEmulator) -> None:
    """`pg_ctl stop -m immediate` while six workers upload: each stops with state_error; after a restart the next
    run, whose files dropped members sent before the stop, converges: what Pinterest acknowledged was recorded."""
    server = start_postgres()
    try:
        backends = Backends(server.create_database(), local_share=1 / WORKERS)
        fleet = fleet_of(tmp_path, emulator, backends, audiences=WORKERS)
        stop_at = fleet.expected_writes // 3

        def stop_when_uploading(elapsed_s: float) -> None:
            if server.running() and int(emulator.counters()["admitted"].get("ads_write", 0)) >= stop_at:
                server.stop("immediate")

        crashed = fleet.run(on_tick=stop_when_uploading)
        assert not server.running(), "the workers finished before PostgreSQL was stopped"
        kinds = [a.error_kind for a in crashed.attempts if a.returncode != 0]
        assert kinds, "every worker finished although PostgreSQL stopped mid-upload"
        assert set(kinds) == {"state_error"}, "\n".join(a.describe() for a in crashed.attempts)

        server.start()
        for job in list(fleet.jobs):
            fleet.change(job, job.values[100:] + tuple(f"new.{i}.{job.name}@example.com" for i in range(50)))
        converged = fleet.run()
        print(summary(fleet, converged, emulator.counters()))
        assert not converged.failures(), "\n".join(a.describe() for a in converged.failures())
        assert membership_errors(fleet, converged) == []
    finally:
        server.close()


def test_redis_stopped_mid_run_sends_no_write_without_the_limiter(tmp_path: Path, emulator: ServedEmulator) -> None:
    """Redis killed while six workers upload: they stop with the limiter's named error, and no write reaches
    Pinterest after the stop beyond those already granted (each worker's writes in flight); after a restart the
    next run converges."""
    redis = start_redis()
    try:
        backends = Backends(
            str(tmp_path / "state"), rate_limit_url=redis.url(), token_store=tmp_path / "tokens" / "tokens.json"
        )
        fleet = fleet_of(tmp_path, emulator, backends, audiences=WORKERS)
        stop_at = fleet.expected_writes // 3
        at_stop: list[int] = []

        def stop_when_uploading(elapsed_s: float) -> None:
            if not at_stop and int(emulator.counters()["admitted"].get("ads_write", 0)) >= stop_at:
                redis.stop(abrupt=True)
                at_stop.append(int(emulator.counters()["admitted"].get("ads_write", 0)))

        crashed = fleet.run(on_tick=stop_when_uploading)
        assert at_stop, "the workers finished before Redis was stopped"
        after = int(emulator.counters()["admitted"].get("ads_write", 0)) - at_stop[0]
        assert after <= WORKERS * WRITES_IN_FLIGHT, f"{after} writes were admitted after Redis stopped"
        kinds = [a.error_kind for a in crashed.attempts if a.returncode != 0]
        assert kinds, "every worker finished although Redis stopped mid-run"
        assert set(kinds) == {REDIS_DOWN_KIND}, "\n".join(a.describe() for a in crashed.attempts)

        redis.start()
        converged = fleet.run()
        assert not converged.failures(), "\n".join(a.describe() for a in converged.failures())
        assert membership_errors(fleet, converged) == []
    finally:
        redis.close()
