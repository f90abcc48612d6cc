"""The emulator's knobs: rate limits, matching, processing, size limits and latency.

Defaults are Pinterest's numbers from `pinaudience.pinterest.limits`, so a client tuned against the emulator
is tuned for Pinterest; tests and benchmarks change them (often shrinking `window_s` to scale time).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from pinaudience.pinterest import limits

DEFAULT_MATCH_RATE = 0.6
"""Share of records that count as Pinterest users; not a Pinterest number (real match rates vary by list)."""


class SettingsError(ValueError):
    """A settings update named an unknown setting or gave a value of the wrong type or range."""


@dataclass
class EmulatorSettings:
    """Every setting of the emulator; `PUT /_emulator/settings` changes any of them at run time."""

    ads_write_per_window: int = limits.STANDARD.ads_write.requests
    """Requests in the ads_write category allowed per user and app in any `window_s` seconds."""
    ads_read_per_window: int = limits.STANDARD.ads_read.requests
    """Requests in the ads_read category allowed per user and app in any `window_s` seconds."""
    window_s: float = limits.STANDARD.ads_write.window_s
    """Length of the sliding window of both categories, in seconds."""
    per_second: int = limits.STANDARD.per_second
    """Requests per user and app in any 1-second window, across all categories."""
    rate_limit_headers: bool = True
    """Send `Retry-After` and `X-RateLimit-Reset` with a rate-limit 429 (off: a bare 429, as Pinterest documents)."""
    match_rate: float = DEFAULT_MATCH_RATE
    """Share of records that are Pinterest users (decided per record, deterministically)."""
    processing_delay_s: float = 0.0
    """A list shows PROCESSING for this long after each create or update."""
    max_records_per_request: int = limits.MAX_RECORDS_PER_REQUEST
    """More records than this in one create or update: 400 code 1."""
    max_body_bytes: int = limits.MAX_BODY_BYTES
    """A request body larger than this: 413 code 1."""
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


_POSITIVE_INT = {
    "ads_write_per_window",
    "ads_read_per_window",
    "per_second",
    "max_records_per_request",
    "max_body_bytes",
}
_POSITIVE_FLOAT = {"window_s", "list_write_window_s"}
_NON_NEGATIVE_FLOAT = {"processing_delay_s", "latency_ms", "latency_per_record_us"}


def _check(name: str, value: Any) -> Any:
    known = {f.name for f in dataclasses.fields(EmulatorSettings)}
    if name not in known:
        raise SettingsError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if name in _POSITIVE_INT or (name == "list_writes_per_window" and value is not None):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SettingsError(f"{name} must be a positive integer")
        return value
    if name == "list_writes_per_window":
        return None
    if name in _POSITIVE_FLOAT:
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
    if name in ("rate_limit_headers", "track_sends"):
        if not isinstance(value, bool):
            raise SettingsError(f"{name} must be true or false")
        return value
    raise SettingsError(f"unknown setting {name!r}")  # pragma: no cover - every field is handled above
