"""The token store: where one token pair lives between runs, how workers share it, and which pair to start from.

Every Pinterest refresh rotates the refresh token and kills the old one, so the providers write the new
pair to the store BEFORE the new access token is used: a crash at any instant leaves a live refresh token
behind. Workers sharing one store take its lock while they refresh (`TokenStore.lock`), re-read the pair
under it, and adopt a pair another worker just wrote instead of refreshing with a dead token.

Two stores keep that contract: `FileTokenStore`, one JSON file (mode 0600) replaced durably and locked with
a lock file beside it, and `token_store_pg.PostgresTokenStore`, one row per token lineage in the table
`pinaudience_tokens`, locked with `SELECT ... FOR UPDATE`. `open_token_store` picks the one the
credentials name (a path, or a `postgresql://` URL).

Which refresh token wins at start (`choose_tokens`): the environment's is the seed; the store remembers
a fingerprint of the seed its tokens descend from (`seed`). The store wins while the environment still
holds that seed (or holds nothing, or the store came from `auth login`); a different refresh token in
the environment is a new seed and starts a new lineage.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from filelock import AsyncFileLock

from pinaudience.errors import ConfigError, StateError
from pinaudience.pinterest.settings import Credentials
from pinaudience.pinterest.tokens import TokenSet, fingerprint
from pinaudience.support.files import write_atomic
from pinaudience.support.paths import default_token_store, is_postgres_url
from pinaudience.support.secret import Secret

LOCK_TIMEOUT_S = 120.0
"""How long a worker waits for another one's refresh before it gives up with a StateError."""


class LockedTokens(Protocol):
    """The store while this worker holds its lock: the latest pair, and where a rotated pair goes."""

    async def load(self) -> TokenSet | None:
        """The pair stored now (another worker may have just written it), or None."""
        ...

    async def save(self, tokens: TokenSet) -> None:
        """Write `tokens` durably (committed, fsynced) before returning; StateError when that fails."""
        ...


class TokenStore(Protocol):
    """Where one token pair is kept between runs and shared between workers."""

    @property
    def location(self) -> str:
        """Where the pair is, as shown to people: a path, or a URL without its password."""
        ...

    def exists(self) -> bool:
        """True when the store holds something to start from."""
        ...

    def load(self) -> TokenSet | None:
        """The pair to start from, or None when nothing is stored."""
        ...

    def save(self, tokens: TokenSet) -> None:
        """Write `tokens` durably (`auth login`); StateError when that fails."""
        ...

    def lock(self, tokens: TokenSet) -> AbstractAsyncContextManager[LockedTokens]:
        """Hold the lock on `tokens`' lineage, which every worker sharing it respects while it refreshes."""
        ...


def token_store_location(credentials: Credentials) -> Path | str:
    """The configured token store (a path or a PostgreSQL URL), or the default file."""
    return credentials.token_store or default_token_store()


def open_token_store(credentials: Credentials, *, api_base: str) -> TokenStore:
    """The store `credentials.token_store` names: PostgreSQL for a `postgresql://` URL, else a file.

    In PostgreSQL the row is that of `api_base`, the app id and the environment's refresh token (its
    fingerprint), so that every worker configured alike finds the same pair.
    """
    where = token_store_location(credentials)
    if is_postgres_url(where):
        from pinaudience.pinterest.token_store_pg import PostgresTokenStore

        seed = fingerprint(credentials.refresh_token) if credentials.refresh_token else None
        return PostgresTokenStore(str(where), api_base=api_base, app_id=credentials.app_id, seed=seed)
    return FileTokenStore(Path(where))


class FileTokenStore:
    """A JSON file holding one token pair, readable by its owner only, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def location(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

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

    @contextlib.asynccontextmanager
    async def lock(self, tokens: TokenSet | None = None) -> AsyncIterator[LockedTokens]:
        """The lock file beside the store (`<store>.lock`), which other processes sharing it respect."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        async with AsyncFileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_S, mode=0o600):
            yield _LockedFile(self)


class _LockedFile:
    """The file store under its lock: plain reads and writes (the lock file keeps other writers out)."""

    def __init__(self, store: FileTokenStore) -> None:
        self._store = store

    async def load(self) -> TokenSet | None:
        return self._store.load()

    async def save(self, tokens: TokenSet) -> None:
        self._store.save(tokens)


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
