"""Pinterest's numbers, declared once: the client obeys them and the emulator enforces them.

Sources: ../shared/pinterest/API-NOTES.md (quoted from Pinterest's OpenAPI spec and docs). Pinterest says
its rate limits "are subject to change without notice", so every figure here is a default that settings
can override, never a constant the code assumes elsewhere.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

DEFAULT_API_BASE = "https://api.pinterest.com/v5"
"""Pinterest production; `PINTEREST_API_URI` or `--api-base` points elsewhere (the emulator, a proxy)."""

ID_PATTERN = re.compile(r"^[0-9]{1,18}$")
"""Ad account, customer list and audience ids: digits only, at most 18; always kept as strings."""

MIN_AUDIENCE_RECORDS = 100
"""Pinterest will not build an audience on a list with fewer members ("The API does not accept a lower number")."""

PAGE_SIZE_MAX = 250
PAGE_SIZE_DEFAULT = 25

MAX_RECORDS_PER_REQUEST = 100_000
"""Pinterest documents no maximum; vendors send 1,900 to 100,000 per call. The client never builds a batch
larger than this; the emulator enforces it only when its `max_records_per_request` setting asks."""

MAX_BODY_BYTES = 10_000_000
"""The emulator's default request body ceiling (Pinterest documents none); the client keeps batches below it."""

DEFAULT_BATCH_SIZE = 10_000
"""Records per ADD/REMOVE request unless the user sets `batch_size`."""

DEFAULT_WRITES_IN_FLIGHT = 2
"""Concurrent writes across all lists: enough to reach the ads_write ceiling."""

DEFAULT_WRITES_IN_FLIGHT_PER_LIST = 2
"""Concurrent updates of one customer list. Pinterest may answer 429 "if multiple write operations are applied
to an object within a short time window"; the client meets that by spacing a list's writes wider after each
429 on it, which measured the same with 1 or 2 in flight (docs/benchmarks.md, "Writes to one list"), while 2
keep one list's upload at the write ceiling when Pinterest does not throttle."""


class Category(enum.StrEnum):
    """Pinterest's rate-limit categories for the operations this project uses."""

    ADS_READ = "ads_read"
    ADS_WRITE = "ads_write"
    ADS_CONVERSIONS = "ads_conversions"
    """The Conversions API (`events/create`): limited per ad account, not per user and app."""
    ORG_READ = "org_read"


@dataclass(frozen=True)
class RateLimit:
    """`requests` allowed per `window_s` seconds."""

    requests: int
    window_s: float

    @property
    def per_second(self) -> float:
        return self.requests / self.window_s

    def __str__(self) -> str:
        window = int(self.window_s) if float(self.window_s).is_integer() else self.window_s
        return f"{self.requests}/{window}"

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse `N/SECONDS` (e.g. `400/60`); raises ValueError with a readable message."""
        parts = text.strip().split("/")
        if len(parts) != 2:
            raise ValueError(f"expected N/SECONDS such as 400/60, got {text!r}")
        try:
            requests, window = int(parts[0]), float(parts[1])
        except ValueError:
            raise ValueError(f"expected N/SECONDS such as 400/60, got {text!r}") from None
        if requests < 1 or window <= 0:
            raise ValueError(f"both numbers must be positive in {text!r}")
        return cls(requests, window)


@dataclass(frozen=True)
class Tier:
    """One access tier's limits per user per app."""

    name: str
    ads_read: RateLimit
    ads_write: RateLimit
    per_second: int
    """Requests per second across all calls."""


STANDARD = Tier(
    name="standard",
    ads_read=RateLimit(1_000, 60.0),
    ads_write=RateLimit(400, 60.0),
    per_second=100,
)


@dataclass(frozen=True)
class Operation:
    """One Pinterest operation: its spec operationId, method, path template and rate category."""

    operation_id: str
    method: str
    path: str
    category: Category


OPERATIONS: dict[str, Operation] = {
    op.operation_id: op
    for op in (
        Operation("customer_lists/create", "POST", "/ad_accounts/{ad_account_id}/customer_lists", Category.ADS_WRITE),
        Operation("customer_lists/list", "GET", "/ad_accounts/{ad_account_id}/customer_lists", Category.ADS_READ),
        Operation(
            "customer_lists/get",
            "GET",
            "/ad_accounts/{ad_account_id}/customer_lists/{customer_list_id}",
            Category.ADS_READ,
        ),
        Operation(
            "customer_lists/update",
            "PATCH",
            "/ad_accounts/{ad_account_id}/customer_lists/{customer_list_id}",
            Category.ADS_WRITE,
        ),
        Operation("audiences/create", "POST", "/ad_accounts/{ad_account_id}/audiences", Category.ADS_WRITE),
        Operation("audiences/list", "GET", "/ad_accounts/{ad_account_id}/audiences", Category.ADS_READ),
        Operation("audiences/get", "GET", "/ad_accounts/{ad_account_id}/audiences/{audience_id}", Category.ADS_READ),
        Operation(
            "audiences/update", "PATCH", "/ad_accounts/{ad_account_id}/audiences/{audience_id}", Category.ADS_WRITE
        ),
        Operation("ad_accounts/get", "GET", "/ad_accounts/{ad_account_id}", Category.ADS_READ),
        Operation("oauth/token", "POST", "/oauth/token", Category.ORG_READ),
        Operation("events/create", "POST", "/ad_accounts/{ad_account_id}/events", Category.ADS_CONVERSIONS),
    )
}

ACCESS_TOKEN_TTL_S = 30 * 24 * 3600
"""Pinterest access tokens live 30 days (`expires_in` 2592000)."""

REFRESH_TOKEN_TTL_S = 60 * 24 * 3600
"""Continuous refresh tokens live 60 days and are renewed by every refresh."""

REFRESH_RENEW_WITHIN_S = 14 * 24 * 3600
"""Renew a refresh token once it is this close to expiry."""

REQUIRED_SCOPES = ("ads:read", "ads:write")


class ListOperation(enum.StrEnum):
    """What a customer list update does with its records; Pinterest has no REPLACE."""

    ADD = "ADD"
    REMOVE = "REMOVE"


# The Conversions API (`events/create`) ------------------------------------------------------------------------

ADS_CONVERSIONS = RateLimit(5_000, 60.0)
"""`ads_conversions`: "5,000 calls per minute per ad account" (the spec's `events/create`), whoever calls."""

MAX_EVENTS_PER_REQUEST = 1_000
"""`data` holds 1 to 1,000 events (the spec's `ConversionEvents`: minItems 1, maxItems 1000)."""

CONVERSION_EVENT_NAMES = (
    "add_payment_info", "add_to_cart", "add_to_wishlist", "app_install", "checkout", "custom", "initiate_checkout",
    "lead", "page_visit", "search", "signup", "subscribe", "view_category", "view_content", "watch_video",
)  # fmt: skip
"""`event_name` values the spec lists ("otherwise the event will not be accepted"); typed a plain string there."""

CONVERSION_ACTION_SOURCES = ("app_android", "app_ios", "web", "offline")
"""`action_source` values the spec lists; typed a plain string there."""

CONVERSION_HASHED_FIELDS = (
    "em", "hashed_maids", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id",
)  # fmt: skip
"""`user_data` fields that are arrays of SHA-256 hashes (lowercase hex); `client_ip_address`, `client_user_agent`,
`click_id` and `partner_id` are sent plain."""
