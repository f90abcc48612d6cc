"""Fixtures of the sync engine's tests: the emulator's admin view and a runner sharing the test's clock."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import Settings
from pinaudience.emulator import Emulator
from pinaudience.engine.events import SyncEvent
from pinaudience.engine.report import RunReport
from pinaudience.engine.sync import sync_async
from tests.sync.sync_helpers import Admin, Runner


@pytest.fixture
def admin(emulator_client: httpx.AsyncClient) -> Admin:
    return Admin(emulator_client)


@pytest.fixture
def run_sync(emulator: Emulator, clock: FakeClock) -> Runner:
    """`await run_sync(settings, **kw)`: the engine against the in-process emulator on the shared clock."""

    async def run(settings: Settings, *, events: list[SyncEvent] | None = None, **kwargs: Any) -> RunReport:
        return await sync_async(
            settings,
            transport=emulator.transport(),
            clock=clock,
            observer=events.append if events is not None else None,
            **kwargs,
        )

    return run
