"""The event rules one value, and one event, at a time, in plain Python (hashlib, re, unicodedata, datetime).

The specification the tests hold `fields`, `times`, `event_id` and `prepare` equal to, written without Polars
and without their regular expressions, so that the two can disagree when one of them is wrong. It reuses the
identifier rules' own reference for emails and device ids (`pinaudience.identifiers.reference`), as the
vectorised side reuses `pinaudience.identifiers.rules`. pinaudience never calls it to send events; it is also
the per-row loop `benchmarks/events_prepare.py` times the vectorised preparation against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pinaudience.conversions.fields import GENDERS, MIN_BIRTH_YEAR, PHONE_DIGITS, VALUE_SEPARATOR, ZIP_DIGITS
from pinaudience.conversions.prepare import ACTION_SOURCES, EVENT_NAMES
from pinaudience.conversions.times import DEFAULT_MAX_AGE_S, DEFAULT_MAX_AHEAD_S, LATEST_SECONDS
from pinaudience.identifiers.reference import device_reason, email_reason

_WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
_TRIM = _WHITESPACE + "\u200b\u200c\u200d\u2060\ufeff\u180e"
_HEX = frozenset("0123456789abcdef")
_ASCII_DIGITS = frozenset("0123456789")
_ASCII_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")

HASHED_FIELDS = ("em", "hashed_maids", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id")
PLAIN_FIELDS = ("client_ip_address", "client_user_agent", "click_id", "partner_id")


class Value(NamedTuple):
    """What the rules make of one value: what Pinterest receives, or why it was dropped."""

    out: str | None
    reason: str | None
    prehashed: bool


def sha256(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trim(value: str) -> str:
    """Whitespace and invisible characters off both ends."""
    return value.strip(_TRIM)


def _is_hex(text: str, *lengths: int) -> bool:
    return len(text) in lengths and set(text) <= _HEX


def _words(text: str) -> str:
    """Letters, combining marks and digits only: spaces and punctuation go."""
    return "".join(char for char in text if unicodedata.category(char)[0] in "LMN")


def _phone(text: str) -> tuple[str, str | None]:
    digits = "".join(char for char in text.replace("(0)", "") if char in _ASCII_DIGITS).lstrip("0")
    low, high = PHONE_DIGITS
    return digits, None if low <= len(digits) <= high else "bad_phone"


def _date(text: str) -> tuple[str, str | None]:
    if len(text) == 8 and set(text) <= _ASCII_DIGITS:
        year, month, day = text[:4], text[4:6], text[6:]
    else:
        match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[t ].*)?", text, flags=re.ASCII)
        if match is None:
            year_last = re.fullmatch(r"\d{1,2}[-/.]\d{1,2}[-/.]\d{4}", text, flags=re.ASCII)
            return "", "ambiguous_date" if year_last else "bad_date"
        year, month, day = match.group(1), match.group(2).zfill(2), match.group(3).zfill(2)
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError:
        return "", "bad_date"
    if date.year < MIN_BIRTH_YEAR:
        return "", "bad_date"
    return year + month + day, None


def _zip(text: str) -> tuple[str, str | None]:
    match = re.fullmatch(r"(\d{5})-\d{4}", text, flags=re.ASCII)
    code = match.group(1) if match else "".join(char for char in text if char not in " .-")
    low, high = ZIP_DIGITS
    valid = low <= len(code) <= high and set(code) <= _ASCII_DIGITS
    return code, None if valid else "bad_zip"


def _two_letters(text: str, reason: str) -> tuple[str, str | None]:
    code = _words(text)
    return code, None if len(code) == 2 and set(code) <= _ASCII_LOWER else reason


def normalise_value(name: str, folded: str) -> tuple[str, str | None]:
    """The normalised value of one (trimmed, and lower-cased where the field is) value, and its reason."""
    if name == "em":
        return folded, email_reason(folded)
    if name == "hashed_maids":
        return folded, device_reason(folded)
    if name == "ph":
        return _phone(folded)
    if name == "ge":
        gender = GENDERS.get(folded)
        return (gender, None) if gender else ("", "bad_gender")
    if name == "db":
        return _date(folded)
    if name == "ct":
        city = _words(folded)
        return city, None if city else "bad_city"
    if name == "st":
        return _two_letters(folded, "bad_state")
    if name == "zp":
        return _zip(folded)
    if name == "country":
        return _two_letters(folded, "bad_country")
    return folded, None  # fn, ln, external_id: any text


def hashed_value(name: str, raw: str) -> Value | None:
    """One value of a hashed field; None when it is empty after trimming (no value at all)."""
    trimmed = trim(raw)
    if not trimmed:
        return None
    lowered = trimmed.lower()
    if _is_hex(lowered, 64):
        return Value(lowered, None, prehashed=True)
    if name in ("em", "hashed_maids") and _is_hex(lowered, 32, 40):
        return Value(None, "not_sha256", prehashed=False)
    normalised, reason = normalise_value(name, trimmed if name == "external_id" else lowered)
    if reason is not None:
        return Value(None, reason, prehashed=False)
    return Value(sha256(normalised), None, prehashed=False)


def plain_value(name: str, raw: str | None) -> Value | None:
    """A plain field's value, trimmed; None when absent or empty."""
    if raw is None or not trim(raw):
        return None
    value = trim(raw)
    if name == "client_ip_address":
        allowed = set("0123456789abcdefABCDEF.:")
        if not (set(value) <= allowed and ("." in value or ":" in value)):
            return Value(None, "bad_ip", prehashed=False)
    return Value(value, None, prehashed=False)


def pieces(cell: object) -> list[str]:
    """The values of one cell: a list as it is, anything else as text split on `VALUE_SEPARATOR`."""
    if cell is None:
        return []
    if isinstance(cell, list):
        return [str(piece) for piece in cell if piece is not None]
    return str(cell).split(VALUE_SEPARATOR)


def _number_time(number: float) -> tuple[int | None, str | None]:
    if math.isnan(number):
        return None, "bad_time"
    for limit, unit in ((10**17, "nanoseconds"), (10**14, "microseconds"), (10**11, "milliseconds")):
        if number >= limit:
            return None, unit
    if number >= LATEST_SECONDS or number < 0:
        return None, "bad_time"
    return math.floor(number), None


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?",
    flags=re.ASCII,
)


def parse_time(value: object) -> tuple[int | None, str | None]:
    """Unix seconds, or the reason the value is not a usable event time (before the window check)."""
    if value is None:
        return None, "no_event_time"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return None, "naive_time"
        return math.floor(value.timestamp()), None
    if isinstance(value, bool):
        return None, "bad_time"
    if isinstance(value, int | float):
        return _number_time(float(value))
    text = trim(str(value))
    if not text:
        return None, "no_event_time"
    if re.fullmatch(r"[+-]?\d+(?:\.\d*)?", text, flags=re.ASCII):
        return _number_time(float(text))
    match = _ISO.fullmatch(text)
    if match is None:
        return None, "bad_time"
    year, month, day, hour, minute = (int(match.group(index)) for index in range(1, 6))
    second = int(match.group(6) or 0)
    if match.group(7) is None and match.group(8) is None:
        try:
            dt.date(year, month, day)
        except ValueError:
            return None, "bad_time"
        return (None, "naive_time") if hour <= 23 and minute <= 59 and second <= 59 else (None, "bad_time")
    offset_h, offset_m = int(match.group(9) or 0), int(match.group(10) or 0)
    if hour > 23 or minute > 59 or second > 59 or offset_h > 23 or offset_m > 59:
        return None, "bad_time"
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None, "bad_time"
    sign = -1 if match.group(8) == "-" else 1
    days = (date - dt.date(1970, 1, 1)).days
    return days * 86_400 + hour * 3_600 + minute * 60 + second - sign * (offset_h * 3_600 + offset_m * 60), None


def time_window(seconds: int, now: int, max_age_s: int | None, max_ahead_s: int | None) -> str | None:
    """`too_old` or `in_future` outside the window around `now`."""
    if max_age_s is not None and seconds < now - max_age_s:
        return "too_old"
    if max_ahead_s is not None and seconds > now + max_ahead_s:
        return "in_future"
    return None


ID_ORDER = ("event_name", "action_source", "event_time", *HASHED_FIELDS, *PLAIN_FIELDS, "order_id", "value", "currency")


FREE_TEXT = frozenset({*PLAIN_FIELDS, "order_id", "value", "currency"})


def derived_event_id(event: Mapping[str, Any]) -> str:
    """`pa1-` and 32 hex digits of the SHA-256 of the event's canonical text (docs/events.md)."""
    text = []
    for name in ID_ORDER:
        value = event.get(name)
        if value is None:
            continue
        if isinstance(value, list):
            written = ",".join(sorted(digest[:32] for digest in value))
        elif name in FREE_TEXT:
            written = f"{len(value)}:{value}"
        else:
            written = str(value)
        text.append(f"{name}={written};")
    return "pa1-" + sha256("".join(text))[:32]


@dataclass
class EventResult:
    """One row's outcome: the event to send (payload keys, null ones left out), or the reason it was rejected."""

    event: dict[str, Any] | None
    reason: str | None
    invalid: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(field, reason) of every value dropped from the row."""
    hashed: Counter[str] = field(default_factory=Counter)
    prehashed: Counter[str] = field(default_factory=Counter)


def _first_text(row: Mapping[str, Any], names: Sequence[str]) -> str | None:
    for name in names:
        value = row.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None and trim(str(value)):
            return trim(str(value))
    return None


def _enum(value: str | None, default: str | None, allowed: frozenset[str], what: str) -> tuple[str | None, str | None]:
    chosen = value.lower() if value is not None else (default.strip().lower() if default is not None else None)
    if chosen is None:
        return None, f"no_{what}"
    return (chosen, None) if chosen in allowed else (chosen, f"bad_{what}")


def prepare_event(
    row: Mapping[str, Any],
    columns: Mapping[str, Sequence[str]],
    *,
    now: int,
    event_name: str | None = None,
    action_source: str | None = None,
    max_age_s: int | None = DEFAULT_MAX_AGE_S,
    max_ahead_s: int | None = DEFAULT_MAX_AHEAD_S,
) -> EventResult:
    """One row of raw columns to one event, as `prepare_events` does for a frame (`columns`: field -> columns)."""
    result = EventResult(None, None)
    event: dict[str, Any] = {}
    for name in HASHED_FIELDS:
        outs: set[str] = set()
        for column in columns.get(name, ()):
            for piece in pieces(row.get(column)):
                value = hashed_value(name, piece)
                if value is None:
                    continue
                if value.out is None:
                    result.invalid[(name, str(value.reason))] += 1
                    continue
                (result.prehashed if value.prehashed else result.hashed)[name] += 1
                outs.add(value.out)
        event[name] = sorted(outs) or None
    for name in PLAIN_FIELDS:
        plain = plain_value(name, _first_text(row, columns.get(name, ())))
        if plain is not None and plain.reason is not None:
            result.invalid[(name, plain.reason)] += 1
        event[name] = plain.out if plain is not None else None
    for name in ("order_id", "value", "currency"):
        event[name] = _first_text(row, columns.get(name, ()))
    event["event_name"], name_reason = _enum(
        _first_text(row, columns.get("event_name", ())), event_name, EVENT_NAMES, "event_name"
    )
    event["action_source"], source_reason = _enum(
        _first_text(row, columns.get("action_source", ())), action_source, ACTION_SOURCES, "action_source"
    )
    time_columns = columns.get("event_time", ())
    seconds, time_reason = parse_time(row.get(time_columns[0])) if time_columns else (None, "no_event_time")
    if seconds is not None:
        time_reason = time_window(seconds, now, max_age_s, max_ahead_s)
    event["event_time"] = seconds
    usable = bool(event["em"] or event["hashed_maids"] or (event["client_ip_address"] and event["client_user_agent"]))
    result.reason = name_reason or source_reason or time_reason or (None if usable else "no_identifier")
    if result.reason is None:
        event["event_id"] = _first_text(row, columns.get("event_id", ())) or derived_event_id(event)
        result.event = event
    return result
