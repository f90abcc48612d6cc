"""`check`: credentials, scopes and access verified with reads only, and what it found as JSON without secrets."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import Credentials, PinterestSettings, Secret
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, Emulator
from pinaudience.errors import ConfigError, NotFound
from pinaudience.pinterest.access import CheckResult, check
from pinaudience.pinterest.limits import OPERATIONS, Category
from tests.helpers import hashed_emails
from tests.pinterest.client_helpers import Admin

pytestmark = pytest.mark.anyio


async def writes_seen(admin: Admin) -> list[str]:
    return [
        r["operation"]
        for r in await admin.requests()
        if r["operation"] in OPERATIONS and OPERATIONS[r["operation"]].category is Category.ADS_WRITE
    ]


async def run_check(settings: PinterestSettings, emulator: Emulator, clock: FakeClock, **kw: Any) -> CheckResult:
    return await check(settings, transport=emulator.transport(), clock=clock, **kw)


async def test_static_token_passes_with_reads_only(
    static_settings: PinterestSettings, emulator: Emulator, clock: FakeClock, admin: Admin
) -> None:
    """A good static token: credentials, ad account and list access pass; nothing is written; no token in JSON."""
    result = await run_check(static_settings, emulator, clock, list_name="nightly")
    assert result.ok
    assert [s.name for s in result.steps] == ["credentials", "ad_account", "customer_lists", "customer_list"]
    assert all(s.ok for s in result.steps)
    assert result.ad_account is not None
    assert result.ad_account.id == SEED_AD_ACCOUNT_ID
    assert result.customer_list is None  # not there yet: the first sync creates it
    assert result.token is not None
    assert result.token.kind == "static access token"
    assert result.scopes is None
    text = json.dumps(result.to_dict())
    assert SEED_ACCESS_TOKEN not in text
    assert await writes_seen(admin) == []


async def test_refresh_credentials_report_scopes_and_expiries(
    refresh_settings: PinterestSettings, emulator: Emulator, clock: FakeClock
) -> None:
    """With a refresh token that Pinterest rotates, check knows the scopes and both expiries."""
    emulator.settings.rotate_refresh_token = True  # the spec's refresh answer: a new refresh token and its expiry
    result = await run_check(refresh_settings, emulator, clock)
    assert result.ok
    assert result.scopes == ("ads:read", "ads:write")
    assert result.token is not None
    assert result.token.refresh_expires_in_s is not None
    assert result.token.refresh_expires_in_s > 0
    assert "scopes" in [s.name for s in result.steps]


async def test_a_non_rotating_refresh_leaves_the_refresh_expiry_unknown(
    refresh_settings: PinterestSettings, emulator: Emulator, clock: FakeClock
) -> None:
    """Without rotation Pinterest tells no refresh-token expiry: check still passes, and says it is unknown."""
    emulator.settings.rotate_refresh_token = False
    result = await run_check(refresh_settings, emulator, clock)
    assert result.ok
    assert result.token is not None
    assert result.token.has_refresh_token
    assert result.token.refresh_expires_in_s is None
    assert not result.token.renew_soon


async def test_finds_the_newest_list_by_name_and_an_audience_by_id(
    static_settings: PinterestSettings, connect: Any, emulator: Emulator, clock: FakeClock, admin: Admin
) -> None:
    """By name the most recent list wins; by audience id, the audience and the list it is built on."""
    emulator.settings.audience_on_unmatched = "accept"  # an audience on a list not matched yet is built
    async with connect(static_settings) as client:
        await client.create_customer_list("nightly", hashed_emails(1))
        newest = await client.create_customer_list("nightly", hashed_emails(300))
        audience = await client.create_audience("nightly", newest.id)
    writes_before = await writes_seen(admin)

    by_name = await run_check(static_settings, emulator, clock, list_name="nightly")
    assert by_name.customer_list is not None
    assert by_name.customer_list.id == newest.id

    by_audience = await run_check(static_settings, emulator, clock, audience_id=audience.id)
    assert by_audience.ok
    assert by_audience.audience is not None
    assert by_audience.audience.id == audience.id
    assert by_audience.customer_list is not None
    assert by_audience.customer_list.id == newest.id
    assert await writes_seen(admin) == writes_before


async def test_unknown_list_id_stops_the_check(
    static_settings: PinterestSettings, emulator: Emulator, clock: FakeClock
) -> None:
    """A list id that does not exist ends the check with not_found, which `raise_for_error` raises."""
    result = await run_check(static_settings, emulator, clock, customer_list_id="424242")
    assert not result.ok
    assert result.steps[-1].name == "customer_list"
    assert not result.steps[-1].ok
    assert result.to_dict()["error"]["kind"] == "not_found"
    with pytest.raises(NotFound):
        result.raise_for_error()


async def test_no_access_names_the_account(
    static_settings: PinterestSettings, emulator: Emulator, clock: FakeClock, admin: Admin
) -> None:
    """A user without access fails at the ad account step with insufficient_permissions naming the account."""
    await admin.user("outsider", {})
    pair = await admin.tokens(user="outsider")
    settings = replace(static_settings, credentials=Credentials(access_token=Secret(pair["access_token"])))
    result = await run_check(settings, emulator, clock)
    assert [(s.name, s.ok) for s in result.steps] == [("credentials", True), ("ad_account", False)]
    error = result.to_dict()["error"]
    assert error["kind"] == "insufficient_permissions"
    assert SEED_AD_ACCOUNT_ID in error["resolution"]
    assert pair["access_token"] not in json.dumps(result.to_dict())


async def test_a_token_without_write_scope_is_caught(
    refresh_settings: PinterestSettings, emulator: Emulator, clock: FakeClock, admin: Admin
) -> None:
    """A refresh token granted ads:read only fails the scopes step before any read."""
    pair = await admin.tokens(scopes=["ads:read"])
    settings = replace(
        refresh_settings, credentials=replace(refresh_settings.credentials, refresh_token=Secret(pair["refresh_token"]))
    )
    result = await run_check(settings, emulator, clock)
    assert [(s.name, s.ok) for s in result.steps] == [("credentials", True), ("scopes", False)]
    assert result.to_dict()["error"]["kind"] == "authorization_error"
    assert "ads:write" in result.steps[-1].detail


async def test_no_credentials_is_a_config_error(static_settings: PinterestSettings, emulator: Emulator) -> None:
    """Without any credentials nothing is sent: invalid_config, naming the variables to set."""
    settings = replace(static_settings, credentials=Credentials())
    with pytest.raises(ConfigError, match="PINTEREST_ACCESS_TOKEN"):
        await check(settings, transport=emulator.transport())
