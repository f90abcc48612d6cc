"""Helpers of the sync engine's tests: customer files, expected records, settings and the emulator's view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pinaudience.config import AudienceSettings, Credentials, PinterestSettings, Secret, Settings
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, Emulator
from pinaudience.engine.report import AudienceReport, RunReport
from tests.emulator_admin import EmulatorAdmin
from tests.helpers import API_BASE

Runner = Callable[..., Awaitable[RunReport]]
"""`await run_sync(settings, events=None, **kw)` (fixture): the engine against the in-process emulator."""


def settings_for(tmp_path: Path, input_file: Path, **audience: Any) -> Settings:
    pinterest = PinterestSettings(
        ad_account_id=SEED_AD_ACCOUNT_ID,
        credentials=Credentials(access_token=Secret(SEED_ACCESS_TOKEN)),
        api_base=API_BASE,
    )
    defaults: dict[str, Any] = {"list_name": "VIP customers"}
    defaults.update(audience)
    return Settings(
        pinterest=pinterest,
        audiences=(AudienceSettings(input=input_file, **defaults),),
        state_dir=tmp_path / "state",
    )


def with_audience(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, audiences=(replace(settings.audiences[0], **changes),))


Admin = EmulatorAdmin


ToAudience = Callable[..., Awaitable[AudienceReport]]
"""`await run_to_audience(settings, **kw)` (fixture): a sync, run again later if its audience was pending."""


def audience_waits(emulator: Emulator) -> bool:
    """Whether this emulator refuses an audience until a list is matched, so that a first sync leaves it pending."""
    settings = emulator.settings
    return settings.processing_delay_s > 0 and settings.audience_on_unmatched == "refuse"


def let_match(emulator: Emulator) -> None:
    """Pinterest finishes matching what it holds (lists created by a test's admin calls, before an audience on them)."""
    emulator.advance(emulator.settings.processing_delay_s + 1.0)


async def applied_writes(admin: Admin) -> list[dict[str, Any]]:
    """Writes Pinterest applied (2xx), without those a rate limit or a fault refused."""
    return await admin.applied_writes()
