"""The `event_id` of an event whose file gives none: a digest of what is sent, so a file sent twice is counted once.

Pinterest deduplicates events by `event_id`. A file's own id (trimmed) always wins. Without one, the id is
`EVENT_ID_PREFIX` followed by the first 32 hex digits (128 bits) of the SHA-256 of a canonical text of the
event's fields after normalisation and hashing, in the order of `ID_FIELDS`, each field the event has as
`name=VALUE;` (a field it does not have is left out):

- a hashed field: the first `DIGEST_HEX` hex digits of each of its digests, sorted, joined by commas;
- `event_name`, `action_source`: as sent; `event_time`: decimal Unix seconds;
- a free-text field (`FREE_TEXT`: the plain user_data fields and the custom data): `LENGTH:VALUE`, LENGTH in
  characters, so that a `;` inside the value cannot run into the next field.

The names, in a fixed order, and the lengths make the text decodable, so two events differ in their text
whenever they differ in a counted field. The raw values never enter it, only the normalised and hashed ones, so
`John@Example.com` and `john@example.com` give the same id. Fields outside `ID_FIELDS` do not count.

Two rows equal in every counted field get the same id, and Pinterest counts them once: a file holding two
genuinely distinct but identical-looking events (same person, second, value and no order id) must give them
ids of its own.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from pinaudience.conversions.fields import FIELDS, sha256

EVENT_ID_PREFIX: Final[str] = "pa1-"
"""`pa` for pinaudience, `1` for this rule's version: a derived id cannot collide with an id of the file's own
unless that file uses this very shape, and a future rule would be `pa2-`."""

EVENT_ID_HEX: Final[int] = 32
"""Hex digits of the digest kept: 128 bits, a UUID's length with the prefix."""

ID_FIELDS: Final[tuple[str, ...]] = (
    "event_name",
    "action_source",
    "event_time",
    *(rule.name for rule in FIELDS),
    "order_id",
    "value",
    "currency",
)
"""The fields that make a derived event id, in the order of its canonical text."""

FREE_TEXT: Final[frozenset[str]] = frozenset(
    {*(rule.name for rule in FIELDS if not rule.hashed), "order_id", "value", "currency"}
)
"""Fields whose value may hold any character: written with their length."""

DIGEST_HEX: Final[int] = 32
"""Hex digits of each user_data digest the canonical text keeps (128 bits): half the text to hash."""


def digest_key(digest: pl.Expr) -> pl.Expr:
    """What the canonical text keeps of one user_data digest."""
    return digest.str.slice(0, DIGEST_HEX)


def canonical_text(columns: dict[str, pl.Expr]) -> pl.Expr:
    """The canonical text from one expression per field the frame has: String or Int64, and for a hashed field
    its `digest_key`s, sorted and joined by commas (as `prepare_events` builds them). Null is "not this event's".
    """
    pieces: list[pl.Expr] = []
    for name in ID_FIELDS:
        if name not in columns:
            continue
        text = columns[name].cast(pl.String)
        if name in FREE_TEXT:
            parts = [pl.lit(f"{name}="), text.str.len_chars().cast(pl.String), pl.lit(":"), text, pl.lit(";")]
        else:
            parts = [pl.lit(f"{name}="), text, pl.lit(";")]
        pieces.append(pl.concat_str(parts))
    return pl.concat_str(pieces, ignore_nulls=True)


def derived_event_id(columns: dict[str, pl.Expr]) -> pl.Expr:
    """`pa1-` and 32 hex digits of the SHA-256 of the canonical text."""
    return pl.concat_str(pl.lit(EVENT_ID_PREFIX), sha256(canonical_text(columns)).str.slice(0, EVENT_ID_HEX))
