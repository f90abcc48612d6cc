"""Fixtures of the CLI tests: one `pinaudience emulator serve` subprocess per session, reset before each test.

Every test that uses the served emulator runs once per emulator profile (`default`, `realistic`): the
profile is applied after each reset, through the admin API, as `emulator serve --profile NAME` would.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinaudience.emulator import PROFILE_NAMES, SEED_ACCESS_TOKEN
from tests.cli.cli_helpers import Served, clean_env

STARTUP_TIMEOUT_S = 30


@pytest.fixture(scope="session")
def served_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`pinaudience emulator serve --port 0`, started as users start it; waits for its `ready` line."""
    home = tmp_path_factory.mktemp("emulator-home")
    process = subprocess.Popen(
        [sys.executable, "-m", "pinaudience", "emulator", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(home),
    )
    try:
        assert process.stdout is not None
        fields: dict[str, str] = {}
        for line in process.stdout:
            if line.strip() == "ready":
                break
            key, _, value = line.strip().partition(": ")
            fields[key] = value
        else:
            pytest.fail("the emulator exited before printing `ready`")
        served = Served(fields["base_url"])
        yield served
        served.http.close()
    finally:
        process.terminate()
        process.wait(timeout=STARTUP_TIMEOUT_S)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(params=PROFILE_NAMES)
def emulator_profile(request: pytest.FixtureRequest) -> str:
    """Each CLI test that meets Pinterest runs against every emulator profile."""
    profile: str = request.param
    return profile


@pytest.fixture
def served(served_emulator: Served, emulator_profile: str) -> Served:
    """The served emulator, freshly seeded in the test's profile: no lists, no faults, an empty request log."""
    served_emulator.reset()
    served_emulator.profile(emulator_profile)
    return served_emulator


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """A clean environment holding the emulator's seed access token, as PINTEREST_ACCESS_TOKEN."""
    return clean_env(home, PINTEREST_ACCESS_TOKEN=SEED_ACCESS_TOKEN)
