"""Helpers shared by the Pinterest client's tests: the emulator's admin API, and conversion events."""

from __future__ import annotations

import hashlib
from typing import Any

from pinaudience.clock import Clock
from tests.emulator_admin import EmulatorAdmin

Admin = EmulatorAdmin


def conversion_event(index: int, clock: Clock, **changes: Any) -> dict[str, Any]:
    """A checkout event Pinterest processes in every profile (a hashed email, a minute old); `changes` replace or
    add top-level fields."""
    event: dict[str, Any] = {
        "event_name": "checkout",
        "action_source": "web",
        "event_time": int(clock.now()) - 60,
        "event_id": f"order-{index}",
        "user_data": {"em": [hashlib.sha256(f"user{index}@example.com".encode()).hexdigest()]},
        "custom_data": {"currency": "USD", "value": "72.39", "order_id": f"order-{index}"},
    }
    event.update(changes)
    return event


def conversion_events(n: int, clock: Clock, start: int = 0) -> list[dict[str, Any]]:
    """`n` events with distinct event ids, from `start`."""
    return [conversion_event(i, clock) for i in range(start, start + n)]


async def add_ad_account(admin: EmulatorAdmin, account_id: str, owner: str) -> None:
    """A second ad account in the emulator, owned by `owner`."""
    response = await admin.http.post("/_emulator/ad_accounts", json={"id": account_id, "owner": owner})
    response.raise_for_status()
