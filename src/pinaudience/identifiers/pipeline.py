"""The identifier rules applied to many values at once: normalise, recognise pre-hashed, validate, hash.

Two passes, because the whole rule is slow only where values are unusual (see `rules`):

- `first_pass` runs inside Polars' streaming engine over every row. It settles the pre-hashed values and
  the everyday valid ones (hashing them), and leaves the normalised value in `pending` for the rest.
- `second_pass` runs eagerly on the pending rows of a batch (invalid values, and valid ones outside
  ASCII) and settles them with the whole rule: a record, or a reason.

Columns after both passes: `record` (the string Pinterest receives, null where invalid), `origin` (an
`Origin` code) and `reason` (a `Reason` value, null where valid). Nothing here reads files or prints.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from pinaudience.identifiers.rules import (
    RULES,
    Origin,
    effective_algorithm,
    hash_expr,
    is_prehashed,
    normalise,
    prehashed_origin,
)
from pinaudience.identifiers.types import HashAlgorithm, IdType

RECORD: Final[str] = "record"
ORIGIN: Final[str] = "origin"
PENDING: Final[str] = "pending"
REASON: Final[str] = "reason"

_NORMALISED = "__normalised"
_PREHASHED = "__prehashed"
_FAST = "__fast_valid"
_ROW = "__row"


def _plain_origin(algorithm: HashAlgorithm) -> Origin:
    return Origin.PLAIN if algorithm is HashAlgorithm.NONE else Origin.HASHED


def first_pass(frame: pl.LazyFrame, value: str, id_type: IdType, algorithm: HashAlgorithm) -> pl.LazyFrame:
    """Replace the string column `value` with `record`, `origin` and `pending`; other columns pass through."""
    rule = RULES[id_type]
    algorithm = effective_algorithm(id_type, algorithm)
    normalised = pl.col(_NORMALISED)
    prehashed = pl.col(_PREHASHED)
    fast = pl.col(_FAST)
    return (
        frame.with_columns(normalise(pl.col(value)).alias(_NORMALISED))
        .with_columns(is_prehashed(normalised).alias(_PREHASHED), rule.fast_valid(normalised).alias(_FAST))
        .with_columns(
            # Only the fast-valid values are hashed: the rest are null going in, and hashing skips nulls.
            pl.when(prehashed)
            .then(normalised)
            .otherwise(hash_expr(pl.when(fast).then(normalised), algorithm))
            .alias(RECORD),
            pl.when(prehashed)
            .then(prehashed_origin(normalised))
            .when(fast)
            .then(pl.lit(int(_plain_origin(algorithm)), dtype=pl.UInt8))
            .otherwise(pl.lit(int(Origin.PENDING), dtype=pl.UInt8))
            .alias(ORIGIN),
            pl.when(~prehashed & ~fast).then(normalised).otherwise(pl.lit(None, dtype=pl.String)).alias(PENDING),
        )
        .drop(value, _NORMALISED, _PREHASHED, _FAST)
    )


def second_pass(pending: pl.DataFrame, id_type: IdType, algorithm: HashAlgorithm) -> pl.DataFrame:
    """Settle rows left pending by `first_pass`: fill `record` and `origin`, add `reason`, drop `pending`."""
    rule = RULES[id_type]
    algorithm = effective_algorithm(id_type, algorithm)
    normalised = pl.col(PENDING)
    valid = pl.col(REASON).is_null()
    return (
        pending.with_columns(rule.invalid_reason(normalised).alias(REASON))
        .with_columns(
            pl.when(valid)
            .then(hash_expr(normalised, algorithm))
            .otherwise(pl.lit(None, dtype=pl.String))
            .alias(RECORD),
            pl.when(valid)
            .then(pl.lit(int(_plain_origin(algorithm)), dtype=pl.UInt8))
            .otherwise(pl.lit(int(Origin.INVALID), dtype=pl.UInt8))
            .alias(ORIGIN),
        )
        .drop(PENDING)
    )


def evaluate(values: pl.Series, id_type: IdType, algorithm: HashAlgorithm) -> pl.DataFrame:
    """Both passes over a whole series, in memory: `record`, `origin` (its label) and `reason`, row by row.

    For tests and small inputs; `pinaudience.input.prepare` streams files through the two passes itself.
    """
    frame = pl.DataFrame({"value": values.cast(pl.String)}).with_row_index(_ROW)
    settled = first_pass(frame.lazy(), "value", id_type, algorithm).collect()
    is_pending = pl.col(ORIGIN) == int(Origin.PENDING)
    done = settled.filter(~is_pending).drop(PENDING).with_columns(pl.lit(None, dtype=pl.String).alias(REASON))
    rest = second_pass(settled.filter(is_pending), id_type, algorithm)
    labels = {int(origin): origin.label for origin in Origin}
    return (
        pl.concat([done, rest.select(done.columns)])
        .sort(_ROW)
        .select(
            RECORD,
            pl.col(ORIGIN).replace_strict(labels, return_dtype=pl.String),
            REASON,
        )
    )
