"""Helpers shared by the Pinterest client's tests: the emulator's admin API."""

from __future__ import annotations

from tests.emulator_admin import EmulatorAdmin

Admin = EmulatorAdmin
