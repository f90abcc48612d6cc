"""The user_data field rules, in one table: the columns each field is read from, how its values are normalised,
which values are valid, and whether Pinterest receives them hashed.

Everything here is a Polars expression over one value (a piece of a cell: cells may hold several values, see
`VALUE_SEPARATOR`), so that millions of values are handled without a Python loop. `docs/events.md` is this module
in prose, with examples the tests read as vectors; `reference.py` states the same rules one value at a time
(hashlib, re, unicodedata) and the tests hold the two equal.

The order for a hashed field's value: trim `TRIM_CHARS` from both ends (a value empty after that is no value at
all, neither valid nor invalid); lower-case (every field but `external_id`); a value that then is 64 hex digits is
already SHA-256-hashed and passes through; `em` and `hashed_maids` refuse 32 or 40 hex digits (`not_sha256`: MD5
or SHA-1 digests, which the Conversions API does not take and hashing again would spoil); otherwise the field's
normaliser, its validity rule (a reason, or null), and SHA-256 of the UTF-8 bytes as lowercase hex.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import polars as pl

from pinaudience.identifiers.rules import RULES, hash_expr
from pinaudience.identifiers.types import TRIM_CHARS, HashAlgorithm, IdType

VALUE_SEPARATOR: Final[str] = ";"
"""Separates several values of one field in a text cell (`a@example.com;b@example.com`). A semicolon cannot be
part of an unquoted email local part, a phone number, a name, a date, a postcode, a device id or a hex digest;
a list column (Parquet) needs no separator. Plain fields (`client_user_agent`...) hold one value and are not split."""

SHA256_RE: Final[str] = r"^[0-9a-f]{64}$"
"""A value that is already a SHA-256 digest, once lower-cased."""

OTHER_DIGEST_RE: Final[str] = r"^(?:[0-9a-f]{32}|[0-9a-f]{40})$"
"""An MD5 or SHA-1 digest, once lower-cased."""

PHONE_DIGITS: Final[tuple[int, int]] = (7, 15)
"""Digits a phone number keeps, country code included: E.164 allows at most 15."""

ZIP_DIGITS: Final[tuple[int, int]] = (3, 10)
"""Digits a postcode keeps after spaces, dots and hyphens are removed."""

MIN_BIRTH_YEAR: Final[int] = 1900
"""Dates of birth before this year are refused as typing errors."""

GENDERS: Final[dict[str, str]] = {
    "f": "f",
    "female": "f",
    "m": "m",
    "male": "m",
    "n": "n",
    "nonbinary": "n",
    "non-binary": "n",
    "non_binary": "n",
}
"""Accepted gender values (after trimming and lower-casing) and the letter Pinterest receives."""


class FieldReason(enum.StrEnum):
    """Why one value of a user_data field was dropped; the keys of the report's `invalid_by_field`."""

    NOT_SHA256 = "not_sha256"
    NO_AT = "no_at"
    MULTIPLE_AT = "multiple_at"
    EMPTY_LOCAL = "empty_local"
    TOO_LONG = "too_long"
    BAD_LOCAL = "bad_local"
    BAD_DOMAIN = "bad_domain"
    BAD_UUID = "bad_uuid"
    ZERO_ID = "zero_id"
    BAD_PHONE = "bad_phone"
    BAD_GENDER = "bad_gender"
    BAD_DATE = "bad_date"
    AMBIGUOUS_DATE = "ambiguous_date"
    BAD_CITY = "bad_city"
    BAD_STATE = "bad_state"
    BAD_ZIP = "bad_zip"
    BAD_COUNTRY = "bad_country"
    BAD_IP = "bad_ip"


def _null() -> pl.Expr:
    return pl.lit(None, dtype=pl.String)


def _reason(condition: pl.Expr, reason: FieldReason) -> pl.Expr:
    """`reason` where `condition` holds, else null."""
    return pl.when(condition).then(pl.lit(reason.value)).otherwise(_null())


def _no_reason(value: pl.Expr) -> pl.Expr:
    return _null()


def _identity(value: pl.Expr) -> pl.Expr:
    return value


# Phone: a national trunk prefix written `(0)` after the country code goes (`+44 (0)20...`), then every
# character but an ASCII digit (+, spaces, brackets, dashes, letters), then leading zeros (`00` dialling prefix).
def _phone(value: pl.Expr) -> pl.Expr:
    return value.str.replace_all("(0)", "", literal=True).str.replace_all(r"[^0-9]+", "").str.strip_chars_start("0")


def _phone_reason(value: pl.Expr) -> pl.Expr:
    low, high = PHONE_DIGITS
    length = value.str.len_bytes()
    return _reason((length < low) | (length > high), FieldReason.BAD_PHONE)


def _gender(value: pl.Expr) -> pl.Expr:
    return value.replace_strict(GENDERS, default=None, return_dtype=pl.String)


def _gender_reason(value: pl.Expr) -> pl.Expr:
    return _reason(value.is_null(), FieldReason.BAD_GENDER)


# Dates of birth: year first, as YYYYMMDD or with one separator kind of `-`, `/`, `.` between the parts, with
# or without leading zeros, optionally followed by a time (`1990-01-05T00:00:00`, what a date exported as a
# timestamp looks like). Year last (`05/01/1990`) is ambiguous between day-month and month-day: refused.
_DATE_RE: Final[str] = r"^([0-9]{4})(?:([0-9]{2})([0-9]{2})|[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?:[t ].*)?)$"
_YEAR_LAST_RE: Final[str] = r"^[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{4}$"


def _date(value: pl.Expr) -> pl.Expr:
    parts = value.str.extract_groups(_DATE_RE)
    year = parts.struct.field("1")
    month = pl.coalesce(parts.struct.field("2"), parts.struct.field("4")).str.zfill(2)
    day = pl.coalesce(parts.struct.field("3"), parts.struct.field("5")).str.zfill(2)
    iso = pl.concat_str(year, pl.lit("-"), month, pl.lit("-"), day)
    parsed = iso.str.to_date("%Y-%m-%d", strict=False)
    return (
        pl.when(parsed.dt.year() >= MIN_BIRTH_YEAR)
        .then(pl.concat_str(year, month, day))
        .otherwise(pl.when(value.str.contains(_YEAR_LAST_RE)).then(pl.lit("?")).otherwise(_null()))
    )


def _date_reason(value: pl.Expr) -> pl.Expr:
    return (
        pl.when(value == "?")
        .then(pl.lit(FieldReason.AMBIGUOUS_DATE.value))
        .when(value.is_null())
        .then(pl.lit(FieldReason.BAD_DATE.value))
        .otherwise(_null())
    )


# City, state, country: spaces and punctuation go (everything that is not a letter, a combining mark or a digit).
_NOT_WORD_RE: Final[str] = r"[^\p{L}\p{M}\p{N}]"


def _squeezed(value: pl.Expr) -> pl.Expr:
    return value.str.replace_all(_NOT_WORD_RE, "")


def _city_reason(value: pl.Expr) -> pl.Expr:
    return _reason(value == "", FieldReason.BAD_CITY)


def _two_letters_reason(reason: FieldReason) -> Callable[[pl.Expr], pl.Expr]:
    def check(value: pl.Expr) -> pl.Expr:
        return _reason(~value.str.contains(r"^[a-z]{2}$"), reason)

    return check


# Postcode: a US ZIP+4 (`94107-1234`) keeps its five-digit ZIP; otherwise spaces, dots and hyphens go and what
# is left must be digits only (a postcode with letters, such as the UK's, cannot be sent as digits: refused).
_ZIP_PLUS4_RE: Final[str] = r"^([0-9]{5})-[0-9]{4}$"


def _zip(value: pl.Expr) -> pl.Expr:
    return pl.coalesce(value.str.extract(_ZIP_PLUS4_RE, 1), value.str.replace_all(r"[ .\-]", ""))


def _zip_reason(value: pl.Expr) -> pl.Expr:
    low, high = ZIP_DIGITS
    return _reason(~value.str.contains(rf"^[0-9]{{{low},{high}}}$"), FieldReason.BAD_ZIP)


def _ip_reason(value: pl.Expr) -> pl.Expr:
    return _reason(~value.str.contains(r"^[0-9A-Fa-f.:]*[.:][0-9A-Fa-f.:]*$"), FieldReason.BAD_IP)


def _email_reason(value: pl.Expr) -> pl.Expr:
    return RULES[IdType.EMAIL].invalid_reason(value)


def _email_fast_valid(value: pl.Expr) -> pl.Expr:
    return RULES[IdType.EMAIL].fast_valid(value)


def _device_reason(value: pl.Expr) -> pl.Expr:
    return RULES[IdType.MAID].invalid_reason(value)


@dataclass(frozen=True, slots=True)
class FieldRule:
    """The rule for one user_data field."""

    name: str
    """The field's name in Pinterest's `user_data`."""
    columns: tuple[str, ...]
    """Column names a CDP export uses for it (matched ignoring case and surrounding spaces)."""
    hashed: bool
    """Sent as a list of SHA-256 digests (several values per cell allowed); else one plain string, as it is."""
    normalise: Callable[[pl.Expr], pl.Expr]
    """After trimming (and lower-casing, when `lower`): the value that is hashed, or a marker its reason reads."""
    invalid_reason: Callable[[pl.Expr], pl.Expr]
    """A `FieldReason` value where the normalised value is invalid, else null."""
    reasons: tuple[FieldReason, ...]
    """Every reason the field can give."""
    lower: bool = True
    """Lower-cased before anything else (`external_id` is not: ids are case-sensitive)."""
    refuses_other_digests: bool = False
    """32 or 40 hex digits are an MD5 or SHA-1 digest here (`not_sha256`), not a value to hash."""
    fast_valid: Callable[[pl.Expr], pl.Expr] | None = None
    """A cheap strict subset of the rule; where it holds, `invalid_reason` need not run (emails)."""


_EMAIL_REASONS = (
    FieldReason.NOT_SHA256,
    FieldReason.NO_AT,
    FieldReason.MULTIPLE_AT,
    FieldReason.EMPTY_LOCAL,
    FieldReason.TOO_LONG,
    FieldReason.BAD_LOCAL,
    FieldReason.BAD_DOMAIN,
)

FIELDS: Final[tuple[FieldRule, ...]] = (
    FieldRule(
        "em",
        ("email", "em", "email_address", "e-mail"),
        hashed=True,
        normalise=_identity,
        invalid_reason=_email_reason,
        reasons=_EMAIL_REASONS,
        refuses_other_digests=True,
        fast_valid=_email_fast_valid,
    ),
    FieldRule(
        "hashed_maids",
        ("hashed_maids", "maid", "gaid", "idfa", "aaid", "adid"),
        hashed=True,
        normalise=_identity,
        invalid_reason=_device_reason,
        reasons=(FieldReason.NOT_SHA256, FieldReason.BAD_UUID, FieldReason.ZERO_ID),
        refuses_other_digests=True,
    ),
    FieldRule(
        "ph",
        ("phone", "ph", "phone_number"),
        hashed=True,
        normalise=_phone,
        invalid_reason=_phone_reason,
        reasons=(FieldReason.BAD_PHONE,),
    ),
    FieldRule(
        "fn", ("first_name", "fn", "firstname"), hashed=True, normalise=_identity, invalid_reason=_no_reason, reasons=()
    ),
    FieldRule(
        "ln", ("last_name", "ln", "lastname"), hashed=True, normalise=_identity, invalid_reason=_no_reason, reasons=()
    ),
    FieldRule(
        "ge",
        ("gender", "ge"),
        hashed=True,
        normalise=_gender,
        invalid_reason=_gender_reason,
        reasons=(FieldReason.BAD_GENDER,),
    ),
    FieldRule(
        "db",
        ("date_of_birth", "birthday", "db", "dob"),
        hashed=True,
        normalise=_date,
        invalid_reason=_date_reason,
        reasons=(FieldReason.BAD_DATE, FieldReason.AMBIGUOUS_DATE),
    ),
    FieldRule(
        "ct",
        ("city", "ct"),
        hashed=True,
        normalise=_squeezed,
        invalid_reason=_city_reason,
        reasons=(FieldReason.BAD_CITY,),
    ),
    FieldRule(
        "st",
        ("state", "st"),
        hashed=True,
        normalise=_squeezed,
        invalid_reason=_two_letters_reason(FieldReason.BAD_STATE),
        reasons=(FieldReason.BAD_STATE,),
    ),
    FieldRule(
        "zp",
        ("zip", "postal_code", "zp", "zip_code", "postcode"),
        hashed=True,
        normalise=_zip,
        invalid_reason=_zip_reason,
        reasons=(FieldReason.BAD_ZIP,),
    ),
    FieldRule(
        "country",
        ("country", "country_code"),
        hashed=True,
        normalise=_squeezed,
        invalid_reason=_two_letters_reason(FieldReason.BAD_COUNTRY),
        reasons=(FieldReason.BAD_COUNTRY,),
    ),
    FieldRule(
        "external_id",
        ("external_id", "customer_id"),
        hashed=True,
        normalise=_identity,
        invalid_reason=_no_reason,
        reasons=(),
        lower=False,
    ),
    FieldRule(
        "client_ip_address",
        ("ip", "client_ip_address", "ip_address"),
        hashed=False,
        normalise=_identity,
        invalid_reason=_ip_reason,
        reasons=(FieldReason.BAD_IP,),
        lower=False,
    ),
    FieldRule(
        "client_user_agent",
        ("user_agent", "client_user_agent"),
        hashed=False,
        normalise=_identity,
        invalid_reason=_no_reason,
        reasons=(),
        lower=False,
    ),
    FieldRule(
        "click_id",
        ("click_id", "epik"),
        hashed=False,
        normalise=_identity,
        invalid_reason=_no_reason,
        reasons=(),
        lower=False,
    ),
    FieldRule(
        "partner_id",
        ("partner_id",),
        hashed=False,
        normalise=_identity,
        invalid_reason=_no_reason,
        reasons=(),
        lower=False,
    ),
)
"""The table: one rule per user_data field, in the order Pinterest's spec lists the identifiers that matter most."""

FIELD_BY_NAME: Final[dict[str, FieldRule]] = {rule.name: rule for rule in FIELDS}


def trim(value: pl.Expr) -> pl.Expr:
    """Remove `TRIM_CHARS` (whitespace and invisible characters) from both ends."""
    return value.str.strip_chars(TRIM_CHARS)


def sha256(value: pl.Expr) -> pl.Expr:
    """Lowercase hex SHA-256 of the value's UTF-8 bytes."""
    return hash_expr(value, HashAlgorithm.SHA256)
