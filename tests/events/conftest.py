"""Fixtures of the events engine's tests: an events file on the test's clock, settings, and a runner."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.config import Credentials, EventsSettings, PinterestSettings, Secret, Settings
from pinaudience.emulator import PROFILE_NAMES, SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, Emulator
from pinaudience.engine.conversions import EventsRunReport, send_events_file_async
from pinaudience.engine.events import SyncEvent
from tests.emulator_admin import EmulatorAdmin
from tests.helpers import API_BASE

CANARY_EMAIL = "Canary.Person@Example.com"
CANARY_PHONE = "+1 (555) 867-5309"

EventsRunner = Callable[..., Awaitable[EventsRunReport]]


def email(i: int) -> str:
    return f"buyer{i}@example.com"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_events(path: Path, rows: list[dict[str, Any]], delimiter: str = ",") -> Path:
    """An events file of `rows` (dicts of column to value), columns in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def checkouts(clock: FakeClock, n: int, start: int = 0, *, age_s: float = 3600.0) -> list[dict[str, Any]]:
    """`n` web checkouts, `age_s` before the clock's now, each with its own order id (so its own derived id)."""
    when = int(clock.now() - age_s)
    return [
        {
            "email": email(i),
            "event_time": when,
            "event_name": "checkout",
            "action_source": "web",
            "order_id": f"A-{i}",
            "value": "19.90",
            "currency": "EUR",
        }
        for i in range(start, start + n)
    ]


def events_settings(tmp_path: Path, input_file: Path, *, state: str | None = None, **events: Any) -> Settings:
    pinterest = PinterestSettings(
        ad_account_id=SEED_AD_ACCOUNT_ID,
        credentials=Credentials(access_token=Secret(SEED_ACCESS_TOKEN)),
        api_base=API_BASE,
    )
    return Settings(
        pinterest=pinterest,
        state=state or str(tmp_path / "state"),
        events=(EventsSettings(input=input_file, **events),),
    )


@pytest.fixture(params=PROFILE_NAMES)
def emulator_profile(request: pytest.FixtureRequest) -> str:
    """Every events engine test runs against each emulator profile: Pinterest's known behaviour, and the pessimistic
    one."""
    profile: str = request.param
    return profile


@pytest.fixture
def admin(emulator_client: httpx.AsyncClient) -> EmulatorAdmin:
    return EmulatorAdmin(emulator_client)


@pytest.fixture
def run_events(emulator: Emulator, clock: FakeClock) -> EventsRunner:
    """`await run_events(settings, **kw)`: the events engine against the in-process emulator on the shared clock."""

    async def run(settings: Settings, *, events: list[SyncEvent] | None = None, **kwargs: Any) -> EventsRunReport:
        return await send_events_file_async(
            settings,
            transport=emulator.transport(),
            clock=clock,
            observer=events.append if events is not None else None,
            **kwargs,
        )

    return run
