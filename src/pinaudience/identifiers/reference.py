"""The identifier rules for one value at a time, in plain Python (hashlib, re, unicodedata).

This is the specification the tests check the vectorised pipeline against; it is written independently of
`rules` (no Polars, no shared regular expressions) so that the two can disagree when one of them is wrong.
pinaudience itself never calls it: a Python loop over millions of rows is what the pipeline exists to avoid.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import NamedTuple

from pinaudience.identifiers.types import HashAlgorithm, IdType

_WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u180e"
_HEX = re.compile(r"[0-9a-f]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DIGITS = re.compile(r"[0-9]+")
_ALGORITHM_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}


class Result(NamedTuple):
    """What the rules make of one value; `origin` as the report names it."""

    record: str | None
    origin: str
    reason: str | None


def normalise(value: str | None) -> str:
    """Trim whitespace and invisible characters from both ends, then lower-case."""
    if value is None:
        return ""
    return value.strip(_WHITESPACE + _INVISIBLE).lower()


def digest(value: str, algorithm: HashAlgorithm) -> str:
    """Lowercase hex digest of the UTF-8 bytes, or the value itself for `none`."""
    if algorithm is HashAlgorithm.NONE:
        return value
    return hashlib.new(algorithm.value, value.encode("utf-8")).hexdigest()


def prehashed_algorithm(normalised: str) -> str | None:
    """'md5', 'sha1' or 'sha256' for 32, 40 or 64 hex digits, else None."""
    if len(normalised) in _ALGORITHM_BY_LENGTH and _HEX.fullmatch(normalised):
        return _ALGORITHM_BY_LENGTH[len(normalised)]
    return None


def _forbidden_in_local(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf") or char in '"(),:;<>[]\\'


def _valid_label(label: str) -> bool:
    return (
        1 <= len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(char == "-" or unicodedata.category(char)[0] in "LMN" for char in label)
    )


def email_reason(normalised: str) -> str | None:
    """Why a normalised email is invalid, or None when it is valid."""
    if not normalised:
        return "empty"
    if "@" not in normalised:
        return "no_at"
    if normalised.count("@") > 1:
        return "multiple_at"
    local, domain = normalised.split("@")
    if not local:
        return "empty_local"
    if len(normalised.encode("utf-8")) > 254 or len(local.encode("utf-8")) > 64:
        return "too_long"
    if any(_forbidden_in_local(char) for char in local):
        return "bad_local"
    labels = domain.split(".")
    top = labels[-1]
    if len(labels) < 2 or not all(_valid_label(label) for label in labels) or len(top) < 2 or _DIGITS.fullmatch(top):
        return "bad_domain"
    return None


def device_reason(normalised: str) -> str | None:
    """Why a normalised mobile advertising id is invalid, or None when it is valid."""
    if not normalised:
        return "empty"
    if not _UUID.fullmatch(normalised):
        return "bad_uuid"
    if normalised == "00000000-0000-0000-0000-000000000000":
        return "zero_id"
    return None


def prepare_value(value: str | None, id_type: IdType, algorithm: HashAlgorithm) -> Result:
    """The record Pinterest receives for one input value, where it came from, or why it was dropped."""
    normalised = normalise(value)
    prehashed = prehashed_algorithm(normalised)
    if prehashed is not None:
        return Result(normalised, prehashed, None)
    reason = email_reason(normalised) if id_type is IdType.EMAIL else device_reason(normalised)
    if reason is not None:
        return Result(None, "invalid", reason)
    if id_type is not IdType.EMAIL and algorithm is HashAlgorithm.NONE:
        algorithm = HashAlgorithm.SHA256
    if algorithm is HashAlgorithm.NONE:
        return Result(normalised, "plain", None)
    return Result(digest(normalised, algorithm), "hashed", None)
