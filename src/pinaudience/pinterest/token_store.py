"""The token store: one token pair in a JSON file (mode 0600), replaced durably, and which pair to start from.

Every Pinterest refresh rotates the refresh token and kills the old one, so the providers write the new
pair here BEFORE the new access token is used (`support.files.write_atomic`, durable): a crash at any
instant leaves a live refresh token on disk. Processes sharing one store take its file lock while they
refresh.

Which refresh token wins at start (`choose_tokens`): the environment's is the seed; the store remembers
a fingerprint of the seed its tokens descend from (`seed`). The store wins while the environment still
holds that seed (or holds nothing, or the store came from `auth login`); a different refresh token in
the environment is a new seed and starts a new lineage.
"""

from __future__ import annotations

import json
from pathlib import Path

from filelock import AsyncFileLock

from pinaudience.errors import ConfigError, StateError
from pinaudience.pinterest.settings import Credentials
from pinaudience.pinterest.tokens import TokenSet, fingerprint
from pinaudience.support.files import write_atomic
from pinaudience.support.paths import default_token_store
from pinaudience.support.secret import Secret


def token_store_path(credentials: Credentials) -> Path:
    """The configured token store, or the default one (`pinaudience.support.paths.default_token_store`)."""
    return credentials.token_store or default_token_store()


class TokenStore:
    """A JSON file holding one token pair, readable by its owner only, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> TokenSet | None:
        """The stored pair, or None when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(
                f"Cannot read the token store {self.path} ({type(exc).__name__}).",
                resolution="Make the token store readable by this user, or point --token-store elsewhere.",
            ) from None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ConfigError(
                f"The token store {self.path} is not a pinaudience token file.",
                resolution="Move it away and run `pinaudience auth login` to create a new one.",
            )
        return TokenSet.from_json(data)

    def save(self, tokens: TokenSet) -> None:
        """Write `tokens` durably (`support.files.write_atomic`): mode 0600, fsynced, then renamed into place."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(self.path, json.dumps(tokens.to_json(), indent=2), durable=True, mode=0o600)
        except OSError as exc:
            raise StateError(
                f"Cannot write the token store {self.path} ({type(exc).__name__}); Pinterest has already "
                "rotated the refresh token, so the old one no longer works.",
                resolution="Make the token store's folder writable, then run `pinaudience auth login`.",
            ) from None

    def lock(self) -> AsyncFileLock:
        """A lock other processes sharing this store respect while they refresh."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return AsyncFileLock(str(self.path) + ".lock", timeout=120, mode=0o600)


def choose_tokens(
    stored: TokenSet | None,
    *,
    app_id: str | None,
    seed_refresh_token: Secret | None,
    seed_access_token: Secret | None = None,
) -> tuple[TokenSet, str]:
    """The pair to start from, and where it came from (`token store` or `environment`); see the module doc."""
    seed = fingerprint(seed_refresh_token) if seed_refresh_token else None
    if stored is not None and stored.refresh_token is not None and stored.app_id in (None, app_id):
        same_lineage = seed is None or stored.seed in (None, seed) or stored.refresh_token == seed_refresh_token
        if same_lineage:
            return stored, "token store"
    return (
        TokenSet(access_token=seed_access_token, refresh_token=seed_refresh_token, app_id=app_id, seed=seed),
        "environment",
    )
