"""`event_time`: Unix seconds or ISO 8601 with a zone in, Unix seconds out, or a named reason.

- A number (integer, float, or text of one) is Unix seconds; a fraction is dropped (rounded down).
  A number past `LATEST_SECONDS` (2100-01-01) is not a time in seconds: from 1e11 it is named by the unit it
  most likely is (`milliseconds` below 1e14, `microseconds` below 1e17, else `nanoseconds`), which would
  otherwise be sent as a date centuries ahead; between the two it is `bad_time`.
- Text that is not a number must be ISO 8601: `YYYY-MM-DD`, `T` or a space, `HH:MM`, optional `:SS` and
  fraction, then a zone: `Z`, `+HH:MM`, `+HHMM` or `+HH` (or `-`). Without a zone it is `naive_time`: the
  hour it names is unknown, and guessing UTC would shift events by the customer's offset.
- A Polars `Datetime` column with a time zone is taken as it is; without one it is `naive_time`.
- Then the window, relative to `now` (given by the caller: nothing here reads a clock): more than
  `max_age_s` before it is `too_old` (Pinterest accepts events of the last seven days: `DEFAULT_MAX_AGE_S`),
  more than `max_ahead_s` after it `in_future` (Pinterest refuses events from the future; a minute of clock
  skew is allowed).
"""

from __future__ import annotations

import enum
from typing import Final

import polars as pl

from pinaudience.identifiers.types import TRIM_CHARS

LATEST_SECONDS: Final[int] = 4_102_444_800
"""2100-01-01T00:00:00Z: a larger number is not a time in seconds."""

UNIT_LIMITS: Final[tuple[tuple[int, str], ...]] = (
    (10**11, "milliseconds"),
    (10**14, "microseconds"),
    (10**17, "nanoseconds"),
)
"""From this value on, a number is most likely a time in this unit (1e11 ms is 1973, 1e11 s is year 5138)."""

DEFAULT_MAX_AGE_S: Final[int] = 7 * 86_400
"""Pinterest accepts conversion events up to seven days old."""

DEFAULT_MAX_AHEAD_S: Final[int] = 60
"""Clock skew allowed between the machine that exported the events and this one."""

NUMBER_RE: Final[str] = r"^[+-]?[0-9]+(?:\.[0-9]*)?$"
ISO_RE: Final[str] = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,][0-9]+)?)?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?$"
)
"""ISO 8601 date and time, groups: year, month, day, hour, minute, second, Z, offset sign, hours, minutes."""


class TimeReason(enum.StrEnum):
    """Why an event's time cannot be sent; keys of the report's `rejected_by_reason`."""

    NO_EVENT_TIME = "no_event_time"
    BAD_TIME = "bad_time"
    NAIVE_TIME = "naive_time"
    MILLISECONDS = "milliseconds"
    MICROSECONDS = "microseconds"
    NANOSECONDS = "nanoseconds"
    TOO_OLD = "too_old"
    IN_FUTURE = "in_future"


SECONDS: Final[str] = "__event_seconds"
TIME_REASON: Final[str] = "__time_reason"


def _lit(reason: TimeReason) -> pl.Expr:
    return pl.lit(reason.value)


def _from_number(seconds: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Whole seconds (Int64, null where refused) and the reason, from a Float64 expression."""
    reason = (
        pl.when(seconds.is_null() | seconds.is_nan())
        .then(_lit(TimeReason.BAD_TIME))
        .when(seconds >= UNIT_LIMITS[2][0])
        .then(_lit(TimeReason.NANOSECONDS))
        .when(seconds >= UNIT_LIMITS[1][0])
        .then(_lit(TimeReason.MICROSECONDS))
        .when(seconds >= UNIT_LIMITS[0][0])
        .then(_lit(TimeReason.MILLISECONDS))
        .when((seconds >= LATEST_SECONDS) | (seconds < 0))
        .then(_lit(TimeReason.BAD_TIME))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    whole = pl.when(reason.is_null()).then(seconds.floor().cast(pl.Int64, strict=False))
    return whole, reason


def _from_text(text: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    trimmed = text.str.strip_chars(TRIM_CHARS)
    is_number = trimmed.str.contains(NUMBER_RE)
    empty = trimmed.is_null() | (trimmed == "")
    number_seconds, number_reason = _from_number(
        pl.when(is_number).then(trimmed.str.strip_suffix(".")).cast(pl.Float64, strict=False)
    )
    seconds = pl.when(is_number).then(number_seconds)
    reason = pl.when(empty).then(_lit(TimeReason.NO_EVENT_TIME)).when(is_number).then(number_reason)
    return seconds, reason, pl.when(~empty & ~is_number).then(trimmed)


def parse_iso(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Unix seconds and the reason (`naive_time`, `bad_time`, or null) of trimmed text that is not a number."""
    parts = text.str.extract_groups(ISO_RE)

    def part(name: str) -> pl.Expr:
        return parts.struct.field(name).cast(pl.Int64, strict=False)

    matched = parts.struct.field("1").is_not_null()
    zoned = parts.struct.field("7").is_not_null() | parts.struct.field("8").is_not_null()
    date = pl.concat_str(
        parts.struct.field("1"), pl.lit("-"), parts.struct.field("2"), pl.lit("-"), parts.struct.field("3")
    )
    days = date.str.to_date("%Y-%m-%d", strict=False).cast(pl.Int32).cast(pl.Int64)
    hour, minute, second = part("4"), part("5"), part("6").fill_null(0)
    sign = pl.when(parts.struct.field("8") == "-").then(pl.lit(-1)).otherwise(pl.lit(1))
    offset_h, offset_m = part("9").fill_null(0), part("10").fill_null(0)
    valid_clock = (hour <= 23) & (minute <= 59) & (second <= 59) & (offset_h <= 23) & (offset_m <= 59)
    iso_seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - sign * (offset_h * 3_600 + offset_m * 60)
    iso_ok = matched & zoned & days.is_not_null() & valid_clock
    reason = (
        pl.when(iso_ok)
        .then(pl.lit(None, dtype=pl.String))
        .when(matched & ~zoned)
        .then(_lit(TimeReason.NAIVE_TIME))
        .otherwise(_lit(TimeReason.BAD_TIME))
    )
    return pl.when(iso_ok).then(iso_seconds), reason


def parse_event_time(column: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Unix seconds (Int64, null where refused or pending), the reason (null where valid or pending), and the
    trimmed text still pending: text that is not a number, for `parse_iso` (null elsewhere).

    In two steps because ISO 8601 costs ten times a number: only the rows that need it pay for it.
    """
    value = pl.col(column)
    none = pl.lit(None, dtype=pl.String)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return (
                pl.lit(None, dtype=pl.Int64),
                pl.when(value.is_null()).then(_lit(TimeReason.NO_EVENT_TIME)).otherwise(_lit(TimeReason.NAIVE_TIME)),
                none,
            )
        seconds = value.dt.epoch("s")
        return seconds, pl.when(value.is_null()).then(_lit(TimeReason.NO_EVENT_TIME)).otherwise(none), none
    if dtype.is_numeric():
        seconds, reason = _from_number(value.cast(pl.Float64))
        return seconds, pl.when(value.is_null()).then(_lit(TimeReason.NO_EVENT_TIME)).otherwise(reason), none
    return _from_text(value.cast(pl.String))


def settle_times(frame: pl.DataFrame, seconds: str, reason: str, pending: str) -> pl.DataFrame:
    """`parse_iso` over the rows whose `pending` column holds text, scattered into `seconds` and `reason`."""
    text = frame.get_column(pending)
    index = text.is_not_null().arg_true()
    if index.len():
        settled = (
            text.gather(index)
            .to_frame("text")
            .select(*(expr.alias(name) for expr, name in zip(parse_iso(pl.col("text")), ("s", "r"), strict=True)))
        )
        frame = frame.with_columns(
            frame.get_column(seconds).scatter(index, settled.get_column("s")),
            frame.get_column(reason).scatter(index, settled.get_column("r")),
        )
    return frame.drop(pending)


def window_reason(seconds: pl.Expr, now: int, max_age_s: int | None, max_ahead_s: int | None) -> pl.Expr:
    """`too_old` or `in_future` for a parsed time outside the window around `now`, else null."""
    reason = pl.lit(None, dtype=pl.String)
    if max_ahead_s is not None:
        reason = pl.when(seconds > now + max_ahead_s).then(_lit(TimeReason.IN_FUTURE)).otherwise(reason)
    if max_age_s is not None:
        reason = pl.when(seconds < now - max_age_s).then(_lit(TimeReason.TOO_OLD)).otherwise(reason)
    return reason
