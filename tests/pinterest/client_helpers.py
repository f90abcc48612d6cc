"""Helpers shared by the Pinterest client's tests: records, and the emulator's admin API."""

from __future__ import annotations

import hashlib

from tests.emulator_admin import EmulatorAdmin

API_BASE = "http://emulator.test/v5"


def hashed(n: int, start: int = 0) -> list[str]:
    """`n` distinct SHA-256 email records."""
    return [hashlib.sha256(f"person{i}@example.com".encode()).hexdigest() for i in range(start, start + n)]


Admin = EmulatorAdmin
