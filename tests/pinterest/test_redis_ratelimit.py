"""The shared rate limiter on a real Redis: one budget per scope across instances and processes, the local
limiter's pacing, pauses seen by every worker, and no call without a grant when Redis is gone.

These tests take real seconds (the limiter's clock is Redis's), kept short: limits are scaled down to 30 a
second, or up where only the wiring matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from pinaudience.clock import SystemClock
from pinaudience.config import Credentials, PinterestSettings, Secret, Settings, load_settings
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, Emulator
from pinaudience.engine.events import SyncEvent, UploadProgress
from pinaudience.engine.sync import sync_async
from pinaudience.errors import ConfigError, RateLimiterUnavailable
from pinaudience.pinterest.client import open_client
from pinaudience.pinterest.limits import Category, RateLimit
from pinaudience.pinterest.ratelimit import LocalRateLimiter, TokenBucket, make_rate_limiter
from pinaudience.pinterest.redis_ratelimit import KEY_PREFIX, RedisRateLimiter, default_scope
from tests.emulator_admin import EmulatorAdmin
from tests.helpers import API_BASE, emails, emulator_http, expected_members, hashed_emails, write_csv
from tests.pinterest.test_client_ratelimit import most_in_any_window
from tests.servers import RedisServer, free_port, start_redis
from tests.sync.sync_helpers import settings_for

pytestmark = pytest.mark.anyio

LIMIT = RateLimit(150, 5.0)
"""Pinterest's limits scaled down to 30 a second, in 5-second windows: the slack (half of 1% of the window,
25 ms) absorbs the timer and scheduling lateness of a busy machine, as Pinterest's 60-second windows do (300 ms)."""

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared(
    url: str,
    scope: str = "fleet",
    *,
    times: list[float] | None = None,
    limits: Mapping[Category, RateLimit] | None = None,
) -> RedisRateLimiter:
    """A limiter of `scope` at `LIMIT` for both categories (or `limits`) and 100 calls a second overall, telling
    `times` each grant's Redis time."""
    return RedisRateLimiter(
        url,
        SystemClock(),
        limits or {Category.ADS_WRITE: LIMIT, Category.ADS_READ: LIMIT},
        100,
        scope=scope,
        on_grant=None if times is None else (lambda _category, at: times.append(at)),
    )


def assert_paced(times: list[float], limit: RateLimit) -> None:
    """Never more than N in any window, nor in any shorter one more than its share (slots are one interval apart,
    each grant at most the slack after its slot), and at least 90% of the limit's rate from first to last grant."""
    bucket = TokenBucket.for_limit(limit)
    assert most_in_any_window(times, limit.window_s) <= limit.requests
    for window_s in (0.1, 0.25, 0.5, 1.0, 2.0):
        assert most_in_any_window(times, window_s) <= 1 + (window_s + bucket.slack_s) // bucket.interval_s, window_s
    rate = (len(times) - 1) / (max(times) - min(times))
    assert rate >= 0.9 * limit.per_second, rate


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test alone, which it may stop."""
    server = start_redis()
    yield server
    server.close()


def seed_settings(**changes: object) -> PinterestSettings:
    settings = PinterestSettings(
        ad_account_id=SEED_AD_ACCOUNT_ID,
        credentials=Credentials(access_token=Secret(SEED_ACCESS_TOKEN)),
        api_base=API_BASE,
        ads_write_limit=RateLimit(6000, 60.0),
        ads_read_limit=RateLimit(6000, 60.0),
    )
    return replace(settings, **changes)  # type: ignore[arg-type]


def sync_settings(tmp_path: Path, pinterest: PinterestSettings, count: int, batch_size: int) -> Settings:
    customers = write_csv(tmp_path / "customers.csv", emails(count))
    settings = settings_for(tmp_path, customers, list_name="Fleet", batch_size=batch_size)
    return replace(settings, pinterest=pinterest)


def emulator_writes(emulator: Emulator) -> list[dict[str, object]]:
    return [r for r in emulator.requests if r["method"] in ("POST", "PATCH") and r["operation"] != "oauth/token"]


# --- pacing -------------------------------------------------------------------------------------------


async def test_instances_of_one_scope_share_one_budget_at_the_local_limiters_pace(redis_url: str) -> None:
    """Four limiters of one scope, two callers each: never more than N in any window, at >= 90% of the rate."""
    times: list[float] = []
    limiters = [shared(redis_url, times=times) for _ in range(4)]
    async with contextlib.AsyncExitStack() as stack:
        for limiter in limiters:
            await stack.enter_async_context(limiter)

        async def caller(limiter: RedisRateLimiter, calls: int) -> None:
            for _ in range(calls):
                await limiter.acquire(Category.ADS_WRITE)

        await asyncio.gather(*(caller(limiter, 10) for limiter in limiters for _ in range(2)))
    assert len(times) == 80
    assert_paced(times, LIMIT)
    assert all(limiter.granted[Category.ADS_WRITE] > 0 for limiter in limiters)
    assert limiters[0].interval_s(Category.ADS_WRITE) == TokenBucket.for_limit(LIMIT).interval_s


def test_worker_processes_of_one_scope_share_one_budget(redis_url: str) -> None:
    """Three OS processes of one scope, starting together: one budget between them, at the local limiter's pace."""
    start_at = time.time() + 4.0  # every worker imported and connected before the first grant, even on a busy machine
    spec = {"url": redis_url, "scope": "processes", "calls": 27, "start_at": start_at, "limit": [150, 5.0]}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.pinterest.redis_worker", json.dumps(spec)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    per_worker: list[list[float]] = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        per_worker.append(json.loads(out))
    times = [t for worker_times in per_worker for t in worker_times]
    assert len(times) == 81
    assert min(times) >= start_at - 0.05, "a worker started before the others were ready"
    assert_paced(times, LIMIT)
    assert max(times) - min(times) >= 80 * TokenBucket.for_limit(LIMIT).interval_s * 0.99  # shared, not 3 x 27


async def test_different_scopes_do_not_share(redis_url: str) -> None:
    """Two scopes pace apart: together they go twice as fast as one budget would let them."""
    limit = RateLimit(10, 1.0)
    by_scope: dict[str, list[float]] = {"user-a": [], "user-b": []}
    limiters = [
        shared(redis_url, scope, times=times, limits={Category.ADS_WRITE: limit}) for scope, times in by_scope.items()
    ]
    async with limiters[0], limiters[1]:
        await asyncio.gather(*(limiter.acquire(Category.ADS_WRITE) for limiter in limiters for _ in range(6)))
    everything = [t for times in by_scope.values() for t in times]
    for times in by_scope.values():
        assert most_in_any_window(times, 1.0) <= 10
    one_budget_s = 11 * TokenBucket.for_limit(limit).interval_s  # 12 calls of one scope
    assert max(everything) - min(everything) < 0.7 * one_budget_s


async def test_a_pause_from_one_instance_holds_back_the_others(redis_url: str) -> None:
    """A 429's pause written by one worker delays the category for every worker of the scope, and nothing else."""
    grants: list[tuple[Category, float]] = []
    stranger_times: list[float] = []
    first = shared(redis_url)
    second = RedisRateLimiter(
        redis_url, SystemClock(), {Category.ADS_WRITE: LIMIT, Category.ADS_READ: LIMIT}, 100, scope="fleet",
        on_grant=lambda category, at: grants.append((category, at)),
    )  # fmt: skip
    stranger = shared(redis_url, "other", times=stranger_times)
    async with first, second, stranger:
        await second.acquire(Category.ADS_READ)
        paused_after = grants[-1][1]
        await first.pause(Category.ADS_WRITE, 0.5)
        await asyncio.gather(
            second.acquire(Category.ADS_WRITE), second.acquire(Category.ADS_READ), stranger.acquire(Category.ADS_WRITE)
        )
    (write_at,) = [at for category, at in grants if category is Category.ADS_WRITE]
    read_at = grants[-1][1] if grants[-1][0] is Category.ADS_READ else grants[-2][1]
    assert write_at - paused_after >= 0.5
    assert read_at - paused_after < 0.3, "ads_read waited on the ads_write pause"
    assert stranger_times[0] - paused_after < 0.3, "another scope waited on this scope's pause"


async def test_a_429_one_worker_receives_pauses_the_category_for_the_others(redis_url: str) -> None:
    """Two workers (clients with limiters of one scope): Pinterest answers one worker's write 429 with
    `Retry-After: 1`, and the other worker's next write waits that second too, through Redis."""
    emulator = Emulator(profile="default", clock=SystemClock())
    settings = seed_settings()
    try:
        async with contextlib.AsyncExitStack() as stack:
            clients = []
            for _ in range(2):
                limiter = await stack.enter_async_context(shared(redis_url, "workers"))
                clients.append(
                    await stack.enter_async_context(
                        open_client(settings, transport=emulator.transport(), clock=SystemClock(), limiter=limiter)
                    )
                )
            first, second = clients
            lists = [await first.create_customer_list(f"w{n}", hashed_emails(1, start=n)) for n in range(2)]
            admin = EmulatorAdmin(await stack.enter_async_context(emulator_http(emulator)))
            await admin.settings(rate_limit_hints="retry_after")
            await admin.faults({"operation": "customer_lists/update", "calls": [1], "status": 429, "retry_after": 1})
            refused = asyncio.create_task(first.update_customer_list(lists[0].id, "ADD", hashed_emails(1, start=10)))
            while not any(r["status"] == 429 for r in emulator.requests):
                await asyncio.sleep(0.005)
            await second.update_customer_list(lists[1].id, "ADD", hashed_emails(1, start=20))
            await refused
    finally:
        emulator.close()
    updates = [r for r in emulator.requests if r["operation"] == "customer_lists/update"]
    refusal = next(r for r in updates if r["status"] == 429)
    after = [float(r["at"]) for r in updates if r is not refusal]
    assert len(after) == 2
    assert min(after) - float(refusal["at"]) >= 0.95  # Retry-After: 1, less the clocks' rounding


# --- failure --------------------------------------------------------------------------------------------


async def test_redis_unreachable_at_open_is_a_named_error_without_the_password(redis_server: RedisServer) -> None:
    """No server on the port, or a wrong password: RateLimiterUnavailable, naming the URL without its password."""
    nowhere = f"redis://:{redis_server.password}@127.0.0.1:{free_port()}/0"
    wrong = redis_server.url(password=f"not-{redis_server.password}")
    for url, secret in ((nowhere, redis_server.password), (wrong, f"not-{redis_server.password}")):
        limiter = shared(url)
        with pytest.raises(RateLimiterUnavailable) as caught:
            await limiter.open()
        error = caught.value
        text = json.dumps(error.to_dict()) + str(error) + repr(error)
        assert secret not in text
        assert "redis://:***@127.0.0.1" in error.message
        assert error.kind == "rate_limiter_unavailable"
        with pytest.raises(RateLimiterUnavailable):  # acquire opens on its own, and fails the same way
            await limiter.acquire(Category.ADS_WRITE)


async def test_redis_stopped_mid_run_ends_the_run_and_no_write_goes_without_a_grant(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    """Redis killed after the second batch: the upload stops with the named error, and every write had a grant."""
    emulator = Emulator(profile="default", clock=SystemClock())
    grants: list[float] = []
    limiter = RedisRateLimiter(
        own_redis.url(),
        SystemClock(),
        {Category.ADS_WRITE: RateLimit(6000, 60.0), Category.ADS_READ: RateLimit(6000, 60.0)},
        100,
        scope="stopped",
        on_grant=lambda category, at: grants.append(at) if category is Category.ADS_WRITE else None,
    )
    settings = sync_settings(tmp_path, seed_settings(), count=400, batch_size=20)
    stopped_with: list[int] = []

    def observe(event: SyncEvent) -> None:
        if isinstance(event, UploadProgress) and event.batches_done >= 2 and not stopped_with:
            own_redis.stop(abrupt=True)
            stopped_with.append(len(grants))

    try:
        async with limiter:
            run = await sync_async(
                settings, transport=emulator.transport(), clock=SystemClock(), observer=observe, limiter=limiter
            )
    finally:
        emulator.close()
    (report,) = run.audiences
    assert report.error is not None
    assert report.error.kind == "rate_limiter_unavailable"
    assert report.retries == 0, "a call whose limiter failed was retried"
    assert own_redis.password not in json.dumps(report.to_dict())
    assert stopped_with, "the upload ended before its second batch"
    assert len(grants) == stopped_with[0], "a write was granted after Redis stopped"
    writes = emulator_writes(emulator)
    assert len(writes) == len(grants), "every write the emulator saw had exactly one grant from Redis"
    assert len(writes) < 400 // 20


async def test_a_redis_that_stops_answering_fails_the_call_after_the_timeout(own_redis: RedisServer) -> None:
    """A Redis that hangs (a network partition, a frozen server) fails the waiting call with the named error once
    the timeout passes, instead of holding the run forever or letting the call go."""
    limiter_quick = RedisRateLimiter(
        own_redis.url(), SystemClock(), {Category.ADS_WRITE: LIMIT}, None, scope="hung", timeout_s=0.5
    )
    assert own_redis.process is not None
    async with limiter_quick:
        await limiter_quick.acquire(Category.ADS_WRITE)
        own_redis.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(RateLimiterUnavailable, match="Timeout"):
                await limiter_quick.acquire(Category.ADS_WRITE)
            assert time.monotonic() - started < 3.0
        finally:
            own_redis.process.send_signal(signal.SIGCONT)
        assert limiter_quick.granted[Category.ADS_WRITE] == 1


# --- the engine, end to end ---------------------------------------------------------------------------


async def test_a_sync_with_rate_limit_url_is_exact_and_paced_by_redis(
    redis_url: str, redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`rate_limit_url` in the settings: the engine's calls are granted by Redis (under the default scope) and the
    list ends equal to the file; the password shows in no log line, report or repr."""
    caplog.set_level(logging.DEBUG)
    emulator = Emulator(profile="default", clock=SystemClock())
    pinterest = seed_settings(rate_limit_url=Secret(redis_url))
    settings = sync_settings(tmp_path, pinterest, count=400, batch_size=100)
    try:
        run = await sync_async(settings, transport=emulator.transport(), clock=SystemClock())
        (report,) = run.audiences
        assert report.status == "ok", report.error
        assert report.customer_list_id is not None
        members = sorted(emulator.store.members(int(report.customer_list_id)))
    finally:
        emulator.close()
    assert members == expected_members(emails(400))

    import redis

    scope = default_scope(pinterest.credentials)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = sorted(str(k) for k in client.keys(f"{KEY_PREFIX}:*"))
        assert keys == [f"{KEY_PREFIX}:{{{scope}}}:{name}" for name in ("ads_read", "ads_write", "second")]
        assert all(0 < client.pttl(key) <= 3000 for key in keys), "idle keys expire"
    finally:
        client.close()
    assert SEED_ACCESS_TOKEN not in " ".join(keys)
    password = redis_server.password
    assert password not in caplog.text
    assert password not in json.dumps(run.to_dict()) + report.to_json()
    assert password not in repr(settings) + repr(pinterest) + str(pinterest)


async def test_a_sync_whose_redis_cannot_be_reached_sends_nothing(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The limiter is pinged before the run resolves anything: the named error, and not one request to Pinterest."""
    caplog.set_level(logging.DEBUG)
    emulator = Emulator(profile="default", clock=SystemClock())
    url = f"redis://:{redis_server.password}@127.0.0.1:{free_port()}/0"
    settings = sync_settings(tmp_path, seed_settings(rate_limit_url=Secret(url)), count=150, batch_size=50)
    try:
        with pytest.raises(RateLimiterUnavailable) as caught:
            await sync_async(settings, transport=emulator.transport(), clock=SystemClock())
        assert list(emulator.requests) == []
    finally:
        emulator.close()
    assert redis_server.password not in str(caught.value) + caplog.text


def test_the_cli_fails_with_the_named_error_and_never_shows_the_password(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """`pinaudience sync` with PINAUDIENCE_RATE_LIMIT_URL on a dead port: exit 1, the kind, no password anywhere."""
    from tests.cli.cli_helpers import clean_env, run_cli

    url = f"redis://:{redis_server.password}@127.0.0.1:{free_port()}/0"
    customers = write_csv(tmp_path / "customers.csv", emails(150))
    report = tmp_path / "report.json"
    env = clean_env(tmp_path / "home", PINTEREST_ACCESS_TOKEN=SEED_ACCESS_TOKEN, PINAUDIENCE_RATE_LIMIT_URL=url)
    result = run_cli(
        "sync", customers, "--ad-account-id", SEED_AD_ACCOUNT_ID, "--list-name", "Fleet", "--api-base",
        "http://127.0.0.1:9/v5", "--report", report, "--log-format", "json", env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "rate_limiter_unavailable" in result.stderr
    everything = result.stdout + result.stderr + report.read_text()
    assert redis_server.password not in everything
    assert json.loads(report.read_text())["error"]["kind"] == "rate_limiter_unavailable"


# --- settings ---------------------------------------------------------------------------------------------


async def test_settings_choose_the_limiter(redis_url: str, tmp_path: Path) -> None:
    """Without rate_limit_url the local limiter; with it (file, or PINAUDIENCE_RATE_LIMIT_URL) the Redis one, whose
    scope defaults to the credentials' fingerprints and may be set."""
    config = tmp_path / "pinaudience.toml"
    config.write_text(f'[pinterest]\nad_account_id = "{SEED_AD_ACCOUNT_ID}"\nrate_limit_scope = "user-42"\n')
    env = {"PINTEREST_ACCESS_TOKEN": SEED_ACCESS_TOKEN}
    local = load_settings(config, env=env).pinterest
    assert isinstance(make_rate_limiter(local, SystemClock()), LocalRateLimiter)

    pinterest = load_settings(config, env={**env, "PINAUDIENCE_RATE_LIMIT_URL": redis_url}).pinterest
    assert pinterest.rate_limit_url == Secret(redis_url)
    async with make_rate_limiter(pinterest, SystemClock()) as limiter:
        assert isinstance(limiter, RedisRateLimiter)
        assert limiter.scope == "user-42"
        await limiter.acquire(Category.ADS_WRITE)
    defaulted = replace(pinterest, rate_limit_scope=None)
    scope = RedisRateLimiter.from_settings(defaulted, SystemClock()).scope
    assert scope.startswith("token-")
    assert SEED_ACCESS_TOKEN not in scope
    refreshing = Credentials(refresh_token=Secret("pinr.seed-one"), app_id="1234", app_secret=Secret("s"))
    assert default_scope(refreshing).startswith("app-1234.seed-")
    assert default_scope(refreshing) != default_scope(replace(refreshing, refresh_token=Secret("pinr.seed-two")))

    config.write_text(f'[pinterest]\nad_account_id = "{SEED_AD_ACCOUNT_ID}"\nrate_limit_url = "http://x"\n')
    with pytest.raises(ConfigError, match="rate_limit_url"):
        load_settings(config, env=env)
    config.write_text(f'[pinterest]\nad_account_id = "{SEED_AD_ACCOUNT_ID}"\nrate_limit_scope = "a {{brace}}"\n')
    with pytest.raises(ConfigError, match="rate_limit_scope"):
        load_settings(config, env=env)
    with pytest.raises(ConfigError, match="rate_limit_scope"):
        RedisRateLimiter.from_settings(replace(pinterest, rate_limit_scope="a {brace}"), SystemClock())


async def test_the_meiro_password_parameter_is_merged_into_the_url(redis_server: RedisServer, tmp_path: Path) -> None:
    """Meiro's `rate_limit_url` without a password plus `#rate_limit_password`: a limiter that reaches Redis, and the
    password is among the values the component scrubs from its logs."""
    from pinaudience.integrations.meiro import ComponentPaths, secret_parameters, settings_from_parameters

    parameters = {
        "#access_token": SEED_ACCESS_TOKEN,
        "ad_account_id": SEED_AD_ACCOUNT_ID,
        "audience_name": "Fleet",
        "rate_limit_url": f"redis://127.0.0.1:{redis_server.port}/0",
        "#rate_limit_password": redis_server.password,
        "rate_limit_scope": "meiro-user",
    }
    settings = settings_from_parameters(parameters, ComponentPaths(tmp_path))
    async with make_rate_limiter(settings.pinterest, SystemClock()) as limiter:
        await limiter.acquire(Category.ADS_WRITE)
    assert redis_server.password not in repr(settings)
    (tmp_path / "config.json").write_text(json.dumps({"parameters": parameters}))
    assert redis_server.password in secret_parameters(tmp_path)
    with pytest.raises(ConfigError, match="already holds a password"):
        settings_from_parameters({**parameters, "rate_limit_url": redis_server.url()}, ComponentPaths(tmp_path))
