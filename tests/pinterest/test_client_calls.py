"""The typed calls against the emulator: shapes, pagination, and the errors that are never retried."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pinaudience.config import Credentials, PinterestSettings, Secret
from pinaudience.emulator import SEED_AD_ACCOUNT_ID
from pinaudience.errors import InsufficientPermissions, InvalidRequest, NotFound
from pinaudience.pinterest.limits import ListOperation
from tests.helpers import hashed_emails
from tests.pinterest.client_helpers import Admin

pytestmark = pytest.mark.anyio


async def test_lists_and_audiences_round_trip(static_settings: PinterestSettings, connect: Any, admin: Admin) -> None:
    """Create, add, remove, read back; ids are strings, counters ints, membership as sent."""
    # Names emulator settings: matching done at once (the audience has a size), a removed audience gone, and no
    # per-object write throttle (writes follow each other at once; the client would learn to space them, with retries).
    await admin.settings(processing_delay_s=0.0, removed_audiences="hidden", list_writes_per_window=None)
    records = hashed_emails(300)
    async with connect(static_settings) as client:
        created = await client.create_customer_list("nightly", records[:200], list_type="EMAIL")
        assert isinstance(created.id, str)
        assert created.id.isdigit()
        assert created.ad_account_id == SEED_AD_ACCOUNT_ID
        assert created.num_uploaded_user_records == 200
        assert created.num_batches == 1

        added = await client.update_customer_list(created.id, ListOperation.ADD, records[200:])
        removed = await client.update_customer_list(created.id, "REMOVE", records[:50])
        assert (added.num_batches, removed.num_batches) == (2, 3)
        assert removed.num_removed_user_records == 50
        assert isinstance(removed.num_uploaded_user_records, int)
        assert sorted(await admin.records(created.id)) == sorted(records[50:])

        fetched = await client.get_customer_list(created.id)
        assert fetched.id == created.id
        assert fetched.status in {"READY", "TOO_SMALL", "PROCESSING"}

        audience = await client.create_audience("nightly", created.id, description="from the CDP")
        assert audience.is_built_on(created.id)
        assert isinstance(audience.size, int)
        assert (await client.get_audience(audience.id)).name == "nightly"
        renamed = await client.update_audience(audience.id, name="nightly v2")
        assert renamed.name == "nightly v2"
        assert [a.id for a in await client.list_audiences()] == [audience.id]

        await client.remove_audience(audience.id)
        with pytest.raises(NotFound):
            await client.get_audience(audience.id)
        assert await client.list_audiences() == []

        account = await client.get_ad_account()
        assert account.id == SEED_AD_ACCOUNT_ID
        assert "OWNER" in account.permissions
        assert client.stats.retries == 0


async def test_listing_follows_bookmarks_past_250(
    static_settings: PinterestSettings, connect: Any, admin: Admin
) -> None:
    """261 lists come back whole from two pages of 250; audiences page the same way."""
    async with connect(static_settings) as client:
        ids = [(await client.create_customer_list(f"list {i}", hashed_emails(1, start=i))).id for i in range(261)]
        listed = await client.list_customer_lists()
        assert sorted(c.id for c in listed) == sorted(ids)
        list_calls = [r for r in await admin.requests() if r["operation"] == "customer_lists/list"]
        assert len(list_calls) == 2

        await admin.settings(audience_on_unmatched="accept")  # audiences on a list not matched yet are built
        big = await client.create_customer_list("big", hashed_emails(300))
        audiences = [(await client.create_audience(f"a{i}", big.id)).id for i in range(5)]
        paged = [a.id async for a in client.iter_audiences(page_size=2)]
        assert sorted(paged) == sorted(audiences)
        assert len([r for r in await admin.requests() if r["operation"] == "audiences/list"]) == 3


async def test_no_access_is_insufficient_permissions(
    static_settings: PinterestSettings, connect: Any, admin: Admin
) -> None:
    """A user without Business Access gets a 403 that names the ad account, at once and without retries."""
    await admin.user("outsider", {})
    pair = await admin.tokens(user="outsider")
    settings = replace(static_settings, credentials=Credentials(access_token=Secret(pair["access_token"])))
    async with connect(settings) as client:
        with pytest.raises(InsufficientPermissions) as caught:
            await client.list_customer_lists()
        assert client.stats.requests == 1
        assert client.stats.retries == 0
    error = caught.value
    assert (error.status, error.code) == (403, 29)
    assert f"ad account {SEED_AD_ACCOUNT_ID}" in error.resolution
    assert error.request_id


async def test_read_only_role_cannot_write(static_settings: PinterestSettings, connect: Any, admin: Admin) -> None:
    """An ANALYST reads the lists but may not create one: insufficient_permissions, not retried."""
    await admin.user("analyst", {SEED_AD_ACCOUNT_ID: "ANALYST"})
    pair = await admin.tokens(user="analyst")
    settings = replace(static_settings, credentials=Credentials(access_token=Secret(pair["access_token"])))
    async with connect(settings) as client:
        assert await client.list_customer_lists() == []
        with pytest.raises(InsufficientPermissions):
            await client.create_customer_list("x", hashed_emails(1))
        assert client.stats.retries == 0


async def test_unknown_ids_are_not_found(static_settings: PinterestSettings, connect: Any) -> None:
    """A list or audience that does not exist is a 404, asked once."""
    async with connect(static_settings) as client:
        with pytest.raises(NotFound) as caught:
            await client.get_customer_list("999999999")
        with pytest.raises(NotFound):
            await client.get_audience("999999999")
        assert client.stats.requests == 2
    assert caught.value.status == 404


async def test_bad_records_are_an_invalid_request_without_the_record(
    static_settings: PinterestSettings, connect: Any, admin: Admin
) -> None:
    """A 400 for a bad record (emulator setting strict_records: Pinterest itself accepts such records) comes back
    with its message, not retried, and never quoting the record."""
    await admin.settings(strict_records=True)
    canary = "Canary.Person@Example.com"
    async with connect(static_settings) as client:
        with pytest.raises(InvalidRequest) as caught:
            await client.create_customer_list("bad", [canary, "ok@example.com"])
        assert client.stats.requests == 1
    error = caught.value
    assert error.status == 400
    assert error.pinterest_message
    assert canary.lower() not in str(error.to_dict()).lower()


async def test_client_side_checks_never_leave_the_machine(static_settings: PinterestSettings, connect: Any) -> None:
    """Empty batches, commas inside records, bad ids and page sizes fail before any request."""
    async with connect(static_settings) as client:
        with pytest.raises(ValueError, match="at least one record"):
            await client.create_customer_list("x", [])
        with pytest.raises(ValueError, match="comma"):
            await client.update_customer_list("1", "ADD", ["a@b.c,d@e.f"])
        with pytest.raises(TypeError):
            await client.update_customer_list("1", "ADD", "a@b.c")
        with pytest.raises(ValueError, match="digits"):
            await client.get_customer_list("12a")
        with pytest.raises(ValueError, match="page_size"):
            await client.list_customer_lists(page_size=251)
        with pytest.raises(ValueError, match="list_type"):
            await client.create_customer_list("x", ["a@b.c"], list_type="PHONE")
        assert client.stats.requests == 0


@pytest.mark.parametrize(("state", "code"), [("DISAPPROVED", 2625), ("UNDER_REVIEW", 2626)])
async def test_a_disapproved_or_reviewed_account_refuses_writes_with_its_own_resolution(
    static_settings: PinterestSettings, connect: Any, admin: Admin, state: str, code: int
) -> None:
    """Writes on an ad account set DISAPPROVED / UNDER_REVIEW (emulator admin state) fail once with code 2625 / 2626."""
    await admin.http.put(f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/state", json={"state": state})
    async with connect(static_settings) as client:
        with pytest.raises(InsufficientPermissions) as raised:
            await client.create_customer_list("nightly", hashed_emails(1))
        assert client.stats.requests == 1
    assert raised.value.code == code
    assert ("disapproved" if code == 2625 else "reviewing") in raised.value.resolution
