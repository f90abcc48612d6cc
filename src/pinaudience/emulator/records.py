"""Customer list records as the emulator sees them: parsing, validation, storage encoding, matching.

Validation messages name the field and a 1-based record position, never a record's value, so they are safe to
log. Hex hashes are stored as their bytes (half the space of their text), other records as UTF-8; a tag byte
keeps the two apart.
"""

from __future__ import annotations

import hashlib
import re

_HASH_LENGTHS = frozenset({32, 40, 64})
_LOWER_HEX = re.compile(r"[0-9a-f]+")
_ANY_HEX = re.compile(r"[0-9a-fA-F]+")
_WHITESPACE = re.compile(r"\s")

_TAG_HEX = b"\x00"
_TAG_TEXT = b"\x01"

HASHED_ONLY_TYPES = frozenset({"MAID", "IDFA"})
"""List types whose records must be SHA1, SHA256 or MD5 hashes (Pinterest's spec)."""
CHECKED_TYPES = HASHED_ONLY_TYPES | {"EMAIL"}
"""List types whose records Pinterest documents a rule for."""


def parse(records: str) -> list[str]:
    """Split Pinterest's comma-separated `records` string; blanks drop out (the spec's example ends in a comma)."""
    return [item for item in (part.strip() for part in records.split(",")) if item]


def count(records: str) -> int:
    """How many records `parse` would find, without building the list's strings twice."""
    return sum(1 for part in records.split(",") if part.strip())


def invalid_reason(records: list[str], list_type: str) -> str | None:
    """The first problem with `records` for a list of `list_type`, or None when all are acceptable (the answer
    of the setting `strict_records`; Pinterest itself accepts such records and never matches them)."""
    if list_type in HASHED_ONLY_TYPES:
        for position, record in enumerate(records, start=1):
            if not _is_hash(record):
                return (
                    f"records: {list_type} records must be SHA1, SHA256 or MD5 hashes in lowercase hex "
                    f"(record {position} is not)"
                )
        return None
    if list_type == "EMAIL":
        for position, record in enumerate(records, start=1):
            if _is_hash(record):
                continue
            if (len(record) in _HASH_LENGTHS and _ANY_HEX.fullmatch(record)) or record != record.lower():
                return f"records: emails must be lowercase (record {position} is not)"
            local, at, domain = record.partition("@")
            if not at or not local or not domain or _WHITESPACE.search(record):
                return (
                    f"records: EMAIL records must be emails or SHA1, SHA256 or MD5 hashes "
                    f"(record {position} is neither)"
                )
        return None
    return None


def is_valid(record: str, list_type: str) -> bool:
    """Whether a record follows Pinterest's rules for its list type (a record that does not never matches).

    EMAIL: a lowercase email, or a lowercase MD5, SHA1 or SHA256 hex hash; MAID and IDFA: such a hash; other
    list types: anything (Pinterest documents no rule for them).
    """
    if list_type in HASHED_ONLY_TYPES:
        return _is_hash(record)
    if list_type != "EMAIL" or _is_hash(record):
        return True
    if record != record.lower() or (len(record) in _HASH_LENGTHS and _ANY_HEX.fullmatch(record)):
        return False
    local, at, domain = record.partition("@")
    return bool(at and local and domain) and _WHITESPACE.search(record) is None


def invalid_count(records: list[str], list_type: str) -> int:
    """How many of `records` break Pinterest's rules for a list of `list_type`."""
    if list_type not in HASHED_ONLY_TYPES and list_type != "EMAIL":
        return 0
    return sum(1 for record in records if not is_valid(record, list_type))


def _is_hash(record: str) -> bool:
    """Lowercase hex of an MD5, SHA1 or SHA256 digest."""
    return len(record) in _HASH_LENGTHS and _LOWER_HEX.fullmatch(record) is not None


def encode(record: str) -> bytes:
    """The stored key of a record: tagged hash bytes for lowercase hex, tagged UTF-8 for anything else."""
    if len(record) % 2 == 0 and _LOWER_HEX.fullmatch(record) is not None:
        return _TAG_HEX + bytes.fromhex(record)
    return _TAG_TEXT + record.encode()


def decode(key: bytes) -> str:
    """The record a stored key came from (`decode(encode(r)) == r`)."""
    if key[:1] == _TAG_HEX:
        return key[1:].hex()
    return key[1:].decode()


def match_threshold(match_rate: float) -> int:
    """Records whose `match_key` is below this are Pinterest users."""
    return int(match_rate * 2**64)


def match_key(record: str) -> int:
    """A uniform 64-bit number fixed by the record: the first 8 bytes of its SHA-256."""
    return int.from_bytes(hashlib.sha256(record.encode()).digest()[:8], "big")


def is_matched(record: str, match_rate: float) -> bool:
    """Whether a record counts as a Pinterest user: a fixed function of the record, so it always or never does."""
    return match_key(record) < match_threshold(match_rate)
