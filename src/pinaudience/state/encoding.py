"""How records are stored: hashes as raw bytes, anything else as text, in (key, record) order.

A record is either a lowercase hex hash (MD5, SHA-1 or SHA-256: 32, 40 or 64 characters, the
`pinaudience.support.hexdigest.HEX_DIGEST_RE` rule) or any other string (a plain lowercased email a user
chose to send, or whatever a file held). Stored frames have three columns:

- `key` (UInt16): the record's partition key, exactly as `pinaudience.records.recordset` defines it;
- `hash` (Binary): the hash's bytes, half the size of its hex text; null for other records;
- `text` (String): the record itself when it is not a hash; null for hashes.

Exactly one of `hash` and `text` is set, so decoding is `hex(hash)` or `text`, and every string
round-trips, hex or not, whatever its length or script. Rows keep the `RecordSet` order (key, record).
Within one key, the bytes of hashes sort as their hex text does, so a partition that holds only
hashes is also sorted by (`key`, `hash`), which compaction uses to merge without decoding.

The same encoding serves snapshots (Parquet files) and journal batches (Parquet bytes in SQLite).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Final, Literal

import polars as pl

from pinaudience.records.recordset import KEY, RECORD, with_keys
from pinaudience.support.hexdigest import HEX_DIGEST_RE

HASH = "hash"
TEXT = "text"
ENCODED_SCHEMA = {KEY: pl.UInt16, HASH: pl.Binary, TEXT: pl.String}
IDENTITY = [KEY, HASH, TEXT]
"""The columns that identify a stored record (joins use them with nulls equal)."""

FORMAT_VERSION = "1"
"""Written into every Parquet file's metadata as `pinaudience.format`; readers refuse other values."""
FORMAT_KEY = "pinaudience.format"

PARQUET_COMPRESSION: Final[Literal["lz4"]] = "lz4"
"""Hash bytes do not compress, so a cheap codec; plain emails still shrink with it."""


def encode(frame: pl.DataFrame) -> pl.DataFrame:
    """(key, record) rows to (key, hash, text) rows, in the same order."""
    is_hex = pl.col(RECORD).str.contains(HEX_DIGEST_RE)
    return frame.select(
        pl.col(KEY),
        pl.when(is_hex).then(pl.col(RECORD).str.decode("hex", strict=False)).alias(HASH),
        pl.when(is_hex).then(None).otherwise(pl.col(RECORD)).alias(TEXT),
    )


def decode(frame: pl.DataFrame) -> pl.DataFrame:
    """(key, hash, text) rows back to (key, record) rows, in the same order."""
    return frame.select(pl.col(KEY), decoded_record())


def decoded_record() -> pl.Expr:
    """The record string of an encoded row."""
    return pl.coalesce(pl.col(HASH).bin.encode("hex"), pl.col(TEXT)).alias(RECORD)


def encode_records(records: Sequence[str] | pl.Series) -> pl.DataFrame:
    """Distinct records, sorted and encoded: the canonical stored form of a batch."""
    series = records if isinstance(records, pl.Series) else pl.Series(RECORD, list(records), pl.String)
    keyed = with_keys(series.cast(pl.String))
    return encode(keyed.unique(maintain_order=True).sort([KEY, RECORD]))


def sort_encoded(frame: pl.DataFrame) -> pl.DataFrame:
    """Put encoded rows in (key, record) order."""
    if frame.get_column(TEXT).null_count() == frame.height:
        return frame.sort([KEY, HASH])
    # Text and hashes interleave within a key by their record strings, so sort on the decoded text.
    return frame.with_columns(decoded_record()).sort([KEY, RECORD]).drop(RECORD)


def merge_encoded(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    """Two encoded frames, each in (key, record) order and disjoint, merged into one in that order."""
    if right.height == 0:
        return left
    if left.height == 0:
        return right
    only_hashes = left.get_column(TEXT).null_count() == left.height and right.get_column(TEXT).null_count() == (
        right.height
    )
    if only_hashes:
        # Every key is the first two bytes of its hash, so (key, hash) order is hash order.
        return left.merge_sorted(right, key=HASH)
    return sort_encoded(pl.concat([left, right]))


def to_parquet_bytes(frame: pl.DataFrame) -> bytes:
    """An encoded frame as Parquet bytes (a journal batch)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression=PARQUET_COMPRESSION, metadata={FORMAT_KEY: FORMAT_VERSION})
    return buffer.getvalue()


def from_parquet_bytes(data: bytes) -> pl.DataFrame:
    """Parquet bytes written by `to_parquet_bytes` back to an encoded frame."""
    return pl.read_parquet(io.BytesIO(data)).cast(ENCODED_SCHEMA)  # type: ignore[arg-type]


def empty_encoded() -> pl.DataFrame:
    return pl.DataFrame(schema=ENCODED_SCHEMA)
