"""No token, secret or record in any exception or log record, through refreshes, retries and every error kind."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pinaudience.config import Credentials, PinterestSettings, Secret
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_APP_SECRET, SEED_REFRESH_TOKEN
from pinaudience.errors import PinaudienceError
from pinaudience.pinterest.access import check
from tests.helpers import hashed_emails
from tests.pinterest.client_helpers import Admin

pytestmark = pytest.mark.anyio

CANARY_EMAIL = "Canary.Customer@Example.com"


def chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


async def test_no_secret_reaches_an_exception_or_a_log_record(
    refresh_settings: PinterestSettings,
    static_settings: PinterestSettings,
    token_store: Path,
    connect: Any,
    admin: Admin,
    emulator: Any,
    clock: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every token that was ever live, the app secret and a customer email stay out of errors and logs (the bad
    email is refused with the emulator setting strict_records: Pinterest itself accepts it)."""
    await admin.settings(strict_records=True)
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    secrets = {SEED_ACCESS_TOKEN, SEED_REFRESH_TOKEN, SEED_APP_SECRET}

    async def expect_error(call: Any) -> None:
        try:
            await call
        except PinaudienceError as exc:
            errors.append(exc)
        else:
            pytest.fail("expected an error")

    async with connect(refresh_settings) as client:
        created = await client.create_customer_list("privacy", hashed_emails(3))
        secrets.add(json.loads(token_store.read_text())["access_token"])
        secrets.add(json.loads(token_store.read_text())["refresh_token"])
        await admin.faults(
            {"operation": "customer_lists/update", "calls": [1], "revoke": True},
            {"operation": "customer_lists/update", "calls": [2], "status": 429},
            {"operation": "customer_lists/update", "calls": [3], "status": 503},
            {"operation": "customer_lists/update", "calls": [4], "drop": "before"},
        )
        await client.update_customer_list(created.id, "ADD", hashed_emails(3, start=3))
        secrets.add(json.loads(token_store.read_text())["access_token"])
        secrets.add(json.loads(token_store.read_text())["refresh_token"])
        await expect_error(client.create_customer_list("bad", [CANARY_EMAIL]))
        await admin.faults({"operation": "ad_accounts/get", "calls": [1, 2], "revoke": True})
        await expect_error(client.get_ad_account())
        secrets.add(json.loads(token_store.read_text())["refresh_token"])

    latest_refresh = json.loads(token_store.read_text())["refresh_token"]
    await admin.revoke(latest_refresh)
    token_store.unlink()
    stale = replace(
        refresh_settings, credentials=replace(refresh_settings.credentials, refresh_token=Secret(latest_refresh))
    )
    async with connect(stale) as client:
        await expect_error(client.get_ad_account())

    await admin.user("outsider", {})
    outsider = (await admin.tokens(user="outsider"))["access_token"]
    secrets.add(outsider)
    foreign = replace(static_settings, credentials=Credentials(access_token=Secret(outsider)))
    async with connect(foreign) as client:
        await expect_error(client.list_customer_lists())
    result = await check(foreign, transport=emulator.transport(), clock=clock)
    assert result.error is not None
    errors.append(result.error)

    assert {getattr(e, "kind", None) for e in errors} >= {
        "invalid_request",
        "authorization_error",
        "insufficient_permissions",
    }
    texts = [json.dumps(result.to_dict())]
    for error in errors:
        for exc in chain(error):
            texts += [str(exc), repr(exc)]
            if isinstance(exc, PinaudienceError):
                texts.append(json.dumps(exc.to_dict()))
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), record.exc_text or ""]
    assert any("retrying customer_lists/update" in t for t in texts)
    haystack = "\n".join(texts)
    for secret in secrets:
        assert secret not in haystack
    assert CANARY_EMAIL.lower() not in haystack.lower()
