"""The token store shared by workers, in a file or in PostgreSQL: one contract, one refresh per due token.

The contract tests run against both stores (`store_location`): a pair round-trips; providers whose access
token is due at once (asyncio tasks with their own connections, and OS processes) make Pinterest refresh
exactly once and all end with the same live pair; a worker killed while holding the lock blocks nobody.
PostgreSQL alone: each lineage has its own row, an unreachable server or a wrong password is a StateError
naming the URL without its password, a lock held too long times out, and no token or password reaches an
error, a log or `auth status`. The PostgreSQL server is real (tests/servers.py); nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pinaudience.cli import run
from pinaudience.cli.auth import login_with_code, read_token_status, refresh_now
from pinaudience.clock import Clock, FakeClock, SystemClock
from pinaudience.config import Credentials, PinterestSettings, Secret
from pinaudience.emulator import SEED_AD_ACCOUNT_ID, SEED_APP_ID, SEED_APP_SECRET, Emulator, serving
from pinaudience.errors import StateError
from pinaudience.pinterest.oauth import authorize_base_for, authorize_url
from pinaudience.pinterest.providers import RefreshingTokenProvider
from pinaudience.pinterest.token_store import TokenStore, open_token_store
from pinaudience.pinterest.token_store_pg import PostgresTokenStore
from pinaudience.pinterest.tokens import TokenSet, fingerprint
from tests.conftest import REPO_ROOT
from tests.emulator_admin import EmulatorAdmin
from tests.helpers import API_BASE
from tests.pinterest.client_helpers import Admin
from tests.servers import PostgresServer, free_port

pytestmark = pytest.mark.anyio

WORKERS = 6
DAY = 86_400.0
WORKER_TIMEOUT_S = 120.0


@pytest.fixture(params=["file", "postgres"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the shared tokens live: a file, or a fresh PostgreSQL database (its URL carries a canary password)."""
    if request.param == "file":
        return str(tmp_path / "state" / "tokens.json")
    url: str = request.getfixturevalue("postgres_url")
    return url


def open_store(location: str, seed: str | None, *, api_base: str = API_BASE) -> TokenStore:
    """The store a worker opens with `seed` as PINTEREST_REFRESH_ACCESS_TOKEN and the seed app."""
    creds = Credentials(
        refresh_token=Secret(seed) if seed else None,
        app_id=SEED_APP_ID,
        app_secret=Secret(SEED_APP_SECRET),
        token_store=location,
    )
    return open_token_store(creds, api_base=api_base)


async def due_pair(admin: EmulatorAdmin, location: str, now: float, *, api_base: str = API_BASE) -> TokenSet:
    """A live pair from the emulator, stored as the lineage of its own refresh token, its access token due now."""
    issued = await admin.tokens()
    refresh = Secret(issued["refresh_token"])
    pair = TokenSet(
        access_token=Secret(issued["access_token"]),
        refresh_token=refresh,
        access_expires_at=now - 1,
        refresh_expires_at=now + 50 * DAY,
        scope="ads:read,ads:write",
        app_id=SEED_APP_ID,
        updated_at=now - 100,
        seed=fingerprint(refresh),
    )
    open_store(location, issued["refresh_token"], api_base=api_base).save(pair)
    return pair


def provider(http: httpx.AsyncClient, store: TokenStore, seed: TokenSet, clock: Clock) -> RefreshingTokenProvider:
    assert seed.refresh_token is not None
    return RefreshingTokenProvider(
        http,
        app_id=SEED_APP_ID,
        app_secret=Secret(SEED_APP_SECRET),
        clock=clock,
        store=store,
        seed_refresh_token=seed.refresh_token,
    )


def stored(location: str, seed: TokenSet, *, api_base: str = API_BASE) -> TokenSet:
    assert seed.refresh_token is not None
    pair = open_store(location, seed.refresh_token.reveal(), api_base=api_base).load()
    assert pair is not None
    assert pair.access_token is not None
    assert pair.refresh_token is not None
    return pair


def worker_env(seed: TokenSet) -> dict[str, str]:
    assert seed.refresh_token is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINTEREST_", "PINAUDIENCE_"))}
    env.update(
        PINTEREST_REFRESH_ACCESS_TOKEN=seed.refresh_token.reveal(),
        PINTEREST_APP_ID=SEED_APP_ID,
        PINTEREST_APP_SECRET=SEED_APP_SECRET,
        PYTHONPATH=str(REPO_ROOT),
    )
    return env


@contextmanager
def workers(*argv_list: list[str], env: dict[str, str]) -> Iterator[list[subprocess.Popen[str]]]:
    """`python -m tests.pinterest.token_worker ARGV...` per argv, killed on the way out if still running."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.pinterest.token_worker", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        for argv in argv_list
    ]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=WORKER_TIMEOUT_S)


def first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line:
        _, err = process.communicate(timeout=WORKER_TIMEOUT_S)
        pytest.fail(f"the worker exited with {process.returncode}: {err[-3000:]}")
    return line


# ------------------------------------------------------------------------------------------ the contract


async def test_a_pair_round_trips_and_a_locked_save_is_what_the_next_worker_loads(store_location: str) -> None:
    """Nothing stored is None; a saved pair loads equal; under the lock the pair re-reads and a save replaces it."""
    seed = "pinr_canary_roundtrip_seed"
    store = open_store(store_location, seed)
    assert store.load() is None
    assert not store.exists()
    pair = TokenSet(
        access_token=Secret("pina_canary_roundtrip_access"),
        refresh_token=Secret(seed),
        access_expires_at=1_900_000_000.25,
        refresh_expires_at=1_905_000_000.5,
        scope="ads:read,ads:write",
        app_id=SEED_APP_ID,
        updated_at=1_899_000_000.125,
        seed=fingerprint(Secret(seed)),
    )
    store.save(pair)
    assert open_store(store_location, seed).load() == pair
    assert open_store(store_location, seed).exists()

    rotated = dataclasses.replace(
        pair, access_token=Secret("pina_canary_rotated"), refresh_token=Secret("pinr_canary_rotated"), updated_at=2e9
    )
    async with store.lock(pair) as locked:
        assert await locked.load() == pair
        await locked.save(rotated)
    assert open_store(store_location, seed).load() == rotated


async def test_concurrent_providers_refresh_once_and_share_the_new_pair(
    store_location: str, emulator: Emulator, clock: FakeClock, admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    """Eight providers (own stores, own connections) with a due access token: one refresh, one pair for all."""
    caplog.set_level(logging.DEBUG)
    seed = await due_pair(admin, store_location, clock.now())
    async with httpx.AsyncClient(base_url=API_BASE + "/", transport=emulator.transport()) as http:
        providers = [provider(http, open_store(store_location, None), seed, clock) for _ in range(8)]
        tokens = await asyncio.gather(*(p.access_token() for p in providers))

    assert await admin.grants() == {"refresh_token": {"granted": 1, "refused": 0}}
    assert len(set(tokens)) == 1
    assert seed.access_token is not None
    assert tokens[0] != seed.access_token.reveal()
    assert sorted(p.status().source for p in providers) == ["pinterest"] + ["token store"] * 7
    now = stored(store_location, seed)
    assert now.access_token == Secret(tokens[0])
    assert seed.refresh_token is not None
    assert now.refresh_token is not None
    if emulator.settings.rotate_refresh_token:
        assert now.refresh_token != seed.refresh_token
        assert (await admin.refresh_grant(seed.refresh_token.reveal())).status_code == 401
    assert (await admin.refresh_grant(now.refresh_token.reveal())).status_code == 200
    for secret in (tokens[0], seed.refresh_token.reveal(), now.refresh_token.reveal(), *password_of(store_location)):
        assert secret not in caplog.text


async def test_an_access_token_dying_mid_run_costs_one_refresh_for_all_clients(
    store_location: str, static_settings: PinterestSettings, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """Pinterest refuses a token the store still counts live: eight clients get 401, Pinterest sees one refresh."""
    issued = await admin.tokens()
    refresh = Secret(issued["refresh_token"])
    live = TokenSet(
        access_token=Secret(issued["access_token"]),
        refresh_token=refresh,
        access_expires_at=clock.now() + 20 * DAY,
        refresh_expires_at=clock.now() + 50 * DAY,
        app_id=SEED_APP_ID,
        updated_at=clock.now(),
        seed=fingerprint(refresh),
    )
    open_store(store_location, issued["refresh_token"]).save(live)
    await admin.revoke(issued["access_token"])
    creds = Credentials(
        refresh_token=refresh, app_id=SEED_APP_ID, app_secret=Secret(SEED_APP_SECRET), token_store=store_location
    )
    settings = dataclasses.replace(static_settings, credentials=creds)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(settings)) for _ in range(8)]
        accounts = await asyncio.gather(*(client.get_ad_account() for client in clients))
    assert {account.id for account in accounts} == {SEED_AD_ACCOUNT_ID}
    assert await admin.grants() == {"refresh_token": {"granted": 1, "refused": 0}}
    refused = [r for r in await admin.requests() if r["status"] == 401]
    assert 1 <= len(refused) <= 8  # a client that read the store after the refresh never sent the dead token


async def test_worker_processes_refresh_once_and_none_fails(store_location: str, tmp_path: Path) -> None:
    """Six OS processes whose access token is due at once: Pinterest sees one refresh, every call succeeds."""
    emulator = Emulator(clock=SystemClock())
    try:
        with serving(emulator) as url:
            api_base = url + "/v5"
            async with httpx.AsyncClient(base_url=url) as client:
                admin = EmulatorAdmin(client)
                seed = await due_pair(admin, store_location, SystemClock().now(), api_base=api_base)
                go = tmp_path / "go"
                argv = ["access", api_base, store_location, str(go)]
                with workers(*[argv] * WORKERS, env=worker_env(seed)) as processes:
                    for process in processes:
                        assert first_line(process) == "ready"
                    go.touch()
                    results = []
                    for process in processes:
                        out, err = process.communicate(timeout=WORKER_TIMEOUT_S)
                        assert process.returncode == 0, err[-3000:]
                        results.append(json.loads(out.strip().splitlines()[-1]))
                assert await admin.grants() == {"refresh_token": {"granted": 1, "refused": 0}}
                assert {r["status"] for r in results} == {200}
                assert len({r["access"] for r in results}) == 1
                assert sorted(r["source"] for r in results).count("pinterest") == 1
                now = stored(store_location, seed, api_base=api_base)
                assert now.access_token is not None
                assert now.refresh_token is not None
                assert fingerprint(now.access_token) == results[0]["access"]
                assert (await admin.refresh_grant(now.refresh_token.reveal())).status_code == 200
    finally:
        emulator.close()


async def test_a_worker_killed_while_holding_the_lock_blocks_nobody(
    store_location: str, emulator: Emulator, clock: FakeClock, admin: Admin
) -> None:
    """A worker SIGKILLed inside the lock: its lock goes with it (PostgreSQL rolls back), and the refresh goes on."""
    seed = await due_pair(admin, store_location, clock.now())
    with workers(["hold", API_BASE, store_location], env=worker_env(seed)) as (holder,):
        assert first_line(holder) == "locked"
        async with httpx.AsyncClient(base_url=API_BASE + "/", transport=emulator.transport()) as http:
            waiting = provider(http, open_store(store_location, None), seed, clock)
            task = asyncio.ensure_future(waiting.access_token())
            done, _ = await asyncio.wait([task], timeout=0.5)
            assert not done, "the provider refreshed while another worker held the lock"
            os.kill(holder.pid, signal.SIGKILL)
            token = await asyncio.wait_for(task, WORKER_TIMEOUT_S)
    assert holder.wait(timeout=WORKER_TIMEOUT_S) == -signal.SIGKILL
    assert await admin.grants() == {"refresh_token": {"granted": 1, "refused": 0}}
    assert stored(store_location, seed).access_token == Secret(token)


# ------------------------------------------------------------------------------------------ PostgreSQL


def password_of(location: str) -> list[str]:
    """The password in a PostgreSQL URL (none for a file)."""
    if not location.startswith("postgresql://"):
        return []
    from psycopg.conninfo import conninfo_to_dict

    password = conninfo_to_dict(location).get("password")
    return [str(password)] if password else []


def pair_of(seed: str, access: str, *, updated_at: float = 1_800_000_000.0, lineage: str | None = "") -> TokenSet:
    return TokenSet(
        access_token=Secret(access),
        refresh_token=Secret(seed),
        access_expires_at=updated_at + 30 * DAY,
        refresh_expires_at=updated_at + 60 * DAY,
        app_id=SEED_APP_ID,
        updated_at=updated_at,
        seed=fingerprint(Secret(seed)) if lineage == "" else lineage,
    )


async def test_each_lineage_has_a_row_of_its_own(postgres_url: str) -> None:
    """Two seeds of one app keep two rows; a seed with no row starts from `auth login`'s, or from none."""
    first = pair_of("pinr_canary_lineage_a", "pina_canary_a")
    second = pair_of("pinr_canary_lineage_b", "pina_canary_b")
    open_store(postgres_url, "pinr_canary_lineage_a").save(first)
    open_store(postgres_url, "pinr_canary_lineage_b").save(second)
    assert open_store(postgres_url, "pinr_canary_lineage_a").load() == first
    assert open_store(postgres_url, "pinr_canary_lineage_b").load() == second
    assert open_store(postgres_url, "pinr_canary_lineage_c").load() is None
    assert open_store(postgres_url, "pinr_canary_lineage_a", api_base="http://elsewhere/v5").load() is None

    rotated_from_a = pair_of("pinr_canary_rotated_a", "pina_canary_ra", lineage=first.seed)
    open_store(postgres_url, "pinr_canary_lineage_a").save(rotated_from_a)
    assert open_store(postgres_url, "pinr_canary_rotated_a").load() == rotated_from_a  # the env holds its token

    logged_in = pair_of("pinr_canary_login", "pina_canary_login", lineage=None)
    open_store(postgres_url, None).save(logged_in)
    assert open_store(postgres_url, None).load() == logged_in
    assert open_store(postgres_url, "pinr_canary_lineage_c").load() == logged_in
    assert open_store(postgres_url, "pinr_canary_lineage_b").load() == second


async def test_workers_starting_together_create_the_table_once(postgres_url: str) -> None:
    """Eight first uses at once on an empty database: one table, one row, no error (the advisory lock)."""
    pair = pair_of("pinr_canary_first_use", "pina_canary_first_use")

    async def first_use() -> None:
        store = PostgresTokenStore(postgres_url, api_base=API_BASE, app_id=SEED_APP_ID, seed=pair.seed)
        async with store.lock(pair) as locked:
            if await locked.load() is None:
                await locked.save(pair)

    await asyncio.gather(*(first_use() for _ in range(8)))
    assert open_store(postgres_url, "pinr_canary_first_use").load() == pair


async def test_a_row_of_a_newer_format_is_refused(postgres_url: str) -> None:
    """A row written by a newer pinaudience (a higher `format`) is a StateError, never misread."""
    import psycopg

    pair = pair_of("pinr_canary_format", "pina_canary_format")
    store = open_store(postgres_url, "pinr_canary_format")
    store.save(pair)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE pinaudience_tokens SET format = format + 1")
    with pytest.raises(StateError, match="written by a newer pinaudience"):
        store.load()


async def test_a_lock_held_too_long_is_a_state_error(postgres_url: str) -> None:
    """A worker waiting longer than `lock_timeout_s` for the row gives up with a StateError, not a hang."""
    pair = pair_of("pinr_canary_timeout", "pina_canary_timeout")
    holder = PostgresTokenStore(postgres_url, api_base=API_BASE, app_id=SEED_APP_ID, seed=pair.seed)
    holder.save(pair)
    waiter = PostgresTokenStore(postgres_url, api_base=API_BASE, app_id=SEED_APP_ID, seed=pair.seed, lock_timeout_s=0.2)
    async with holder.lock(pair):
        with pytest.raises(StateError, match="another worker held its row") as caught:
            async with waiter.lock(pair):
                pass
    assert password_of(postgres_url)[0] not in str(caught.value)
    async with waiter.lock(pair) as locked:
        assert await locked.load() == pair


async def test_a_cancelled_wait_for_the_row_leaves_no_lock_behind(postgres_url: str) -> None:
    """A worker cancelled while it waits for the row stops waiting: once the holder is done, the row is free."""
    pair = pair_of("pinr_canary_cancel", "pina_canary_cancel")
    holder = PostgresTokenStore(postgres_url, api_base=API_BASE, app_id=SEED_APP_ID, seed=pair.seed)
    holder.save(pair)
    waiter = PostgresTokenStore(postgres_url, api_base=API_BASE, app_id=SEED_APP_ID, seed=pair.seed)

    async def wait_for_the_row() -> None:
        async with waiter.lock(pair):
            pytest.fail("the waiter got the row while the holder held it")

    async with holder.lock(pair):
        task = asyncio.ensure_future(wait_for_the_row())
        done, _ = await asyncio.wait([task], timeout=0.3)
        assert not done
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    third = PostgresTokenStore(postgres_url, api_base=API_BASE, app_id=SEED_APP_ID, seed=pair.seed, lock_timeout_s=2)
    async with third.lock(pair) as locked:
        assert await locked.load() == pair


@pytest.mark.parametrize("cause", ["unreachable", "wrong password"])
async def test_a_failing_server_is_a_state_error_without_the_password(
    cause: str, request: pytest.FixtureRequest, emulator: Emulator, clock: FakeClock
) -> None:
    """No server, or a refused password: StateError naming the action and the URL with `***`, never the password."""
    canary = "canary-pw-8f3a1c"
    if cause == "unreachable":
        url = f"postgresql://pinaudience:{canary}@127.0.0.1:{free_port()}/tokens"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.url(password=canary)
    store = PostgresTokenStore(url, api_base=API_BASE, app_id=SEED_APP_ID, seed=None)
    with pytest.raises(StateError) as read:
        store.load()
    seed = pair_of("pinr_canary_failing", "pina_canary_failing")
    async with httpx.AsyncClient(base_url=API_BASE + "/", transport=emulator.transport()) as http:
        with pytest.raises(StateError) as refresh:
            await provider(http, store, seed, clock).access_token()
    assert store.location == url.replace(canary, "***")
    assert str(read.value).startswith(f"Cannot read the token store {store.location} (OperationalError")
    for error in (read.value, refresh.value):
        assert store.location in str(error)
        assert canary not in str(error)
        assert canary not in repr(error.to_dict())


async def test_auth_login_writes_the_row_workers_start_from(
    postgres_url: str, static_settings: PinterestSettings, emulator: Emulator, clock: FakeClock, admin: Admin
) -> None:
    """`auth login` into PostgreSQL: the login row, which `auth status` and every worker of the app start from."""
    creds = Credentials(app_id=SEED_APP_ID, app_secret=Secret(SEED_APP_SECRET), token_store=postgres_url)
    settings = dataclasses.replace(static_settings, credentials=creds)
    assert read_token_status(settings, clock=clock) is None
    redirect_uri = "http://127.0.0.1:8085/callback"
    url = authorize_url(
        app_id=SEED_APP_ID, redirect_uri=redirect_uri, state="s", authorize_base=authorize_base_for(API_BASE)
    )
    page = await admin.http.get(url)
    code = parse_qs(urlsplit(page.headers["location"]).query)["code"][0]
    status = await login_with_code(
        settings, code=code, redirect_uri=redirect_uri, transport=emulator.transport(), clock=clock
    )
    redacted = postgres_url.replace(password_of(postgres_url)[0], "***")
    assert status.store_path == redacted
    logged_in = open_store(postgres_url, None).load()
    assert logged_in is not None
    assert logged_in.seed is None
    assert logged_in.refresh_token is not None
    assert open_store(postgres_url, "pinr_canary_other_seed").load() == logged_in  # as the file store: login wins
    read = read_token_status(settings, clock=clock)
    assert read is not None
    assert read.store_path == redacted
    assert logged_in.refresh_token.reveal() not in json.dumps(read.to_dict())


def test_auth_status_on_an_unreachable_database_is_a_state_error_without_the_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`auth status` against a server that is not there: exit 1, `state_error`, the URL with `***`."""
    monkeypatch.setenv("PINAUDIENCE_DEBUG", "1")
    canary = "canary-pw-cli-51d2"
    url = f"postgresql://pinaudience:{canary}@127.0.0.1:{free_port()}/tokens"
    assert run(["auth", "status", "--token-store", url, "--api-base", API_BASE]) == 1
    shown = capsys.readouterr()
    assert "error state_error: Cannot read the token store postgresql://pinaudience:***@127.0.0.1:" in shown.err
    assert canary not in shown.out + shown.err


async def test_auth_status_and_refresh_work_with_postgres_and_show_no_secret(
    postgres_url: str,
    emulator: Emulator,
    clock: FakeClock,
    admin: Admin,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`auth status` shows the redacted URL and the expiries; `auth refresh` rotates the row; no secret printed."""
    for name in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_ACCESS_TOKEN", "PINAUDIENCE_STATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PINTEREST_APP_ID", SEED_APP_ID)
    issued = await admin.tokens()
    wall = SystemClock().now()  # the CLI's clock
    logged_in = TokenSet(
        access_token=Secret(issued["access_token"]),
        refresh_token=Secret(issued["refresh_token"]),
        access_expires_at=wall + 30 * DAY,
        refresh_expires_at=wall + 60 * DAY,
        app_id=SEED_APP_ID,
        updated_at=wall,
    )
    open_store(postgres_url, None).save(logged_in)
    assert run(["auth", "status", "--token-store", postgres_url, "--api-base", API_BASE]) == 0
    shown = capsys.readouterr()
    redacted = postgres_url.replace(password_of(postgres_url)[0], "***")
    assert f"refresh token from token store: {redacted}" in shown.out
    assert run(["auth", "status", "--token-store", postgres_url, "--api-base", API_BASE, "--json"]) == 0
    as_json = capsys.readouterr()
    assert json.loads(as_json.out)["store_path"] == redacted

    settings = PinterestSettings(
        ad_account_id=SEED_AD_ACCOUNT_ID,
        credentials=Credentials(app_id=SEED_APP_ID, app_secret=Secret(SEED_APP_SECRET), token_store=postgres_url),
        api_base=API_BASE,
    )
    status = await refresh_now(settings, transport=emulator.transport(), clock=clock)
    assert status.store_path == redacted
    rotated = open_store(postgres_url, None).load()
    assert rotated is not None
    assert rotated.access_token != logged_in.access_token
    assert await admin.grants() == {"refresh_token": {"granted": 1, "refused": 0}}
    assert rotated.refresh_token is not None
    assert rotated.access_token is not None
    secrets = [*password_of(postgres_url), issued["access_token"], issued["refresh_token"]]
    secrets += [rotated.refresh_token.reveal(), rotated.access_token.reveal()]
    for text in (shown.out, shown.err, as_json.out, as_json.err, repr(status.to_dict())):
        for secret in secrets:
            assert secret not in text
