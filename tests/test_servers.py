"""`require`: a test that needs a server the machine lacks skips locally and fails under `CI=true`."""

from __future__ import annotations

import pytest

from tests.servers import require


def test_a_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CI=true a missing server fails the test: CI cannot pass without having run the server tests."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the server tests"):
        require("redis-server is not installed")


@pytest.mark.parametrize("ci", ["", "false"])
def test_a_missing_server_skips_elsewhere(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    """Outside CI a missing server skips the test, saying how to install it."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="apt-get install"):
        require("redis-server is not installed")
