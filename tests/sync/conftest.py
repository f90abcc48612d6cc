"""Fixtures of the sync engine's tests: the emulator's admin view and a runner sharing the test's clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import Settings
from pinaudience.emulator import PROFILE_NAMES, Emulator
from pinaudience.engine.events import SyncEvent
from pinaudience.engine.report import AUDIENCE_PENDING, AudienceReport, RunReport
from pinaudience.engine.sync import sync_async
from tests.sync.sync_helpers import Admin, Runner


@pytest.fixture(params=PROFILE_NAMES)
def emulator_profile(request: pytest.FixtureRequest) -> str:
    """Every sync test runs against each emulator profile: Pinterest's known behaviour, and the pessimistic one."""
    profile: str = request.param
    return profile


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


@pytest.fixture
def later(emulator: Emulator, clock: FakeClock) -> Callable[[], None]:
    """`later()`: time passes beyond the emulator's matching delay (`processing_delay_s`), as before a later run."""

    def advance() -> None:
        clock.advance(emulator.settings.processing_delay_s + 1.0)

    return advance


@pytest.fixture
def run_to_audience(run_sync: Runner, later: Callable[[], None]) -> Callable[..., Awaitable[AudienceReport]]:
    """`await run_to_audience(settings)`: a sync, and when its audience waits for Pinterest's matching, a later one.

    For tests about something else than matching: the list and its audience both exist afterwards in every
    profile. Returns the report of the last run.
    """

    async def run(settings: Settings, **kwargs: Any) -> AudienceReport:
        (report,) = (await run_sync(settings, **kwargs)).audiences
        if report.audience_status == AUDIENCE_PENDING:
            later()
            (report,) = (await run_sync(settings, **kwargs)).audiences
        return report

    return run
