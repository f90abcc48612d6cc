"""Tokens: where they are kept, when they are refreshed, and the OAuth steps `pinaudience auth` takes.

Two kinds of credentials (Pinterest SDK names in the environment):
- a static access token (`PINTEREST_ACCESS_TOKEN`), used as is; a 401 is final;
- a refresh token with the app's id and secret (`PINTEREST_REFRESH_ACCESS_TOKEN`, `PINTEREST_APP_ID`,
  `PINTEREST_APP_SECRET`): the provider gets an access token on first use (unless the token store holds
  a live one), refreshes shortly before it expires, once after a 401, and when the refresh token has
  less than 14 days to live.

Every Pinterest refresh rotates the refresh token and kills the old one, so the new pair is written to
the token store (JSON, mode 0600, `os.replace`) BEFORE the new access token is used: a crash at any
instant leaves a live refresh token on disk. Refreshes in one process collapse into one request (an
asyncio lock); processes sharing one store take a file lock and adopt a pair another process just
wrote instead of refreshing a dead token.

Which refresh token wins at start: the environment's is the seed; the store remembers a fingerprint of
the seed its tokens descend from (`seed`). The store wins while the environment still holds that seed
(or holds nothing, or the store came from `auth login`); a different refresh token in the environment
is a new seed and starts a new lineage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit

import httpx
from filelock import AsyncFileLock

from pinaudience.clock import Clock, SystemClock
from pinaudience.errors import AuthorizationError, ConfigError, StateError
from pinaudience.pinterest import limits
from pinaudience.pinterest.errors import REAUTHORIZE, classify, is_retriable, retry_delay_hint, transport_failure
from pinaudience.pinterest.events import Observer, RequestSent, RetryScheduled, TokenRefreshed
from pinaudience.pinterest.http import new_http_client
from pinaudience.pinterest.retry import Retryable, RetryPolicy
from pinaudience.pinterest.settings import Credentials, Secret, default_token_store
from pinaudience.support.files import write_atomic

if TYPE_CHECKING:
    from pinaudience.pinterest.settings import PinterestSettings

PINTEREST_AUTHORIZE_URL = "https://www.pinterest.com/oauth/"
TOKEN_PATH = "oauth/token"  # noqa: S105 - a URL path, relative to the API base
STORE_VERSION = 1

DEFAULT_EXPIRY_MARGIN_S = 300.0
"""Refresh an access token this long before it expires, so no call starts with a dying token."""


# ---------------------------------------------------------------------------------------------- tokens


def fingerprint(token: Secret) -> str:
    """A short digest that tells two tokens apart without holding either."""
    return hashlib.sha256(token.reveal().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TokenSet:
    """An access token and a refresh token with their expiries (Unix seconds); secrets stay `Secret`."""

    access_token: Secret | None = None
    refresh_token: Secret | None = None
    access_expires_at: float | None = None
    refresh_expires_at: float | None = None
    scope: str | None = None
    app_id: str | None = None
    updated_at: float | None = None
    """When Pinterest issued this pair; None for a seed from the environment."""
    seed: str | None = None
    """Fingerprint of the environment refresh token this pair descends from; None after `auth login`."""

    @property
    def scopes(self) -> tuple[str, ...] | None:
        if self.scope is None:
            return None
        return tuple(s for s in self.scope.replace(" ", ",").split(",") if s)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STORE_VERSION,
            "app_id": self.app_id,
            "access_token": self.access_token.reveal() if self.access_token else None,
            "access_token_expires_at": self.access_expires_at,
            "refresh_token": self.refresh_token.reveal() if self.refresh_token else None,
            "refresh_token_expires_at": self.refresh_expires_at,
            "scope": self.scope,
            "updated_at": self.updated_at,
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenSet:
        def secret(key: str) -> Secret | None:
            value = data.get(key)
            return Secret(value) if isinstance(value, str) and value else None

        def number(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        return cls(
            access_token=secret("access_token"),
            refresh_token=secret("refresh_token"),
            access_expires_at=number("access_token_expires_at"),
            refresh_expires_at=number("refresh_token_expires_at"),
            scope=text("scope"),
            app_id=text("app_id"),
            updated_at=number("updated_at"),
            seed=text("seed"),
        )

    @classmethod
    def from_token_response(
        cls, data: dict[str, Any], *, now: float, app_id: str, previous: TokenSet | None = None
    ) -> TokenSet:
        """The pair in Pinterest's `/oauth/token` answer; a missing refresh token keeps `previous`'s."""
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise AuthorizationError(
                "Pinterest's token answer held no access token.", resolution=REAUTHORIZE, operation="oauth/token"
            )
        expires_in = data.get("expires_in")
        refresh = data.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            refresh_token: Secret | None = Secret(refresh)
            refresh_expires_at: float | None = None
            if isinstance(data.get("refresh_token_expires_at"), int | float):
                refresh_expires_at = float(data["refresh_token_expires_at"])
            elif isinstance(data.get("refresh_token_expires_in"), int | float):
                refresh_expires_at = now + float(data["refresh_token_expires_in"])
        else:
            refresh_token = previous.refresh_token if previous else None
            refresh_expires_at = previous.refresh_expires_at if previous else None
        scope = data.get("scope")
        return cls(
            access_token=Secret(access),
            refresh_token=refresh_token,
            access_expires_at=now + float(expires_in) if isinstance(expires_in, int | float) else None,
            refresh_expires_at=refresh_expires_at,
            scope=scope if isinstance(scope, str) else (previous.scope if previous else None),
            app_id=app_id,
            updated_at=now,
            seed=previous.seed if previous else None,
        )


@dataclass(frozen=True)
class TokenStatus:
    """What `auth status` and `check` show: expiries and where the tokens came from, never the tokens."""

    kind: str
    """`static access token` or `refresh token`."""
    source: str
    """`environment`, `token store` or `pinterest` (refreshed in this run)."""
    store_path: str | None
    has_access_token: bool
    has_refresh_token: bool
    access_expires_at: float | None
    access_expires_in_s: float | None
    refresh_expires_at: float | None
    refresh_expires_in_s: float | None
    renew_soon: bool
    """The refresh token has less than 14 days to live (a refresh renews it)."""
    scope: str | None
    updated_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def token_status(
    tokens: TokenSet,
    now: float,
    *,
    kind: str = "refresh token",
    source: str = "token store",
    store_path: Path | None = None,
    renew_within_s: float = limits.REFRESH_RENEW_WITHIN_S,
) -> TokenStatus:
    """The status of `tokens` at `now`."""

    def left(at: float | None) -> float | None:
        return None if at is None else at - now

    refresh_left = left(tokens.refresh_expires_at)
    return TokenStatus(
        kind=kind,
        source=source,
        store_path=str(store_path) if store_path else None,
        has_access_token=tokens.access_token is not None,
        has_refresh_token=tokens.refresh_token is not None,
        access_expires_at=tokens.access_expires_at,
        access_expires_in_s=left(tokens.access_expires_at),
        refresh_expires_at=tokens.refresh_expires_at,
        refresh_expires_in_s=refresh_left,
        renew_soon=refresh_left is not None and refresh_left < renew_within_s,
        scope=tokens.scope,
        updated_at=tokens.updated_at,
    )


# ----------------------------------------------------------------------------------------------- store


def token_store_path(credentials: Credentials) -> Path:
    """The configured token store, or the default one (`pinaudience.config.default_token_store`)."""
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


# ------------------------------------------------------------------------------------- token endpoint


async def request_token(
    http: httpx.AsyncClient,
    form: dict[str, str],
    *,
    app_id: str,
    app_secret: Secret,
    clock: Clock,
    retry: RetryPolicy | None = None,
    observer: Observer | None = None,
    refused: str = "Pinterest refused the refresh token.",
) -> dict[str, Any]:
    """POST `form` to `/oauth/token` with HTTP Basic app credentials; the JSON answer.

    429, 5xx and network failures are retried by `retry`; any other refusal is an AuthorizationError
    whose message starts with `refused`.
    """
    policy = retry or RetryPolicy(clock, max_attempts=3, max_retry_s=60.0)
    operation = "oauth/token"

    async def attempt(number: int) -> dict[str, Any]:
        if observer is not None:
            observer(RequestSent(operation=operation, attempt=number))
        try:
            response = await http.post(TOKEN_PATH, data=form, auth=httpx.BasicAuth(app_id, app_secret.reveal()))
        except httpx.TransportError as exc:
            raise transport_failure(exc, operation=operation) from None
        error = classify(response, operation=operation)
        if error is None:
            data = response.json()
            if not isinstance(data, dict):
                raise AuthorizationError("Pinterest's token answer was not an object.", resolution=REAUTHORIZE)
            return data
        if is_retriable(error):
            raise Retryable(error, str(response.status_code), retry_delay_hint(response, clock.now()))
        raise AuthorizationError(
            f"{refused} {_after_first_sentence(error.message)}",
            resolution=REAUTHORIZE,
            status=error.status,
            code=error.code,
            pinterest_message=error.pinterest_message,
            request_id=error.request_id,
            operation=operation,
        )

    def on_retry(event: RetryScheduled) -> None:
        if observer is not None:
            observer(event)

    return await policy.run(attempt, operation=operation, on_retry=on_retry)


def _after_first_sentence(message: str) -> str:
    """`classify`'s message without its summary: "Pinterest answered ... with HTTP 401, code 2: ..."."""
    _, _, rest = message.partition(". ")
    return rest or message


async def exchange_code(
    http: httpx.AsyncClient,
    *,
    app_id: str,
    app_secret: Secret,
    code: str,
    redirect_uri: str,
    clock: Clock,
    continuous_refresh: bool = True,
    retry: RetryPolicy | None = None,
) -> TokenSet:
    """Trade an authorization code for a token pair (with a continuous refresh token by default)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if continuous_refresh:
        form["continuous_refresh"] = "true"
    data = await request_token(
        http,
        form,
        app_id=app_id,
        app_secret=app_secret,
        clock=clock,
        retry=retry,
        refused="Pinterest refused the authorization code.",
    )
    return TokenSet.from_token_response(data, now=clock.now(), app_id=app_id)


def new_state() -> str:
    """An unguessable OAuth `state` value, checked when the browser comes back."""
    return secrets.token_urlsafe(24)


def authorize_base_for(api_base: str) -> str:
    """Pinterest's authorize page for its own API; `<origin>/oauth/` for anything else (the emulator)."""
    parts = urlsplit(api_base)
    if parts.hostname in {"api.pinterest.com", "api-sandbox.pinterest.com"}:
        return PINTEREST_AUTHORIZE_URL
    return f"{parts.scheme}://{parts.netloc}/oauth/"


def authorize_url(
    *,
    app_id: str,
    redirect_uri: str,
    state: str,
    scopes: tuple[str, ...] = limits.REQUIRED_SCOPES,
    authorize_base: str = PINTEREST_AUTHORIZE_URL,
) -> str:
    """The page a person opens to let pinaudience act for them."""
    query = urlencode(
        {
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": ",".join(scopes),
            "state": state,
        }
    )
    return f"{authorize_base}?{query}"


# ---------------------------------------------------------------------------------------------- providers


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
            stored = self._store.load() if self._store is not None else None
            self._tokens, self._source = choose_tokens(
                stored,
                app_id=self._app_id,
                seed_refresh_token=self._seed_refresh,
                seed_access_token=self._seed_access,
            )
            if self._tokens.refresh_token is None:
                raise ConfigError(
                    "No refresh token: neither PINTEREST_REFRESH_ACCESS_TOKEN nor the token store holds one.",
                    resolution="Run `pinaudience auth login`, or set PINTEREST_REFRESH_ACCESS_TOKEN.",
                )
        return self._tokens

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

    async def access_token(self) -> str:
        async with self._lock:
            tokens = self._current()
            reason = self._refresh_reason(tokens, self._clock.now())
            if reason is not None:
                tokens = await self._refresh(reason)
            assert tokens.access_token is not None
            return tokens.access_token.reveal()

    async def refresh_after_unauthorized(self, rejected: str) -> bool:
        async with self._lock:
            tokens = self._current()
            if tokens.access_token is not None and tokens.access_token.reveal() != rejected:
                return True  # another task refreshed while this one waited for its answer
            await self._refresh("unauthorized", rejected=rejected)
            return True

    async def refresh_now(self) -> TokenStatus:
        """Refresh at once (`pinaudience auth refresh`), whatever the expiries say."""
        async with self._lock:
            self._current()
            await self._refresh("requested", force=True)
            return self.status()

    def status(self) -> TokenStatus:
        return token_status(
            self._current(),
            self._clock.now(),
            kind="refresh token",
            source=self._source,
            store_path=self._store.path if self._store else None,
            renew_within_s=self._renew_within_s,
        )

    async def _refresh(self, reason: str, *, rejected: str | None = None, force: bool = False) -> TokenSet:
        async with self._store_lock():
            if self._adopt_stored() and not force:
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
            if self._store is not None:
                self._store.save(fresh)
            self._tokens = fresh
            self._source = "pinterest"
            if reason == "refresh token renewal" and self._refresh_reason(fresh, now) == reason:
                self._renewal_futile = True  # Pinterest did not extend it; asking again would not either
            if self._observer is not None:
                self._observer(TokenRefreshed(reason, fresh.access_expires_at, fresh.refresh_expires_at))
            return fresh

    @contextlib.asynccontextmanager
    async def _store_lock(self) -> AsyncIterator[None]:
        if self._store is None:
            yield
            return
        async with self._store.lock():
            yield

    def _adopt_stored(self) -> bool:
        """Take a newer pair another process wrote to the store; True when one was taken."""
        if self._store is None or self._tokens is None:
            return False
        stored = self._store.load()
        if stored is None or stored.refresh_token is None or stored.app_id not in (None, self._app_id):
            return False
        mine = self._tokens
        newer = (stored.updated_at or 0.0) > (mine.updated_at or 0.0)
        if stored.refresh_token == mine.refresh_token or not newer or stored.seed != mine.seed:
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
        path = token_store_path(creds)
        if creds.refresh_token or path.exists():
            return RefreshingTokenProvider(
                http,
                app_id=creds.app_id,
                app_secret=creds.app_secret,
                clock=clock,
                store=TokenStore(path),
                seed_refresh_token=creds.refresh_token,
                seed_access_token=creds.access_token,
                retry=retry,
                observer=observer,
            )
    if creds.refresh_token and not (creds.app_id and creds.app_secret):
        missing = _missing_app_credentials(creds)
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


# ------------------------------------------------------------------------------ the `auth` commands' calls


def _missing_app_credentials(creds: Credentials) -> str:
    names = [
        name
        for name, value in (("PINTEREST_APP_ID", creds.app_id), ("PINTEREST_APP_SECRET", creds.app_secret))
        if not value
    ]
    return " and ".join(names)


def _app_credentials(settings: PinterestSettings) -> tuple[str, Secret]:
    creds = settings.credentials
    if not creds.app_id or not creds.app_secret:
        missing = _missing_app_credentials(creds)
        raise ConfigError(f"{missing} is not set.", resolution="Set the id and secret of your Pinterest app.")
    return creds.app_id, creds.app_secret


async def login_with_code(
    settings: PinterestSettings,
    *,
    code: str,
    redirect_uri: str,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> TokenStatus:
    """`auth login`'s last step: exchange the code, write the pair to the token store, return its status."""
    clock = clock or SystemClock()
    app_id, app_secret = _app_credentials(settings)
    async with new_http_client(settings.api_base, timeout_s=settings.timeout_s, transport=transport) as http:
        tokens = await exchange_code(
            http, app_id=app_id, app_secret=app_secret, code=code, redirect_uri=redirect_uri, clock=clock
        )
    path = token_store_path(settings.credentials)
    TokenStore(path).save(tokens)
    return token_status(tokens, clock.now(), source="pinterest", store_path=path)


async def refresh_now(
    settings: PinterestSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> TokenStatus:
    """`auth refresh`: rotate the pair now and write it to the token store."""
    clock = clock or SystemClock()
    app_id, app_secret = _app_credentials(settings)
    path = token_store_path(settings.credentials)
    async with new_http_client(settings.api_base, timeout_s=settings.timeout_s, transport=transport) as http:
        provider = RefreshingTokenProvider(
            http,
            app_id=app_id,
            app_secret=app_secret,
            clock=clock,
            store=TokenStore(path),
            seed_refresh_token=settings.credentials.refresh_token,
            seed_access_token=settings.credentials.access_token,
        )
        return await provider.refresh_now()


def read_token_status(settings: PinterestSettings, *, clock: Clock | None = None) -> TokenStatus | None:
    """`auth status`: the stored pair's expiries, without asking Pinterest; None when nothing is stored."""
    clock = clock or SystemClock()
    path = token_store_path(settings.credentials)
    stored = TokenStore(path).load()
    if stored is None:
        return None
    return token_status(stored, clock.now(), store_path=path)
