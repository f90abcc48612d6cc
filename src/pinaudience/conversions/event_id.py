"""The `event_id` of an event whose file gives none: a digest of what is sent, so a file sent twice is counted once.

Pinterest deduplicates events by `event_id`. A file's own id (trimmed) always wins. Without one, the id is
`EVENT_ID_PREFIX` followed by the first 32 hex digits (128 bits) of the SHA-256 of a canonical text of the
event's fields after normalisation and hashing, in the order of `ID_FIELDS`: each as `name=LENGTH:VALUE;`
(LENGTH in characters, so no value can run into the next) or `name=-:;` when absent. A list of digests is
written sorted and joined by commas; `event_time` as decimal Unix seconds. The raw values never enter it, only
the normalised and hashed ones, so the same customer written `John@Example.com` or `john@example.com` gives
the same id. Fields outside `ID_FIELDS` (other custom data, device data) do not count.

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


def canonical_text(columns: dict[str, pl.Expr]) -> pl.Expr:
    """The canonical text of `ID_FIELDS`, from one String or Int64 expression per field.

    A hashed field's expression is its digests sorted and joined by commas (as `prepare_events` builds them:
    cheaper than joining lists here). A field missing from `columns` is
    absent from every event: its piece is a constant, which keeps files with few fields cheap. One flat
    `concat_str`: an absent value's length is written `-` and its value empty, which reads `name=-:;`.
    """
    hashed = {rule.name for rule in FIELDS if rule.hashed}
    pieces: list[pl.Expr] = []
    for name in ID_FIELDS:
        if name not in columns:
            pieces.append(pl.lit(f"{name}=-:;"))
            continue
        text = columns[name].cast(pl.String)
        # Digests are ASCII, so their length in bytes is their length in characters, and cheaper to read.
        length = text.str.len_bytes() if name in hashed else text.str.len_chars()
        pieces += [
            pl.lit(f"{name}="),
            length.cast(pl.String).fill_null("-"),
            pl.lit(":"),
            text.fill_null(""),
            pl.lit(";"),
        ]
    return pl.concat_str(pieces)


def derived_event_id(columns: dict[str, pl.Expr]) -> pl.Expr:
    """`pa1-` and 32 hex digits of the SHA-256 of the canonical text."""
    return pl.concat_str(pl.lit(EVENT_ID_PREFIX), sha256(canonical_text(columns)).str.slice(0, EVENT_ID_HEX))
