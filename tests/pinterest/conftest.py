"""Fixtures of the Pinterest client's tests: settings pointing at the in-process emulator, and its admin API.

The root conftest provides `clock` (one FakeClock shared by emulator and client), `emulator` and
`emulator_client` (an httpx client on the emulator's root, for the admin API).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import Credentials, PinterestSettings, Secret
from pinaudience.emulator import (
    PROFILE_NAMES,
    SEED_ACCESS_TOKEN,
    SEED_AD_ACCOUNT_ID,
    SEED_APP_ID,
    SEED_APP_SECRET,
    SEED_REFRESH_TOKEN,
    Emulator,
)
from pinaudience.pinterest.client import PinterestClient, open_client
from pinaudience.pinterest.events import Observer
from pinaudience.pinterest.ratelimit import RateLimiter
from tests.helpers import API_BASE
from tests.pinterest.client_helpers import Admin


@pytest.fixture(params=PROFILE_NAMES)
def emulator_profile(request: pytest.FixtureRequest) -> str:
    """Every client test runs against each emulator profile (`default`, `realistic`): right under both."""
    profile: str = request.param
    return profile


@pytest.fixture
def admin(emulator_client: httpx.AsyncClient) -> Admin:
    return Admin(emulator_client)


@pytest.fixture
def static_settings() -> PinterestSettings:
    """The seed access token on the seed ad account, Pinterest's standard limits."""
    return PinterestSettings(
        ad_account_id=SEED_AD_ACCOUNT_ID,
        credentials=Credentials(access_token=Secret(SEED_ACCESS_TOKEN)),
        api_base=API_BASE,
    )


@pytest.fixture
def token_store(tmp_path: Path) -> Path:
    return tmp_path / "state" / "tokens.json"


@pytest.fixture
def refresh_settings(static_settings: PinterestSettings, token_store: Path) -> PinterestSettings:
    """The seed refresh token with the seed app's id and secret, rotating into a temporary token store."""
    return replace(
        static_settings,
        credentials=Credentials(
            refresh_token=Secret(SEED_REFRESH_TOKEN),
            app_id=SEED_APP_ID,
            app_secret=Secret(SEED_APP_SECRET),
            token_store=token_store,
        ),
    )


@pytest.fixture
def connect(emulator: Emulator, clock: FakeClock) -> Any:
    """`connect(settings, **kw)`: `open_client` on the emulator's in-process transport and the shared clock."""

    @asynccontextmanager
    async def connect(
        settings: PinterestSettings,
        *,
        observer: Observer | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> AsyncIterator[PinterestClient]:
        async with open_client(
            settings,
            transport=transport or emulator.transport(),
            clock=clock,
            observer=observer,
            limiter=limiter,
        ) as client:
            yield client

    return connect
