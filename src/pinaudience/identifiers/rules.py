"""The identifier rules, in one table: how each kind is normalised, validated, recognised as pre-hashed and hashed.

Everything here is a Polars expression, so that millions of values are handled without a Python loop.
`docs/identifiers.md` is this module in prose, with an example of every case; `reference.py` states the same
rules one value at a time (hashlib, re) and the tests hold the two equal.

Validation is split in two for speed. `IdRule.fast_valid` is a strict, ASCII-only subset of the rule that
Rust's regex engine checks at hundreds of millions of bytes a second; it accepts the everyday value.
`IdRule.invalid_reason` is the whole rule with a reason per failure; it runs only on the few values the fast
check did not accept (invalid ones, and valid ones outside ASCII), because its Unicode classes are slower.
A value is valid when the fast check accepts it or the whole rule finds no reason against it, which gives
the same answer as the whole rule alone, since every value the fast check accepts the whole rule accepts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import polars as pl
import polars_hash  # noqa: F401 - registers the `chash` and `nchash` expression namespaces

from pinaudience.identifiers.types import TRIM_CHARS, HashAlgorithm, IdType
from pinaudience.support.hexdigest import HEX_DIGEST_RE

PREHASHED_LENGTHS: Final[dict[int, HashAlgorithm]] = {
    32: HashAlgorithm.MD5,
    40: HashAlgorithm.SHA1,
    64: HashAlgorithm.SHA256,
}
"""A value of exactly this many hex digits is taken to be already hashed with this algorithm."""

MAX_EMAIL_BYTES: Final[int] = 254
"""RFC 5321: a path holds at most 256 octets including its angle brackets."""

MAX_LOCAL_BYTES: Final[int] = 64
"""RFC 5321 section 4.5.3.1.1: the local part holds at most 64 octets."""

LOCAL_SPECIALS: Final[str] = '"(),:;<>[]\\'
"""RFC 5322 specials that may appear in a local part only inside quotes; quoted local parts are refused."""

_LOCAL_FORBIDDEN_RE: Final[str] = r'[\s\p{Cc}\p{Cf}"(),:;<>\[\]\\]'
_LABEL_CHAR: Final[str] = r"[\p{L}\p{M}\p{N}]"
_LABEL: Final[str] = rf"{_LABEL_CHAR}(?:[\p{{L}}\p{{M}}\p{{N}}-]{{0,61}}{_LABEL_CHAR})?"
_DOMAIN_RE: Final[str] = rf"^(?:{_LABEL}\.)+{_LABEL}$"

# The everyday address, in ASCII: RFC 5322 atext and dots in the local part, LDH labels, and a top-level
# label that starts with a letter. Anything this rejects goes to the whole rule, so it may be strict.
_ASCII_LABEL: Final[str] = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_FAST_EMAIL_RE: Final[str] = (
    rf"^[a-z0-9!#$%&'*+/=?^_`{{|}}~.-]{{1,{MAX_LOCAL_BYTES}}}@(?:{_ASCII_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])$"
)

UUID_RE: Final[str] = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ZERO_UUID: Final[str] = "00000000-0000-0000-0000-000000000000"
"""The advertising id of a device whose user opted out of tracking (iOS ATT, Android's opt-out)."""


class Reason(enum.StrEnum):
    """Why a value was dropped; the keys of the report's `invalid_by_reason`."""

    EMPTY = "empty"
    NO_AT = "no_at"
    MULTIPLE_AT = "multiple_at"
    EMPTY_LOCAL = "empty_local"
    TOO_LONG = "too_long"
    BAD_LOCAL = "bad_local"
    BAD_DOMAIN = "bad_domain"
    BAD_UUID = "bad_uuid"
    ZERO_ID = "zero_id"


class Origin(enum.IntEnum):
    """Where a record came from: one small integer per row while millions of rows stream past."""

    PENDING = 0
    """Not yet decided: the fast check did not accept it, the whole rule has to look."""
    MD5 = 1
    SHA1 = 2
    SHA256 = 3
    HASHED = 4
    """Hashed here."""
    PLAIN = 5
    """Sent as the normalised plain value (emails with `--hash none`)."""
    INVALID = 6

    @property
    def label(self) -> str:
        """The name the report uses for this origin."""
        return self.name.lower()


PREHASHED_ORIGINS: Final[dict[HashAlgorithm, Origin]] = {
    HashAlgorithm.MD5: Origin.MD5,
    HashAlgorithm.SHA1: Origin.SHA1,
    HashAlgorithm.SHA256: Origin.SHA256,
}


def normalise(value: pl.Expr) -> pl.Expr:
    """Trim `TRIM_CHARS` from both ends, then lower-case (full Unicode case mapping)."""
    return value.str.strip_chars(TRIM_CHARS).str.to_lowercase()


def is_prehashed(normalised: pl.Expr) -> pl.Expr:
    """True where the normalised value is 32, 40 or 64 hex digits (MD5, SHA1, SHA256)."""
    return normalised.str.contains(HEX_DIGEST_RE).fill_null(False)


def prehashed_origin(normalised: pl.Expr) -> pl.Expr:
    """The `Origin` code of a pre-hashed value, from its length (PENDING for any other length)."""
    length = normalised.str.len_bytes()
    # A when-chain rather than `replace_strict`, which would take the query out of the streaming engine.
    origin = pl.lit(int(Origin.PENDING), dtype=pl.UInt8)
    for hex_length, algorithm in PREHASHED_LENGTHS.items():
        origin = (
            pl.when(length == hex_length)
            .then(pl.lit(int(PREHASHED_ORIGINS[algorithm]), dtype=pl.UInt8))
            .otherwise(origin)
        )
    return origin


def hash_expr(value: pl.Expr, algorithm: HashAlgorithm) -> pl.Expr:
    """Lowercase hex digest of the value's UTF-8 bytes; `none` leaves the value as it is."""
    if algorithm is HashAlgorithm.SHA256:
        return value.chash.sha2_256()  # type: ignore[attr-defined, no-any-return]
    if algorithm is HashAlgorithm.SHA1:
        return value.nchash.sha1()  # type: ignore[attr-defined, no-any-return]
    if algorithm is HashAlgorithm.MD5:
        return value.nchash.md5()  # type: ignore[attr-defined, no-any-return]
    return value


def _is_empty(normalised: pl.Expr) -> pl.Expr:
    return normalised.is_null() | (normalised == "")


def _email_fast_valid(normalised: pl.Expr) -> pl.Expr:
    return (normalised.str.contains(_FAST_EMAIL_RE) & (normalised.str.len_bytes() <= MAX_EMAIL_BYTES)).fill_null(False)


def _email_invalid_reason(normalised: pl.Expr) -> pl.Expr:
    at_signs = normalised.str.count_matches("@", literal=True)
    parts = normalised.str.split_exact("@", 1)
    local = parts.struct.field("field_0")
    domain = parts.struct.field("field_1")
    return (
        pl.when(_is_empty(normalised))
        .then(pl.lit(Reason.EMPTY.value))
        .when(at_signs == 0)
        .then(pl.lit(Reason.NO_AT.value))
        .when(at_signs > 1)
        .then(pl.lit(Reason.MULTIPLE_AT.value))
        .when(local == "")
        .then(pl.lit(Reason.EMPTY_LOCAL.value))
        .when((normalised.str.len_bytes() > MAX_EMAIL_BYTES) | (local.str.len_bytes() > MAX_LOCAL_BYTES))
        .then(pl.lit(Reason.TOO_LONG.value))
        .when(local.str.contains(_LOCAL_FORBIDDEN_RE))
        .then(pl.lit(Reason.BAD_LOCAL.value))
        .when(
            ~domain.str.contains(_DOMAIN_RE)
            # The top-level label: at least two characters, and not all digits (that is an IP address).
            | domain.str.contains(r"\.[^.]$")
            | domain.str.contains(r"\.[0-9]+$")
        )
        .then(pl.lit(Reason.BAD_DOMAIN.value))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _device_fast_valid(normalised: pl.Expr) -> pl.Expr:
    return (normalised.str.contains(UUID_RE) & (normalised != ZERO_UUID)).fill_null(False)


def _device_invalid_reason(normalised: pl.Expr) -> pl.Expr:
    return (
        pl.when(_is_empty(normalised))
        .then(pl.lit(Reason.EMPTY.value))
        .when(~normalised.str.contains(UUID_RE))
        .then(pl.lit(Reason.BAD_UUID.value))
        .when(normalised == ZERO_UUID)
        .then(pl.lit(Reason.ZERO_ID.value))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


@dataclass(frozen=True, slots=True)
class IdRule:
    """The rule for one kind of identifier. Pre-hashed detection and normalisation are shared by all kinds."""

    id_type: IdType
    fast_valid: Callable[[pl.Expr], pl.Expr]
    """A strict subset of the rule, cheap enough for every row."""
    invalid_reason: Callable[[pl.Expr], pl.Expr]
    """The whole rule: a `Reason` value where the normalised value is invalid, else null."""
    reasons: tuple[Reason, ...]
    """Every reason `invalid_reason` can give, in the order it checks them."""
    must_hash: bool
    """Pinterest accepts this kind only hashed: `--hash none` falls back to SHA-256."""


_EMAIL_REASONS = (
    Reason.EMPTY,
    Reason.NO_AT,
    Reason.MULTIPLE_AT,
    Reason.EMPTY_LOCAL,
    Reason.TOO_LONG,
    Reason.BAD_LOCAL,
    Reason.BAD_DOMAIN,
)
_DEVICE_REASONS = (Reason.EMPTY, Reason.BAD_UUID, Reason.ZERO_ID)

RULES: Final[dict[IdType, IdRule]] = {
    IdType.EMAIL: IdRule(IdType.EMAIL, _email_fast_valid, _email_invalid_reason, _EMAIL_REASONS, must_hash=False),
    IdType.MAID: IdRule(IdType.MAID, _device_fast_valid, _device_invalid_reason, _DEVICE_REASONS, must_hash=True),
    IdType.IDFA: IdRule(IdType.IDFA, _device_fast_valid, _device_invalid_reason, _DEVICE_REASONS, must_hash=True),
}
"""The table: one rule per kind of identifier."""


def effective_algorithm(id_type: IdType, algorithm: HashAlgorithm) -> HashAlgorithm:
    """The algorithm plain values of this kind are hashed with: device ids are never sent plain."""
    if algorithm is HashAlgorithm.NONE and RULES[id_type].must_hash:
        return HashAlgorithm.SHA256
    return algorithm
