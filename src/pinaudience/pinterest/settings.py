"""The connection to Pinterest: the environment names of Pinterest's SDK, credentials and client settings.

They sit beside the client that reads them; `pinaudience.config` loads them from a file, the
environment and flags, and re-exports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pinaudience.pinterest import limits
from pinaudience.support.paths import default_token_store
from pinaudience.support.redact import redact_url
from pinaudience.support.secret import Secret

__all__ = [
    "ENV_ACCESS_TOKEN",
    "ENV_API_URI",
    "ENV_APP_ID",
    "ENV_APP_SECRET",
    "ENV_CONVERSION_TOKEN",
    "ENV_RATE_LIMIT_URL",
    "ENV_REFRESH_TOKEN",
    "RATE_LIMIT_SCOPE_PATTERN",
    "Credentials",
    "PinterestSettings",
    "Secret",
    "default_token_store",
]

ENV_ACCESS_TOKEN = "PINTEREST_ACCESS_TOKEN"  # noqa: S105 - a variable name, not a secret
ENV_REFRESH_TOKEN = "PINTEREST_REFRESH_ACCESS_TOKEN"  # noqa: S105 - a variable name
ENV_APP_ID = "PINTEREST_APP_ID"
ENV_APP_SECRET = "PINTEREST_APP_SECRET"  # noqa: S105 - a variable name
ENV_API_URI = "PINTEREST_API_URI"
ENV_CONVERSION_TOKEN = "PINTEREST_CONVERSION_TOKEN"  # noqa: S105 - a variable name
"""A conversion access token from Pinterest Ads Manager, for `events/create` only (`Credentials.conversion_token`).
Pinterest's SDK names none; this follows its `PINTEREST_` names."""
ENV_RATE_LIMIT_URL = "PINAUDIENCE_RATE_LIMIT_URL"
"""The shared rate limiter's Redis URL, when neither the config file nor `--rate-limit-url` gives one."""

RATE_LIMIT_SCOPE_PATTERN = re.compile(r"^[A-Za-z0-9_.:@=-]{1,200}$")
"""What `rate_limit_scope` may hold: it becomes part of Redis keys and a Cluster hash tag (no braces, no spaces)."""


@dataclass(frozen=True, repr=False)
class Credentials:
    """How to authenticate: a static access token, or a refresh token with the app's id and secret."""

    access_token: Secret | None = None
    """A Pinterest access token (`pina...`); used as is until it expires."""
    refresh_token: Secret | None = None
    """A continuous refresh token (`pinr...`); rotated on every refresh and written to `token_store`."""
    app_id: str | None = None
    """The Pinterest app id that issued the refresh token."""
    app_secret: Secret | None = None
    """The Pinterest app secret, needed to refresh."""
    token_store: Path | str | None = None
    """Where rotated tokens are kept: a file (mode 0600), or a `postgresql://` URL (the table `pinaudience_tokens`,
    shared by every worker); when it holds a newer refresh token of the same lineage, that one wins."""
    conversion_token: Secret | None = None
    """A conversion access token, generated in Pinterest Ads Manager for sending conversion events
    (`PINTEREST_CONVERSION_TOKEN`): when set, `events/create` is sent with it, and every other call with the
    OAuth token above; unset, conversion events go with the OAuth token (scope `ads:write`). It is long-lived and
    never refreshed; it acts for the user who generated it, on any ad account that user may send events for."""

    @property
    def can_refresh(self) -> bool:
        return bool(self.refresh_token and self.app_id and self.app_secret)

    def __repr__(self) -> str:
        store = redact_url(self.token_store) if isinstance(self.token_store, str) else self.token_store
        return (
            f"Credentials(access_token={self.access_token!r}, refresh_token={self.refresh_token!r}, "
            f"app_id={self.app_id!r}, app_secret={self.app_secret!r}, token_store={store!r}, "
            f"conversion_token={self.conversion_token!r})"
        )


@dataclass(frozen=True)
class PinterestSettings:
    """The connection to Pinterest (or to the emulator)."""

    ad_account_id: str
    """The ad account that owns the customer lists and audiences (digits, at most 18)."""
    credentials: Credentials = field(default_factory=Credentials)
    api_base: str = limits.DEFAULT_API_BASE
    """Base URL of the API, ending in `/v5`; the emulator's URL in tests and the demo."""
    ads_write_limit: limits.RateLimit = limits.STANDARD.ads_write
    """Write calls allowed per window (Pinterest standard access: 400/60); lower it if other tools share the quota."""
    ads_read_limit: limits.RateLimit = limits.STANDARD.ads_read
    """Read calls allowed per window (Pinterest standard access: 1000/60)."""
    ads_conversions_limit: limits.RateLimit = limits.ADS_CONVERSIONS
    """`events/create` calls allowed per window for EACH ad account (Pinterest: 5000/60 per ad account, whoever
    calls); lower it if other tools send events to the same ad account."""
    per_second: int = limits.STANDARD.per_second
    """Calls per second across all categories."""
    timeout_s: float = 60.0
    """Timeout of one HTTP request (connect, read, write)."""
    max_attempts: int = 10
    """Attempts per call, the first included, before a retriable failure becomes an error; attempts answered 429
    (rate limited: wait, then try again) count against `max_retry_s` only."""
    max_retry_s: float = 900.0
    """Total time one call may spend retrying before it becomes an error."""
    writes_in_flight: int = limits.DEFAULT_WRITES_IN_FLIGHT
    """Write calls in flight at once, across all lists."""
    writes_in_flight_per_list: int = limits.DEFAULT_WRITES_IN_FLIGHT_PER_LIST
    """Updates of one customer list in flight at once (config key `writes_in_flight_per_list`). Pinterest may
    answer 429 to several writes on one object within a short window; the client then spaces that list's writes
    wider after each 429 on it. Set 1 if Pinterest throttles concurrent writes to one list."""
    rate_limit_url: Secret | None = None
    """A Redis URL (`redis://:PASSWORD@HOST:6379/0`, `rediss://` for TLS): every worker with the same
    `rate_limit_scope` then draws from one budget kept there (`pinterest/redis_ratelimit.py`); None paces this
    process alone. A secret: it may hold the password."""
    rate_limit_scope: str | None = None
    """Who shares the Redis budget: one name per Pinterest user and app. Default: derived from the credentials
    (the app id and a fingerprint of the seed refresh token, or of the static access token), so workers started
    with the same credentials share it; set the same value on workers that hold different seeds for one user."""

    def category_limits(self) -> dict[limits.Category, limits.RateLimit]:
        """The limit of each rate category, as the rate limiters take them (`ads_conversions` per ad account)."""
        return {
            limits.Category.ADS_WRITE: self.ads_write_limit,
            limits.Category.ADS_READ: self.ads_read_limit,
            limits.Category.ADS_CONVERSIONS: self.ads_conversions_limit,
        }
