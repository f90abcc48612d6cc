"""Fixtures of the Pinterest client's tests: the event loop backend and a fake clock."""

from __future__ import annotations

import pytest

from pinaudience.clock import FakeClock


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the runtime pinaudience uses)."""
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when something sleeps on it or a test advances it."""
    return FakeClock()
