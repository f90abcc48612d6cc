"""`pinaudience auth login|status|refresh` through the real entry point, against the emulator's authorize page.

The browser is an httpx client: it opens the authorize URL the CLI prints, and follows the emulator's
redirect to the CLI's loopback receiver, as a browser would after the user approved.
"""

from __future__ import annotations

import dataclasses
import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pinaudience.cli import run
from pinaudience.config import Secret
from pinaudience.emulator import SEED_APP_ID, SEED_APP_SECRET
from pinaudience.pinterest.token_store import FileTokenStore
from pinaudience.pinterest.tokens import TokenSet
from tests.cli.cli_helpers import ACCOUNT, CLI_TIMEOUT_S, Served, assert_private, clean_env, run_cli
from tests.helpers import emails, write_csv


def app_env(home: Path) -> dict[str, str]:
    """The app's id and secret, and no token: what a user sets after `auth login`."""
    return clean_env(home, PINTEREST_APP_ID=SEED_APP_ID, PINTEREST_APP_SECRET=SEED_APP_SECRET)


@contextmanager
def login(served: Served, store: Path, home: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start `auth login` and yield it with the authorize URL it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pinaudience", "auth", "login", "--app-id", SEED_APP_ID, "--redirect-port", "0",
         "--api-base", served.api_base, "--token-store", str(store), "--no-browser", "--timeout", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(home, PINTEREST_APP_SECRET=SEED_APP_SECRET),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if line.startswith("authorize_url: "):
                url = line.removeprefix("authorize_url: ").strip()
                break
        assert url, "auth login printed no authorize URL"
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=CLI_TIMEOUT_S)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=CLI_TIMEOUT_S)
    return process.returncode, out, err


def test_login_stores_tokens_that_sync_status_and_refresh_use(served: Served, tmp_path: Path, home: Path) -> None:
    """Log in through the authorize page; the tokens (0600) then serve `auth status`, a sync and `auth refresh`."""
    store = tmp_path / "tokens.json"
    with login(served, store, home) as (process, url):
        query = parse_qs(urlsplit(url).query)
        assert query["client_id"] == [SEED_APP_ID]
        assert query["scope"] == ["ads:read,ads:write"]
        browser = httpx.get(url, follow_redirects=True, timeout=10)
        assert browser.status_code == 200
        assert "authorized" in browser.text
        code, out, err = finish(process)
    assert code == 0, err
    assert "Logged in" in out
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    tokens = FileTokenStore(store).load()
    assert tokens is not None
    assert tokens.access_token is not None
    assert tokens.refresh_token is not None
    secrets = (tokens.access_token.reveal(), tokens.refresh_token.reveal())
    for text in (out, err):
        assert all(secret not in text for secret in secrets)

    status = run_cli("auth", "status", "--token-store", store, "--json", env=app_env(home))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["refresh_expires_in_s"] > 59 * 86400

    customers = write_csv(tmp_path / "customers.csv", emails(250))
    synced = run_cli(
        "sync", customers, "--ad-account-id", ACCOUNT, "--list-name", "L", "--api-base", served.api_base,
        "--token-store", store, "--state", tmp_path / "state", "--quiet", env=app_env(home),
    )  # fmt: skip
    assert synced.returncode == 0, synced.stderr
    assert_private(synced, *secrets)

    refreshed = run_cli("auth", "refresh", "--api-base", served.api_base, "--token-store", store, env=app_env(home))
    assert refreshed.returncode == 0, refreshed.stderr
    rotated = FileTokenStore(store).load()
    assert rotated is not None
    assert rotated.refresh_token is not None
    if served.current_settings()["rotate_refresh_token"]:
        assert rotated.refresh_token.reveal() != secrets[1]
    else:  # Pinterest's quickstart: a refresh answer without a new refresh token keeps the old one
        assert rotated.refresh_token.reveal() == secrets[1]
    assert_private(refreshed, *secrets, rotated.refresh_token.reveal())


def test_a_redirect_with_another_state_is_refused(served: Served, tmp_path: Path, home: Path) -> None:
    """A redirect whose `state` is not this login's is an authorization_error, and nothing is stored."""
    store = tmp_path / "tokens.json"
    with login(served, store, home) as (process, url):
        redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        httpx.get(redirect_uri, params={"code": "forged", "state": "not-the-state"}, timeout=10)
        code, _, err = finish(process)
    assert code == 1
    assert "error authorization_error:" in err
    assert "state does not match" in err
    assert not store.exists()


def test_status_warns_under_14_days_and_fails_when_expired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """auth status: a warning when the refresh token has under 14 days; exit 1 once it expired or none is stored."""
    # In process, through the same `run` as the entry point; the library itself writes the store.
    store = str(tmp_path / "tokens.json")
    assert run(["auth", "status", "--token-store", store]) == 1
    assert "auth login" in capsys.readouterr().err

    now = time.time()
    token = TokenSet(
        access_token=Secret("pina_canary_status_access"),
        refresh_token=Secret("pinr_canary_status_refresh"),
        access_expires_at=now + 3 * 86400,
        refresh_expires_at=now + 5 * 86400,
        app_id=SEED_APP_ID,
        updated_at=now,
    )
    FileTokenStore(Path(store)).save(token)
    assert run(["auth", "status", "--token-store", store]) == 0
    soon = capsys.readouterr()
    assert "refresh token expires" in soon.out
    assert "warning" in soon.err
    assert "5.0 days" in soon.err

    FileTokenStore(Path(store)).save(dataclasses.replace(token, refresh_expires_at=now - 60))
    assert run(["auth", "status", "--token-store", store]) == 1
    expired = capsys.readouterr()
    assert "error authorization_error:" in expired.err
    for text in (soon.out, soon.err, expired.out, expired.err):
        assert "canary_status" not in text
