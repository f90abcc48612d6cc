"""The token model: a pair of tokens with their expiries, and the status shown of it (never the tokens).

`TokenSet` is what the token store holds and what Pinterest's `/oauth/token` answers; `TokenStatus`
is what `auth status`, `check` and the report show. `fingerprint` tells two tokens apart without
keeping either, which is how the store remembers the lineage of its pair (`token_store.choose_tokens`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pinaudience.errors import AuthorizationError
from pinaudience.pinterest import limits
from pinaudience.pinterest.errors import REAUTHORIZE
from pinaudience.support.secret import Secret

STORE_VERSION = 1
"""The `version` written into the token store's JSON."""


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
    """The token store: a path, or a PostgreSQL URL without its password."""
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
    store_path: Path | str | None = None,
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
