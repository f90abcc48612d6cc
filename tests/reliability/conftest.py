"""Fixtures of the reliability suite: an emulator that counts sends and knows the canary app, and a harness.

Every test that uses the emulator runs once per emulator profile (`default`, `realistic`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import PROFILE_NAMES, Emulator, EmulatorSettings
from tests.helpers import emulator_http
from tests.reliability.reliability_helpers import Admin, Harness, WireTransport, install_canaries


@pytest.fixture(params=PROFILE_NAMES)
def emulator_profile(request: pytest.FixtureRequest) -> str:
    """Each reliability test that meets Pinterest runs against every emulator profile."""
    profile: str = request.param
    return profile


@pytest.fixture
def emulator(clock: FakeClock, emulator_profile: str) -> Iterator[Emulator]:
    """The in-memory emulator on the test's clock and profile, counting how often each record is sent, with the
    canary app."""
    emu = Emulator(EmulatorSettings.from_profile(emulator_profile, track_sends=True), clock=clock)
    install_canaries(emu)
    yield emu
    emu.close()


@pytest.fixture
async def harness(tmp_path: Path, emulator: Emulator, clock: FakeClock) -> AsyncIterator[Harness]:
    """The engine against the emulator through a wire that remembers secrets, and an admin client beside it."""
    async with emulator_http(emulator) as http:
        yield Harness(
            tmp_path=tmp_path,
            emulator=emulator,
            clock=clock,
            admin=Admin(http),
            wire=WireTransport(emulator.transport(), clock),
        )


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record at DEBUG, pinaudience's and the libraries' alike."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pinaudience")
    return caplog
