"""The emulator's knobs: rate limits, matching, processing, size limits, latency, and every undocumented behaviour.

Defaults are Pinterest's numbers from `pinaudience.pinterest.limits` and, where Pinterest documents a behaviour or
was observed to have it, that behaviour. Where Pinterest documents nothing, the behaviour is a setting; the
`realistic` profile (`PROFILES`) picks the choice hardest on a client. docs/emulator.md has the table of sources.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from pinaudience.pinterest import limits

DEFAULT_MATCH_RATE = 0.6
"""Share of records that count as Pinterest users; not a Pinterest number (real match rates vary by list)."""

RATE_LIMIT_HINTS = ("none", "retry_after", "reset_seconds", "reset_at", "retry_after_and_reset_at")
"""What a 429 says about when to retry: nothing (as documented), `Retry-After` seconds, `X-RateLimit-Reset` as
seconds from now, `X-RateLimit-Reset` as a Unix time, or `Retry-After` with the Unix-time reset."""
AUDIENCE_ON_UNMATCHED = ("accept", "refuse")
"""An audience created on a list whose records are not matched yet: built (`INITIALIZING`, no size) or refused."""
REMOVED_AUDIENCES = ("hidden", "listed")
"""A removed audience: gone (listings skip it, get answers 404) or still shown with status `REMOVED`."""

UNHASHED_USER_DATA = ("warn", "fail")
"""A conversion event whose hashed `user_data` field (other than `em`) holds a value that is not a SHA-256 hash:
processed with a `warning_message`, or failed (`em` always fails, as Pinterest's SDK tests saw)."""
UPPERCASE_HEX = ("accept", "warn", "fail")
"""A hashed `user_data` value in upper-case (or mixed-case) hex: taken as a hash, taken with a warning, or treated as
a value that is not a hash."""

PROFILE_NAMES = ("default", "realistic")


class SettingsError(ValueError):
    """A settings update named an unknown setting or gave a value of the wrong type or range."""


@dataclass
class EmulatorSettings:
    """Every setting of the emulator; `PUT /_emulator/settings` changes any of them at run time."""

    ads_write_per_window: int = limits.STANDARD.ads_write.requests
    """Requests in the ads_write category allowed per user and app in any `window_s` seconds."""
    ads_read_per_window: int = limits.STANDARD.ads_read.requests
    """Requests in the ads_read category allowed per user and app in any `window_s` seconds."""
    ads_conversions_per_window: int = limits.ADS_CONVERSIONS.requests
    """`events/create` calls allowed per ad account (whoever calls) in any `window_s` seconds."""
    window_s: float = limits.STANDARD.ads_write.window_s
    """Length of the sliding window of every category (`ads_read`, `ads_write`, `ads_conversions`), in seconds."""
    per_second: int = limits.STANDARD.per_second
    """Requests per user and app in any 1-second window, across all categories."""
    rate_limit_hints: str = "none"
    """Headers of a rate-limit 429, one of `RATE_LIMIT_HINTS` (Pinterest documents none for v5)."""
    match_rate: float = DEFAULT_MATCH_RATE
    """Share of records that are Pinterest users (decided per record, deterministically)."""
    processing_delay_s: float = 0.0
    """A list shows PROCESSING for this long after each create or update; matching shows only afterwards."""
    audience_on_unmatched: str = "accept"
    """An audience create on a list still processing with fewer than 100 known matches: `accept` or `refuse`."""
    strict_records: bool = False
    """Refuse a whole create or update (400 code 1) when one record breaks Pinterest's record rules (off: such
    records are accepted and counted, as Pinterest does, and never match)."""
    max_records_per_request: int | None = None
    """Optional: more records than this in one create or update is 400 code 1 (Pinterest documents no ceiling)."""
    max_body_bytes: int = limits.MAX_BODY_BYTES
    """A request body larger than this: 413."""
    gateway_html: bool = False
    """Answers a gateway in front of Pinterest would give (413 for a large body, scripted 502 and 504) come as
    HTML pages instead of Pinterest's JSON error."""
    latency_ms: float = 0.0
    """Fixed time every Pinterest request takes, in milliseconds (slept through the clock)."""
    latency_per_record_us: float = 0.0
    """Extra time per record sent, in microseconds (slept through the clock)."""
    track_sends: bool = False
    """Count how often each record is added and removed (`GET /_emulator/customer_lists/{id}/sends`)."""
    list_writes_per_window: int | None = None
    """Optional: writes allowed to one customer list or audience in any `list_write_window_s` (None: no limit)."""
    list_write_window_s: float = 1.0
    """The window of `list_writes_per_window`, in seconds."""
    fractional_counters: bool = False
    """List counters (`num_batches`, `num_uploaded_user_records`, `num_removed_user_records`) as JSON numbers
    with a fraction (150.0), which the spec's type `number` allows."""
    rotate_refresh_token: bool = True
    """A refresh answers a new refresh token and the old one stops working (off: no refresh token in the answer,
    and the old one stays valid)."""
    error_extra_keys: bool = False
    """Pinterest error bodies carry more keys than `code` and `message` (`status`, `host`, `generated_at`, `data`)."""
    removed_audiences: str = "hidden"
    """A removed audience, one of `REMOVED_AUDIENCES`."""
    unhashed_user_data: str = "warn"
    """A conversion event's hashed `user_data` value that is not a hash, in a field other than `em`: one of
    `UNHASHED_USER_DATA`."""
    uppercase_hex: str = "accept"
    """A conversion event's hashed `user_data` value in upper-case hex: one of `UPPERCASE_HEX`."""
    max_event_age_s: float | None = None
    """Optional: a conversion event whose `event_time` is older than this many seconds fails (None: any age)."""
    dedupe_event_ids: bool = True
    """Events recorded again under an `event_id` already recorded for the ad account count once in `reported` (off:
    every recorded event counts); the answer is the same either way."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `changes` after checking every one of them; on any error nothing changes."""
        if not isinstance(changes, dict):
            raise SettingsError("expected a JSON object of settings")
        checked = {name: _check(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)

    def copy(self) -> EmulatorSettings:
        return dataclasses.replace(self)

    @classmethod
    def from_profile(cls, profile: str, **changes: Any) -> EmulatorSettings:
        """The settings of a profile (`default` or `realistic`), with `changes` applied on top."""
        if profile not in PROFILES:
            raise SettingsError(f"unknown profile {profile!r}; known: {', '.join(PROFILE_NAMES)}")
        settings = cls()
        settings.update({**PROFILES[profile], **changes})
        return settings


PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "realistic": {
        "processing_delay_s": 60.0,
        "audience_on_unmatched": "refuse",
        "rate_limit_hints": "none",
        "list_writes_per_window": 1,
        "list_write_window_s": 1.0,
        "max_body_bytes": 1_000_000,
        "gateway_html": True,
        "fractional_counters": True,
        "rotate_refresh_token": False,
        "error_extra_keys": True,
        "removed_audiences": "listed",
        "unhashed_user_data": "fail",
        "uppercase_hex": "fail",
        "max_event_age_s": 7 * 24 * 3600.0,
        "dedupe_event_ids": False,
    },
}
"""What each profile changes from the defaults. `realistic` turns on every pessimistic choice where Pinterest
documents nothing (docs/emulator.md says why each one)."""


_POSITIVE_INT = {
    "ads_write_per_window", "ads_read_per_window", "ads_conversions_per_window", "per_second", "max_body_bytes",
}  # fmt: skip
_OPTIONAL_POSITIVE_INT = {"list_writes_per_window", "max_records_per_request"}
_POSITIVE_FLOAT = {"window_s", "list_write_window_s"}
_NON_NEGATIVE_FLOAT = {"processing_delay_s", "latency_ms", "latency_per_record_us"}
_OPTIONAL_POSITIVE_FLOAT = {"max_event_age_s"}
_BOOL = {
    "track_sends", "strict_records", "gateway_html", "fractional_counters", "rotate_refresh_token",
    "error_extra_keys", "dedupe_event_ids",
}  # fmt: skip
_CHOICES = {
    "rate_limit_hints": RATE_LIMIT_HINTS,
    "audience_on_unmatched": AUDIENCE_ON_UNMATCHED,
    "removed_audiences": REMOVED_AUDIENCES,
    "unhashed_user_data": UNHASHED_USER_DATA,
    "uppercase_hex": UPPERCASE_HEX,
}


def _check(name: str, value: Any) -> Any:
    known = {f.name for f in dataclasses.fields(EmulatorSettings)}
    if name not in known:
        raise SettingsError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if name in _OPTIONAL_POSITIVE_INT | _OPTIONAL_POSITIVE_FLOAT and value is None:
        return None
    if name in _POSITIVE_INT | _OPTIONAL_POSITIVE_INT:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SettingsError(f"{name} must be a positive integer")
        return value
    if name in _POSITIVE_FLOAT | _OPTIONAL_POSITIVE_FLOAT:
        if not is_number or not math.isfinite(value) or value <= 0:
            raise SettingsError(f"{name} must be a positive number")
        return float(value)
    if name in _NON_NEGATIVE_FLOAT:
        if not is_number or not math.isfinite(value) or value < 0:
            raise SettingsError(f"{name} must be a number >= 0")
        return float(value)
    if name == "match_rate":
        if not is_number or not 0 <= value <= 1:
            raise SettingsError("match_rate must be a number from 0 to 1")
        return float(value)
    if name in _BOOL:
        if not isinstance(value, bool):
            raise SettingsError(f"{name} must be true or false")
        return value
    if name in _CHOICES:
        if value not in _CHOICES[name]:
            raise SettingsError(f"{name} must be one of {', '.join(_CHOICES[name])}")
        return str(value)
    raise SettingsError(f"unknown setting {name!r}")  # pragma: no cover - every field is handled above
