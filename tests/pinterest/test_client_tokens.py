"""Tokens against the emulator: first use, expiry, rotation on disk before use, 401s, revocation, OAuth login."""

from __future__ import annotations

import asyncio
import json
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pinaudience.cli.auth import login_with_code, read_token_status, refresh_now
from pinaudience.clock import FakeClock
from pinaudience.config import Credentials, PinterestSettings, Secret
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_APP_ID, SEED_APP_SECRET, SEED_REFRESH_TOKEN, Emulator
from pinaudience.errors import AuthorizationError, StateError
from pinaudience.pinterest.client import PinterestClient
from pinaudience.pinterest.errors import REAUTHORIZE
from pinaudience.pinterest.events import ClientEvent, RequestSent, TokenRefreshed
from pinaudience.pinterest.http import new_http_client
from pinaudience.pinterest.oauth import authorize_base_for, authorize_url, new_state
from pinaudience.pinterest.providers import RefreshingTokenProvider
from pinaudience.pinterest.ratelimit import LocalRateLimiter
from pinaudience.pinterest.retry import RetryPolicy
from pinaudience.pinterest.token_store import FileTokenStore
from pinaudience.pinterest.tokens import TokenSet, fingerprint
from tests.helpers import API_BASE
from tests.pinterest.client_helpers import Admin

pytestmark = pytest.mark.anyio

HOUR = 3600.0
DAY = 86_400.0


def stored_refresh_token(path: Path) -> str:
    return str(json.loads(path.read_text())["refresh_token"])


def with_refresh_token(settings: PinterestSettings, refresh_token: str, **creds: Any) -> PinterestSettings:
    return replace(settings, credentials=replace(settings.credentials, refresh_token=Secret(refresh_token), **creds))


def save_pair(token_store: Path, pair: dict[str, Any], *, now: float, refresh_left_s: float) -> None:
    """Store an emulator token pair as `auth login` would, its refresh token expiring in `refresh_left_s`."""
    FileTokenStore(token_store).save(
        TokenSet(
            access_token=Secret(pair["access_token"]),
            refresh_token=Secret(pair["refresh_token"]),
            access_expires_at=now + pair["expires_in"],
            refresh_expires_at=now + refresh_left_s,
            app_id=SEED_APP_ID,
            updated_at=now,
            seed=fingerprint(Secret(SEED_REFRESH_TOKEN)),
        )
    )


async def test_rotation_is_on_disk_before_each_use(
    refresh_settings: PinterestSettings, token_store: Path, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """First use and expiry each rotate the pair; the store holds the new one before any call uses it."""
    await admin.settings(rotate_refresh_token=True)  # Pinterest's spec: a refresh answers a new refresh token
    pair = await admin.tokens(access_ttl_s=HOUR)
    settings = with_refresh_token(refresh_settings, pair["refresh_token"])
    on_disk_at_send: list[str] = []

    def observe(event: ClientEvent) -> None:
        if isinstance(event, RequestSent) and event.operation != "oauth/token":
            on_disk_at_send.append(stored_refresh_token(token_store))

    async with connect(settings, observer=observe) as client:
        await client.get_ad_account()
        first = stored_refresh_token(token_store)
        assert first != pair["refresh_token"]
        assert stat.S_IMODE(token_store.stat().st_mode) == 0o600
        assert (await admin.refresh_grant(pair["refresh_token"])).status_code == 401  # the seed died

        clock.advance(HOUR - 60)  # inside the expiry margin: refresh before the call, not after a 401
        await client.get_ad_account()
        second = stored_refresh_token(token_store)
        assert second != first
        assert (await admin.refresh_grant(first)).status_code == 401
        assert client.stats.refreshes == 2
        assert on_disk_at_send == [first, second]
    unauthorized = [r for r in await admin.requests() if r["status"] == 401 and r["operation"] != "oauth/token"]
    assert unauthorized == []


async def test_a_401_refreshes_once_and_resends(
    refresh_settings: PinterestSettings, connect: Any, admin: Admin, token_store: Path
) -> None:
    """A revoked access token costs one refresh and one resend; a second 401 is final."""
    events: list[ClientEvent] = []
    settings = replace(
        refresh_settings,
        credentials=replace(refresh_settings.credentials, access_token=Secret(SEED_ACCESS_TOKEN)),
    )
    await admin.faults({"operation": "ad_accounts/get", "calls": [1], "revoke": True})
    async with connect(settings, observer=events.append) as client:
        await client.get_ad_account()
        assert [e.reason for e in events if isinstance(e, TokenRefreshed)] == ["unauthorized"]

        await admin.faults({"operation": "ad_accounts/get", "calls": [1, 2], "revoke": True})
        with pytest.raises(AuthorizationError) as caught:
            await client.get_ad_account()
        assert client.stats.refreshes == 2
        assert client.stats.retries == 0
    assert caught.value.status == 401
    assert caught.value.resolution == REAUTHORIZE


async def test_static_token_401_is_final(static_settings: PinterestSettings, connect: Any, admin: Admin) -> None:
    """Without a refresh token a 401 is an authorization error at once."""
    await admin.revoke(SEED_ACCESS_TOKEN)
    async with connect(static_settings) as client:
        with pytest.raises(AuthorizationError):
            await client.get_ad_account()
        assert client.stats.requests == 1


async def test_revoked_refresh_token_asks_to_reauthorize(
    refresh_settings: PinterestSettings, connect: Any, admin: Admin, token_store: Path
) -> None:
    """A refresh Pinterest refuses is authorization_error with the reauthorize resolution; no call goes out."""
    await admin.revoke(SEED_REFRESH_TOKEN)
    async with connect(refresh_settings) as client:
        with pytest.raises(AuthorizationError) as caught:
            await client.get_ad_account()
    assert caught.value.resolution == REAUTHORIZE
    assert "refused the refresh token" in caught.value.message
    assert [r["operation"] for r in await admin.requests()] == ["oauth/token"]
    assert not token_store.exists()


async def test_concurrent_first_calls_share_one_refresh(
    refresh_settings: PinterestSettings, connect: Any, admin: Admin
) -> None:
    """Ten calls starting together wait for one refresh instead of rotating the token ten times."""
    async with connect(refresh_settings) as client:
        await asyncio.gather(*(client.get_ad_account() for _ in range(10)))
        assert client.stats.refreshes == 1
    operations = [r["operation"] for r in await admin.requests()]
    assert operations.count("oauth/token") == 1
    assert operations.count("ad_accounts/get") == 10


class FullDisk(FileTokenStore):
    """A token store whose writes fail, as on a full or read-only disk."""

    def save(self, tokens: TokenSet) -> None:
        raise StateError(f"Cannot write the token store {self.path} (OSError).")


async def test_a_failed_store_write_stops_before_the_new_token_is_used(
    static_settings: PinterestSettings, emulator: Emulator, clock: FakeClock, admin: Admin, token_store: Path
) -> None:
    """When the rotated pair cannot be saved, the run stops: the new access token is never sent."""
    async with new_http_client(API_BASE, timeout_s=5.0, transport=emulator.transport()) as http:
        provider = RefreshingTokenProvider(
            http,
            app_id=SEED_APP_ID,
            app_secret=Secret(SEED_APP_SECRET),
            clock=clock,
            store=FullDisk(token_store),
            seed_refresh_token=Secret(SEED_REFRESH_TOKEN),
        )
        client = PinterestClient(
            http,
            ad_account_id=static_settings.ad_account_id,
            tokens=provider,
            limiter=LocalRateLimiter.from_settings(static_settings, clock),
            retry=RetryPolicy(clock),
            clock=clock,
        )
        with pytest.raises(StateError, match="Cannot write the token store"):
            await client.get_ad_account()
    assert [r["operation"] for r in await admin.requests()] == ["oauth/token"]


async def test_a_refresh_token_near_expiry_is_renewed_once(
    refresh_settings: PinterestSettings, token_store: Path, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """With under 14 days left the refresh token is rotated; when Pinterest does not extend it, not again."""
    await admin.settings(rotate_refresh_token=True)  # Pinterest's spec: a refresh answers a new refresh token
    pair = await admin.tokens(refresh_ttl_s=10 * DAY)
    save_pair(token_store, pair, now=clock.now(), refresh_left_s=10 * DAY)
    events: list[ClientEvent] = []
    async with connect(refresh_settings, observer=events.append) as client:
        for _ in range(3):
            await client.get_ad_account()
        status = client.tokens.status()
    assert [e.reason for e in events if isinstance(e, TokenRefreshed)] == ["refresh token renewal"]
    assert stored_refresh_token(token_store) != pair["refresh_token"]
    assert status.renew_soon  # the emulator keeps the pair's 10-day lifetime: `auth status` warns


async def test_the_store_outlives_the_environment_seed(
    refresh_settings: PinterestSettings, token_store: Path, connect: Any, admin: Admin
) -> None:
    """The next run with the same (now dead) seed in the environment uses the stored pair, without a refresh."""
    await admin.settings(rotate_refresh_token=True)  # Pinterest's spec: a refresh answers a new refresh token
    async with connect(refresh_settings) as client:
        await client.get_ad_account()
    assert (await admin.refresh_grant(SEED_REFRESH_TOKEN)).status_code == 401
    async with connect(refresh_settings) as client:
        await client.get_ad_account()
        assert client.stats.refreshes == 0
        assert client.tokens.status().source == "token store"


async def test_a_new_seed_in_the_environment_wins(
    refresh_settings: PinterestSettings, token_store: Path, connect: Any, admin: Admin
) -> None:
    """After a reauthorization elsewhere, a different refresh token in the environment replaces the store."""
    async with connect(refresh_settings) as client:
        await client.get_ad_account()
    fresh = await admin.tokens()
    settings = with_refresh_token(refresh_settings, fresh["refresh_token"])
    async with connect(settings) as client:
        await client.get_ad_account()
        assert client.stats.refreshes == 1
    assert json.loads(token_store.read_text())["seed"] == fingerprint(Secret(fresh["refresh_token"]))


async def test_another_process_rotation_is_adopted(
    refresh_settings: PinterestSettings, token_store: Path, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """When another run refreshed the pair meanwhile (rotated or not), this one takes it from the store instead of
    refreshing again."""
    pair = await admin.tokens(access_ttl_s=HOUR)
    settings = with_refresh_token(refresh_settings, pair["refresh_token"])
    async with connect(settings) as first, connect(settings) as second:
        await first.get_ad_account()
        await second.get_ad_account()  # starts from the store `first` wrote
        clock.advance(HOUR)
        await first.get_ad_account()  # rotates again
        await second.get_ad_account()  # its pair is dead: it must adopt `first`'s
        assert second.stats.refreshes == 0
        assert first.stats.refreshes == 2


async def test_login_refresh_and_status(
    refresh_settings: PinterestSettings, token_store: Path, emulator: Emulator, clock: FakeClock, admin: Admin
) -> None:
    """`auth login` against the emulator's authorize page, then `auth refresh` and `auth status`."""
    await admin.settings(rotate_refresh_token=True)  # Pinterest's spec: a refresh answers a new refresh token
    settings = replace(
        refresh_settings,
        credentials=Credentials(app_id=SEED_APP_ID, app_secret=Secret(SEED_APP_SECRET), token_store=token_store),
    )
    assert read_token_status(settings, clock=clock) is None
    state = new_state()
    redirect_uri = "http://127.0.0.1:8085/callback"
    url = authorize_url(
        app_id=SEED_APP_ID, redirect_uri=redirect_uri, state=state, authorize_base=authorize_base_for(API_BASE)
    )
    page = await admin.http.get(url)
    assert page.status_code == 302
    query = parse_qs(urlsplit(page.headers["location"]).query)
    assert query["state"] == [state]

    status = await login_with_code(
        settings, code=query["code"][0], redirect_uri=redirect_uri, transport=emulator.transport(), clock=clock
    )
    assert status.has_refresh_token
    assert status.scope == "ads:read,ads:write"
    logged_in = stored_refresh_token(token_store)

    refreshed = await refresh_now(settings, transport=emulator.transport(), clock=clock)
    assert refreshed.source == "pinterest"
    assert stored_refresh_token(token_store) != logged_in
    assert (await admin.refresh_grant(logged_in)).status_code == 401

    read = read_token_status(settings, clock=clock)
    assert read is not None
    assert read.refresh_expires_in_s == pytest.approx(60 * DAY, abs=5)
    assert not read.renew_soon
    assert "pinr_" not in json.dumps(read.to_dict())


async def test_a_used_code_is_refused(
    refresh_settings: PinterestSettings, emulator: Emulator, clock: FakeClock, admin: Admin
) -> None:
    """An authorization code works once; the second exchange is an authorization error."""
    redirect_uri = "http://127.0.0.1:8085/callback"
    url = authorize_url(
        app_id=SEED_APP_ID, redirect_uri=redirect_uri, state="s", authorize_base=authorize_base_for(API_BASE)
    )
    code = parse_qs(urlsplit((await admin.http.get(url)).headers["location"]).query)["code"][0]
    await login_with_code(
        refresh_settings, code=code, redirect_uri=redirect_uri, transport=emulator.transport(), clock=clock
    )
    with pytest.raises(AuthorizationError, match="refused the authorization code"):
        await login_with_code(
            refresh_settings, code=code, redirect_uri=redirect_uri, transport=emulator.transport(), clock=clock
        )


async def test_a_refresh_without_a_new_refresh_token_keeps_the_stored_one(
    refresh_settings: PinterestSettings, token_store: Path, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """A refresh answer without `refresh_token` keeps the stored one and its expiry; it keeps working."""
    await admin.settings(rotate_refresh_token=False)  # Pinterest's quickstart: the old one, "if not also refreshed"
    pair = await admin.tokens(access_ttl_s=HOUR)
    settings = with_refresh_token(refresh_settings, pair["refresh_token"])
    async with connect(settings) as client:
        await client.get_ad_account()
        first = json.loads(token_store.read_text())
        assert first["refresh_token"] == pair["refresh_token"]
        assert first["access_token"] not in (None, pair["access_token"])
        clock.advance(HOUR)
        await client.get_ad_account()  # the kept refresh token refreshes again
        second = json.loads(token_store.read_text())
        assert client.stats.refreshes == 2
    assert second["refresh_token"] == pair["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token_expires_at"] == first["refresh_token_expires_at"]
    assert stat.S_IMODE(token_store.stat().st_mode) == 0o600


async def test_renewal_without_rotation_is_tried_once_and_keeps_the_token(
    refresh_settings: PinterestSettings, token_store: Path, connect: Any, admin: Admin, clock: FakeClock
) -> None:
    """Near its expiry a refresh token that Pinterest does not rotate is kept, and renewal is not asked again."""
    await admin.settings(rotate_refresh_token=False)
    pair = await admin.tokens(refresh_ttl_s=10 * DAY)
    save_pair(token_store, pair, now=clock.now(), refresh_left_s=10 * DAY)
    events: list[ClientEvent] = []
    async with connect(refresh_settings, observer=events.append) as client:
        for _ in range(3):
            await client.get_ad_account()
        status = client.tokens.status()
    assert [e.reason for e in events if isinstance(e, TokenRefreshed)] == ["refresh token renewal"]
    assert stored_refresh_token(token_store) == pair["refresh_token"]
    assert status.renew_soon


async def test_auth_refresh_without_rotation_keeps_the_logged_in_token(
    refresh_settings: PinterestSettings, token_store: Path, emulator: Emulator, clock: FakeClock, admin: Admin
) -> None:
    """`auth refresh` against a non-rotating Pinterest keeps the refresh token from login and its 60-day expiry."""
    await admin.settings(rotate_refresh_token=False)
    settings = replace(
        refresh_settings,
        credentials=Credentials(app_id=SEED_APP_ID, app_secret=Secret(SEED_APP_SECRET), token_store=token_store),
    )
    redirect_uri = "http://127.0.0.1:8085/callback"
    url = authorize_url(
        app_id=SEED_APP_ID, redirect_uri=redirect_uri, state=new_state(), authorize_base=authorize_base_for(API_BASE)
    )
    query = parse_qs(urlsplit((await admin.http.get(url)).headers["location"]).query)
    await login_with_code(
        settings, code=query["code"][0], redirect_uri=redirect_uri, transport=emulator.transport(), clock=clock
    )
    logged_in = stored_refresh_token(token_store)
    refreshed = await refresh_now(settings, transport=emulator.transport(), clock=clock)
    assert refreshed.source == "pinterest"
    assert stored_refresh_token(token_store) == logged_in
    assert (await admin.refresh_grant(logged_in)).status_code == 200
    assert refreshed.refresh_expires_in_s == pytest.approx(60 * DAY, abs=5)
