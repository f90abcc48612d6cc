"""Where the client gets its bearer token: a static access token, or one refreshed from a refresh token.

Two kinds of credentials (Pinterest SDK names in the environment):
- a static access token (`PINTEREST_ACCESS_TOKEN`), used as is; a 401 is final;
- a refresh token with the app's id and secret (`PINTEREST_REFRESH_ACCESS_TOKEN`, `PINTEREST_APP_ID`,
  `PINTEREST_APP_SECRET`): the provider gets an access token on first use (unless the token store holds
  a live one), refreshes shortly before it expires, once after a 401, and when the refresh token has
  less than 14 days to live.

Every refresh rotates the refresh token, so the new pair is saved to the token store before it is used
(`token_store`). Refreshes in one process collapse into one request (an asyncio lock); workers sharing
one store (a file, or a PostgreSQL row) take its lock, re-read the pair under it, and adopt a pair another
worker just wrote instead of refreshing a dead token. `token_provider` picks the provider the settings call for.

A conversion access token (`Credentials.conversion_token`, for conversion events only) is a `StaticTokenProvider`
of its own beside those; credentials that hold nothing else get a `MissingTokenProvider` for every other call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

import httpx

from pinaudience.clock import Clock, SystemClock
from pinaudience.errors import ConfigError
from pinaudience.pinterest import limits
from pinaudience.pinterest.events import Observer, TokenRefreshed
from pinaudience.pinterest.oauth import request_token
from pinaudience.pinterest.retry import RetryPolicy
from pinaudience.pinterest.settings import Credentials
from pinaudience.pinterest.token_store import LockedTokens, TokenStore, choose_tokens, open_token_store
from pinaudience.pinterest.tokens import TokenSet, TokenStatus, token_status
from pinaudience.support.secret import Secret

if TYPE_CHECKING:
    from pinaudience.pinterest.settings import PinterestSettings

DEFAULT_EXPIRY_MARGIN_S = 300.0
"""Refresh an access token this long before it expires, so no call starts with a dying token."""


class TokenProvider(Protocol):
    """Where the client gets the bearer token of each request."""

    @property
    def can_refresh(self) -> bool: ...

    async def access_token(self) -> str:
        """A token to send now."""
        ...

    async def refresh_after_unauthorized(self, rejected: str) -> bool:
        """Pinterest answered 401 to `rejected`: True when a different token is now available to try."""
        ...

    def status(self) -> TokenStatus:
        """Expiries and origin of the current tokens, for `check` and the report."""
        ...


class StaticTokenProvider:
    """One access token, used until Pinterest refuses it."""

    can_refresh = False

    def __init__(self, token: Secret, *, clock: Clock | None = None) -> None:
        self._token = token
        self._clock = clock or SystemClock()

    async def access_token(self) -> str:
        return self._token.reveal()

    async def refresh_after_unauthorized(self, rejected: str) -> bool:
        return False

    def status(self) -> TokenStatus:
        return token_status(
            TokenSet(access_token=self._token), self._clock.now(), kind="static access token", source="environment"
        )


class MissingTokenProvider:
    """No OAuth token: the credentials hold only a conversion access token, good for conversion events alone.

    Stands in for the provider `token_provider` could not build, and raises its `ConfigError` when a call other
    than `events/create` asks for a token, so that a setup that only sends events needs nothing else.
    """

    can_refresh = False

    def __init__(self, error: ConfigError) -> None:
        self._error = error

    async def access_token(self) -> str:
        raise self._error

    async def refresh_after_unauthorized(self, rejected: str) -> bool:
        return False

    def status(self) -> TokenStatus:
        raise self._error


class RefreshingTokenProvider:
    """Access tokens from a refresh token, rotated through the token store (see the module doc)."""

    can_refresh = True

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        app_id: str,
        app_secret: Secret,
        clock: Clock,
        store: TokenStore | None,
        seed_refresh_token: Secret | None = None,
        seed_access_token: Secret | None = None,
        retry: RetryPolicy | None = None,
        observer: Observer | None = None,
        expiry_margin_s: float = DEFAULT_EXPIRY_MARGIN_S,
        renew_within_s: float = limits.REFRESH_RENEW_WITHIN_S,
    ) -> None:
        self._http = http
        self._app_id = app_id
        self._app_secret = app_secret
        self._clock = clock
        self._store = store
        self._seed_refresh = seed_refresh_token
        self._seed_access = seed_access_token
        self._retry = retry
        self._observer = observer
        self._margin_s = expiry_margin_s
        self._renew_within_s = renew_within_s
        self._lock = asyncio.Lock()
        self._tokens: TokenSet | None = None
        self._source = "environment"
        self._renewal_futile = False

    def _current(self) -> TokenSet:
        if self._tokens is None:
            self._choose(self._store.load() if self._store is not None else None)
            assert self._tokens is not None
        return self._tokens

    def _choose(self, stored: TokenSet | None) -> None:
        tokens, self._source = choose_tokens(
            stored,
            app_id=self._app_id,
            seed_refresh_token=self._seed_refresh,
            seed_access_token=self._seed_access,
        )
        if tokens.refresh_token is None:
            raise ConfigError(
                "No refresh token: neither PINTEREST_REFRESH_ACCESS_TOKEN nor the token store holds one.",
                resolution="Run `pinaudience auth login`, or set PINTEREST_REFRESH_ACCESS_TOKEN.",
            )
        self._tokens = tokens

    def _refresh_reason(self, tokens: TokenSet, now: float) -> str | None:
        """Why `tokens` must be refreshed before use, or None when they are good."""
        if tokens.access_token is None:
            return "first use"
        if tokens.access_expires_at is not None and tokens.access_expires_at - now <= self._margin_s:
            return "expiring"
        if (
            not self._renewal_futile
            and tokens.refresh_expires_at is not None
            and tokens.refresh_expires_at - now < self._renew_within_s
        ):
            return "refresh token renewal"
        return None

    async def _load(self) -> None:
        """Read the store once, off the event loop (a PostgreSQL store waits on the network)."""
        if self._tokens is None and self._store is not None:
            stored = await asyncio.to_thread(self._store.load)
            if self._tokens is None:
                self._choose(stored)

    async def access_token(self) -> str:
        async with self._lock:
            await self._load()
            tokens = self._current()
            reason = self._refresh_reason(tokens, self._clock.now())
            if reason is not None:
                tokens = await self._refresh(reason)
            assert tokens.access_token is not None
            return tokens.access_token.reveal()

    async def refresh_after_unauthorized(self, rejected: str) -> bool:
        async with self._lock:
            await self._load()
            tokens = self._current()
            if tokens.access_token is not None and tokens.access_token.reveal() != rejected:
                return True  # another task refreshed while this one waited for its answer
            await self._refresh("unauthorized", rejected=rejected)
            return True

    async def refresh_now(self) -> TokenStatus:
        """Refresh at once (`pinaudience auth refresh`), whatever the expiries say."""
        async with self._lock:
            await self._load()
            self._current()
            await self._refresh("requested", force=True)
            return self.status()

    def status(self) -> TokenStatus:
        return token_status(
            self._current(),
            self._clock.now(),
            kind="refresh token",
            source=self._source,
            store_path=self._store.location if self._store else None,
            renew_within_s=self._renew_within_s,
        )

    async def _refresh(self, reason: str, *, rejected: str | None = None, force: bool = False) -> TokenSet:
        async with self._store_lock() as locked:
            if await self._adopt_stored(locked) and not force:
                tokens = self._current()
                if reason == "unauthorized":
                    assert tokens.access_token is not None
                    if tokens.access_token.reveal() != rejected:
                        return tokens
                elif self._refresh_reason(tokens, self._clock.now()) is None:
                    return tokens
            previous = self._current()
            assert previous.refresh_token is not None
            data = await request_token(
                self._http,
                {"grant_type": "refresh_token", "refresh_token": previous.refresh_token.reveal()},
                app_id=self._app_id,
                app_secret=self._app_secret,
                clock=self._clock,
                retry=self._retry,
                observer=self._observer,
            )
            now = self._clock.now()
            fresh = TokenSet.from_token_response(data, now=now, app_id=self._app_id, previous=previous)
            # The old refresh token died when Pinterest answered: the new pair must be on disk before
            # anything uses it, or a crash right after would leave only a dead token behind.
            if locked is not None:
                await locked.save(fresh)
            self._tokens = fresh
            self._source = "pinterest"
            if reason == "refresh token renewal" and self._refresh_reason(fresh, now) == reason:
                self._renewal_futile = True  # Pinterest did not extend it; asking again would not either
            if self._observer is not None:
                self._observer(TokenRefreshed(reason, fresh.access_expires_at, fresh.refresh_expires_at))
            return fresh

    @contextlib.asynccontextmanager
    async def _store_lock(self) -> AsyncIterator[LockedTokens | None]:
        if self._store is None:
            yield None
            return
        async with self._store.lock(self._current()) as locked:
            yield locked

    async def _adopt_stored(self, locked: LockedTokens | None) -> bool:
        """Take a newer pair another worker wrote to the store; True when one was taken."""
        if locked is None or self._tokens is None:
            return False
        stored = await locked.load()
        if stored is None or stored.refresh_token is None or stored.app_id not in (None, self._app_id):
            return False
        mine = self._tokens
        # A pair written in the same clock tick as ours (a coarse or frozen clock) is another worker's too: under
        # the lock the store holds the lineage's latest pair; only one strictly older is left alone.
        newer = (stored.updated_at or 0.0) >= (mine.updated_at or 0.0)
        # Without rotation (a refresh answer with no new refresh token) another run's refresh leaves the same
        # refresh token beside a new access token: that pair is worth taking too.
        same = stored.refresh_token == mine.refresh_token and stored.access_token == mine.access_token
        if same or not newer or stored.seed != mine.seed:
            return False
        self._tokens = stored
        self._source = "token store"
        return True


def token_provider(
    settings: PinterestSettings,
    http: httpx.AsyncClient,
    *,
    clock: Clock,
    retry: RetryPolicy | None = None,
    observer: Observer | None = None,
) -> TokenProvider:
    """The provider `settings.credentials` call for; ConfigError when they are incomplete."""
    creds = settings.credentials
    if creds.app_id and creds.app_secret:
        store = open_token_store(creds, api_base=settings.api_base)
        if creds.refresh_token or store.exists():
            return RefreshingTokenProvider(
                http,
                app_id=creds.app_id,
                app_secret=creds.app_secret,
                clock=clock,
                store=store,
                seed_refresh_token=creds.refresh_token,
                seed_access_token=creds.access_token,
                retry=retry,
                observer=observer,
            )
    if creds.refresh_token and not (creds.app_id and creds.app_secret):
        missing = missing_app_credentials(creds)
        if not creds.access_token:
            raise ConfigError(
                f"A refresh token needs the app's id and secret; {missing} is not set.",
                resolution=f"Set {missing} (the app that issued the refresh token), or use PINTEREST_ACCESS_TOKEN.",
            )
    if creds.access_token:
        return StaticTokenProvider(creds.access_token, clock=clock)
    raise ConfigError(
        "No Pinterest credentials.",
        resolution=(
            "Set PINTEREST_ACCESS_TOKEN, or PINTEREST_REFRESH_ACCESS_TOKEN with PINTEREST_APP_ID and "
            "PINTEREST_APP_SECRET, or run `pinaudience auth login`."
        ),
    )


def missing_app_credentials(creds: Credentials) -> str:
    """The names of the app credentials `creds` lacks, as a user sets them: `PINTEREST_APP_ID and ...`."""
    names = [
        name
        for name, value in (("PINTEREST_APP_ID", creds.app_id), ("PINTEREST_APP_SECRET", creds.app_secret))
        if not value
    ]
    return " and ".join(names)
