"""The token store and the choice between stored and environment tokens, without a server."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pinaudience.config import Secret
from pinaudience.errors import ConfigError
from pinaudience.pinterest.oauth import PINTEREST_AUTHORIZE_URL, authorize_base_for, authorize_url
from pinaudience.pinterest.token_store import FileTokenStore, choose_tokens
from pinaudience.pinterest.tokens import TokenSet, fingerprint, token_status

DAY = 86_400.0


def pair(access: str = "pina_a", refresh: str = "pinr_r", **kw: Any) -> TokenSet:
    return TokenSet(
        access_token=Secret(access),
        refresh_token=Secret(refresh),
        access_expires_at=kw.pop("access_expires_at", 1_000.0),
        refresh_expires_at=kw.pop("refresh_expires_at", 2_000.0),
        scope="ads:read,ads:write",
        app_id=kw.pop("app_id", "1000001"),
        updated_at=kw.pop("updated_at", 500.0),
        **kw,
    )


def test_save_then_load_round_trips_with_mode_0600(tmp_path: Path) -> None:
    """What is saved loads back equal, and only its owner can read the file."""
    store = FileTokenStore(tmp_path / "deep" / "tokens.json")
    tokens = pair(seed="abc")
    store.save(tokens)
    assert store.load() == tokens
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert json.loads(store.path.read_text())["refresh_token"] == "pinr_r"


def test_missing_store_loads_as_none(tmp_path: Path) -> None:
    """No file yet is not an error."""
    assert FileTokenStore(tmp_path / "none.json").load() is None


def test_garbage_store_is_a_config_error(tmp_path: Path) -> None:
    """A file that is not ours is reported, never silently replaced."""
    path = tmp_path / "tokens.json"
    path.write_text("not json")
    with pytest.raises(ConfigError, match="not a pinaudience token file"):
        FileTokenStore(path).load()


class Exploding(TokenSet):
    def to_json(self) -> dict[str, Any]:
        raise OSError("disk full")


def test_failed_write_leaves_the_old_store_whole(tmp_path: Path) -> None:
    """A write that fails half-way leaves the previous pair on disk and no temporary file behind."""
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save(pair(refresh="pinr_old"))
    with pytest.raises(Exception, match="Cannot write the token store"):
        store.save(Exploding(refresh_token=Secret("pinr_new")))
    loaded = store.load()
    assert loaded is not None
    assert loaded.refresh_token == Secret("pinr_old")
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.json"]


def test_tokens_never_show_in_repr() -> None:
    """A TokenSet printed or logged shows no token."""
    text = repr(pair(access="pina_CANARY", refresh="pinr_CANARY"))
    assert "CANARY" not in text


SEED = Secret("pinr_seed")


@pytest.mark.parametrize(
    ("stored", "env", "source"),
    [
        (None, SEED, "environment"),
        (pair(seed=fingerprint(SEED)), SEED, "token store"),  # rotated from this seed: the store is newer
        (pair(seed=None), SEED, "token store"),  # written by `auth login`
        (pair(seed=fingerprint(Secret("pinr_older_seed"))), SEED, "environment"),  # a new seed in the env
        (pair(seed=fingerprint(SEED)), None, "token store"),  # nothing in the environment
        (pair(seed=fingerprint(SEED), app_id="999"), SEED, "environment"),  # another app's tokens
        (pair(refresh="pinr_seed", seed="x"), SEED, "token store"),  # the store holds the seed itself
    ],
)
def test_choose_tokens(stored: TokenSet | None, env: Secret | None, source: str) -> None:
    """The store wins while the environment holds the seed it descends from; a new seed starts over."""
    tokens, where = choose_tokens(stored, app_id="1000001", seed_refresh_token=env)
    assert where == source
    if source == "token store":
        assert tokens is stored
    else:
        assert tokens.refresh_token == env
        assert tokens.seed == (fingerprint(env) if env else None)


def test_status_warns_within_14_days() -> None:
    """Status gives time left, flags a refresh token with under 14 days, and holds no token."""
    now = 1_000_000.0
    soon = token_status(pair(refresh_expires_at=now + 13 * DAY, access_expires_at=now + 3600), now)
    later = token_status(pair(refresh_expires_at=now + 15 * DAY), now)
    assert soon.renew_soon
    assert not later.renew_soon
    assert soon.access_expires_in_s == pytest.approx(3600)
    assert "pina_a" not in json.dumps(soon.to_dict())


def test_authorize_url_carries_the_oauth_parameters() -> None:
    """The authorize URL asks for a code with both ads scopes, our client id, redirect and state."""
    url = authorize_url(app_id="1000001", redirect_uri="http://127.0.0.1:8085/", state="s1")
    parts = urlsplit(url)
    assert url.startswith(PINTEREST_AUTHORIZE_URL)
    assert parse_qs(parts.query) == {
        "client_id": ["1000001"],
        "redirect_uri": ["http://127.0.0.1:8085/"],
        "response_type": ["code"],
        "scope": ["ads:read,ads:write"],
        "state": ["s1"],
    }


def test_authorize_base_follows_the_api_base() -> None:
    """Pinterest's API authorizes at www.pinterest.com; the emulator at its own /oauth/."""
    assert authorize_base_for("https://api.pinterest.com/v5") == PINTEREST_AUTHORIZE_URL
    assert authorize_base_for("http://127.0.0.1:8765/v5") == "http://127.0.0.1:8765/oauth/"
