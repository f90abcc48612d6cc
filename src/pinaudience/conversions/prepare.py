"""A frame of raw event columns in, payload-ready events out, with counts of everything dropped.

`prepare_events` is the whole of it: it finds each field's columns (`resolve_columns`), applies the field
table (`fields`) to every value at once in Polars, parses `event_time` (`times`), checks that every event keeps
an identifier Pinterest can match on, gives each event its id (`event_id`), and counts. Nothing here reads a
file, a clock or the terminal: the caller gives the frame and `now`, and writes the rejects where it wants them.

How it runs, for speed (docs/benchmarks.md): a field read from one text column is settled one value per row,
column-wise, every such field in one query of Polars' streaming engine (`_column_stages`); only the cells that
hold several values, list columns and fields read from several columns are split into one row per value and
grouped back (`_hashed_field`, `_lists`). Emails get the whole rule only where the fast check left them open,
and ISO 8601 times are parsed only where the text is not a number (`_settle_pending`, `times.settle_times`).

Neither the counts nor the rejects ever hold a value from the frame: field names, reasons and row numbers only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import polars as pl

from pinaudience.conversions.event_id import derived_event_id, digest_key
from pinaudience.conversions.fields import (
    FIELD_BY_NAME,
    FIELDS,
    OTHER_DIGEST_RE,
    SHA256_RE,
    VALUE_SEPARATOR,
    FieldReason,
    FieldRule,
    sha256,
    trim,
)
from pinaudience.conversions.times import (
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_AHEAD_S,
    TimeReason,
    parse_event_time,
    settle_times,
    window_reason,
)
from pinaudience.errors import InputError
from pinaudience.pinterest import limits

ROW: Final[str] = "row"
"""Data rows numbered from 1 in frame order, unless the caller names a column that already holds them."""
_ROW: Final[str] = "__row"
"""The row number while the work is done: a name no file's column is likely to have."""

EVENT_NAMES: Final[frozenset[str]] = frozenset(limits.CONVERSION_EVENT_NAMES)
"""Pinterest's `event_name` values (one list, in `pinterest/limits.py`, read by the emulator too)."""

ACTION_SOURCES: Final[frozenset[str]] = frozenset(limits.CONVERSION_ACTION_SOURCES)
"""Pinterest's `action_source` values."""

EVENT_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "event_id": ("event_id",),
    "event_name": ("event_name",),
    "action_source": ("action_source",),
    "event_time": ("event_time", "timestamp"),
    "order_id": ("order_id",),
    "value": ("value",),
    "currency": ("currency",),
}
"""The event's own columns (not user data) and the names a CDP export uses for them."""

USER_DATA: Final[tuple[str, ...]] = tuple(rule.name for rule in FIELDS)
HASHED: Final[tuple[str, ...]] = tuple(rule.name for rule in FIELDS if rule.hashed)
PLAIN: Final[tuple[str, ...]] = tuple(rule.name for rule in FIELDS if not rule.hashed)

EVENTS_COLUMNS: Final[tuple[str, ...]] = (
    ROW,
    "event_id",
    "event_name",
    "action_source",
    "event_time",
    *USER_DATA,
    "order_id",
    "value",
    "currency",
)
"""The columns of `PreparedEvents.events`, in order."""


class EventReason(enum.StrEnum):
    """Why a whole event was rejected (besides the `TimeReason` values); keys of `rejected_by_reason`."""

    NO_EVENT_NAME = "no_event_name"
    BAD_EVENT_NAME = "bad_event_name"
    NO_ACTION_SOURCE = "no_action_source"
    BAD_ACTION_SOURCE = "bad_action_source"
    NO_IDENTIFIER = "no_identifier"


@dataclass(frozen=True, slots=True)
class EventOptions:
    """How `prepare_events` fills gaps and which times it accepts."""

    event_name: str | None = None
    """The `event_name` of rows without one (a file of checkouts need not repeat it); the column wins."""
    action_source: str | None = None
    """The `action_source` of rows without one."""
    max_age_s: int | None = DEFAULT_MAX_AGE_S
    """Events older than this before `now` are `too_old`; None accepts any age (for `?test=true` runs)."""
    max_ahead_s: int | None = DEFAULT_MAX_AHEAD_S
    """Events later than this after `now` are `in_future`; None accepts any."""
    row_column: str | None = None
    """A column that already numbers the rows (the file reader's); else rows are numbered from 1."""


@dataclass(slots=True)
class EventsReport:
    """The counts of one `prepare_events`: JSON-serialisable, and free of any value from the frame."""

    rows_read: int = 0
    events_ready: int = 0
    events_rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    """Rejected events per reason (each under its first reason, in the order `docs/events.md` lists them)."""
    invalid_by_field: dict[str, dict[str, int]] = field(default_factory=dict)
    """Values dropped from events, per field and reason (the event itself may still be sent)."""
    hashed_by_field: dict[str, int] = field(default_factory=dict)
    """Valid values hashed here, per field."""
    prehashed_by_field: dict[str, int] = field(default_factory=dict)
    """Values that already were SHA-256 digests, passed through lower-cased, per field."""
    event_ids_derived: int = 0
    """Sent events whose id was derived (the file gave none)."""
    duplicate_event_ids: int = 0
    """Sent events whose id repeats an earlier sent event's: Pinterest counts them once."""
    columns: dict[str, list[str]] = field(default_factory=dict)
    """The columns each field was read from (column names only)."""

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PreparedEvents:
    """What `prepare_events` made of a frame."""

    events: pl.DataFrame
    """One row per event to send, in the frame's order, with `EVENTS_COLUMNS`: hashed fields as List(String) of
    lowercase hex SHA-256 digests (sorted, distinct; null when none), plain fields and custom data as String (null
    when absent), `event_time` as Int64 Unix seconds. Null means "leave the key out of the payload"."""
    rejects: pl.DataFrame
    """One row per rejected event, in the frame's order: `row` (Int64) and `reason` (String). Never a value."""
    report: EventsReport


def resolve_columns(
    columns: Sequence[str], mapping: Mapping[str, str | Sequence[str]] | None = None
) -> dict[str, tuple[str, ...]]:
    """Each field's source columns: the mapping's for the fields it names, else the columns whose name (ignoring
    case and surrounding spaces) is one of the field's usual names. Fields without a column are left out."""
    by_key = {name.strip().lower(): name for name in columns}
    known = {**{rule.name: rule.columns for rule in FIELDS}, **EVENT_COLUMNS}
    resolved: dict[str, tuple[str, ...]] = {}
    for key, names in known.items():
        found = tuple(by_key[name] for name in names if name in by_key)
        if found:
            resolved[key] = found
    for key, given in (mapping or {}).items():
        if key not in known:
            raise InputError(
                f"unknown event field {key!r} in the column mapping",
                resolution="name one of: " + ", ".join(known),
            )
        wanted = (given,) if isinstance(given, str) else tuple(given)
        missing = [name for name in wanted if name not in columns]
        if missing:
            raise InputError(
                f"the column mapping names columns the file does not have: {', '.join(missing)}",
                resolution="the file's columns are: " + ", ".join(columns),
            )
        resolved[key] = wanted
    # A column mapped explicitly to one field is no longer read for another by its usual name.
    taken = {name: key for key, given in (mapping or {}).items() for name in resolved[key]}
    return {
        key: tuple(name for name in names if taken.get(name, key) == key)
        for key, names in resolved.items()
        if any(taken.get(name, key) == key for name in names)
    }


def _as_text(column: str, dtype: pl.DataType) -> pl.Expr:
    """One text value per row: a list column gives its first element."""
    value = pl.col(column)
    if isinstance(dtype, pl.List):
        value = value.list.first()
    return trim(value.cast(pl.String))


def _first_text(names: tuple[str, ...], schema: pl.Schema) -> pl.Expr:
    """The first non-empty trimmed text among the columns, else null."""
    values = [_as_text(name, schema[name]) for name in names]
    return pl.coalesce([pl.when(value != "").then(value) for value in values])


def _values(frame: pl.LazyFrame, names: tuple[str, ...], schema: pl.Schema) -> pl.LazyFrame:
    """(row, value, multi) for every value of a field, from text cells or list columns.

    `multi` marks values that came from a cell of several (a list, or text holding the separator), or from one
    of several columns: only those rows need grouping back into a list. A cell without the separator is one
    value as it is, which spares most rows the split and the grouping.
    """
    parts = []
    several = len(names) > 1
    for name in names:
        dtype = schema[name]
        if isinstance(dtype, pl.List):
            lists = frame.select(_ROW, pl.col(name).cast(pl.List(pl.String)).alias("value")).explode("value")
            parts.append(lists.with_columns(pl.lit(True).alias("multi")))
            continue
        text = pl.col(name).cast(pl.String)
        has_separator = text.str.contains(VALUE_SEPARATOR, literal=True).fill_null(False)
        single = frame.filter(~has_separator).select(_ROW, text.alias("value"), pl.lit(several).alias("multi"))
        split_up = frame.filter(has_separator).select(_ROW, text.str.split(VALUE_SEPARATOR).alias("value"))
        parts += [single, split_up.explode("value").with_columns(pl.lit(True).alias("multi"))]
    return pl.concat(parts)


def _hashed_field(frame: pl.LazyFrame, rule: FieldRule, names: tuple[str, ...], schema: pl.Schema) -> pl.DataFrame:
    """(row, out, reason, prehashed, multi) for every non-empty value of a hashed field.

    Where the rule has a fast check (emails), the whole rule runs only on the values the fast check and the
    pre-hashed test left open, as in `pinaudience.identifiers.pipeline`, and its reasons are scattered back.
    """
    lowered = pl.col("lowered")
    folded = lowered if rule.lower else pl.col("trimmed")
    other = lowered.str.contains(OTHER_DIGEST_RE) if rule.refuses_other_digests else pl.lit(False)
    query = (
        _values(frame, names, schema)
        .select(_ROW, "multi", trim(pl.col("value")).alias("trimmed"))
        .filter(pl.col("trimmed").is_not_null() & (pl.col("trimmed") != ""))
        .with_columns(pl.col("trimmed").str.to_lowercase().alias("lowered"))
        .select(
            _ROW,
            "multi",
            "lowered",
            lowered.str.contains(SHA256_RE).alias("prehashed"),
            other.alias("other"),
            rule.normalise(folded).alias("normalised"),
        )
    )
    normalised = pl.col("normalised")
    if rule.fast_valid is None:
        values = query.with_columns(rule.invalid_reason(normalised).alias("reason")).collect()
    else:
        values = query.with_columns(rule.fast_valid(normalised).alias("fast")).collect()
        open_ = ~(pl.col("prehashed") | pl.col("other") | pl.col("fast"))
        found = (
            values.with_row_index("index")
            .filter(open_)
            .select("index", rule.invalid_reason(normalised).alias("reason"))
        )
        scattered = pl.repeat(None, values.height, dtype=pl.String, eager=True).scatter(
            found.get_column("index"), found.get_column("reason")
        )
        values = values.with_columns(scattered.alias("reason"))
    reason = (
        pl.when(pl.col("prehashed"))
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("other"))
        .then(pl.lit(FieldReason.NOT_SHA256.value))
        .otherwise(pl.col("reason"))
    )
    return values.with_columns(reason.alias("reason")).select(
        _ROW,
        pl.when(pl.col("prehashed"))
        .then(lowered)
        .otherwise(sha256(pl.when(pl.col("reason").is_null()).then(normalised)))
        .alias("out"),
        "reason",
        "prehashed",
        "multi",
    )


def _column_stages(rule: FieldRule, column: str, *, split: bool = True) -> list[list[pl.Expr]]:
    """The rule over one text column, one value per row, as successive `with_columns` stages (so that each
    intermediate is computed once). Cells holding the separator are left, whole, in `__F_several`, for
    `_hashed_field`.

    Leaves `__F_out` (what is sent, or null), `__F_reason`, `__F_pre` (pre-hashed), `__F_several` and, for a rule
    with a fast check, `__F_pending` (the normalised value the whole rule must still settle: see `_settle_pending`).
    """
    name = rule.name

    def col(part: str) -> pl.Expr:
        return pl.col(f"__{name}_{part}")

    cell = pl.col(column).cast(pl.String)
    multi = cell.str.contains(VALUE_SEPARATOR, literal=True).fill_null(False) if split else pl.lit(False)
    present = col("t").is_not_null()
    folded = col("low") if rule.lower else col("t")
    stages: list[list[pl.Expr]] = [
        [trim(cell).alias(f"__{name}_t"), multi.alias(f"__{name}_multi")],
        [
            pl.when(~col("multi") & (col("t") != "")).then(col("t")).alias(f"__{name}_t"),
            pl.when(col("multi")).then(cell).alias(f"__{name}_several"),
        ],
        [col("t").str.to_lowercase().alias(f"__{name}_low")],
        [
            col("low").str.contains(SHA256_RE).alias(f"__{name}_pre"),
            (col("low").str.contains(OTHER_DIGEST_RE) if rule.refuses_other_digests else pl.lit(False)).alias(
                f"__{name}_other"
            ),
            rule.normalise(folded).alias(f"__{name}_norm"),
        ],
    ]
    settled_reason = (
        pl.when(~present | col("pre"))
        .then(pl.lit(None, dtype=pl.String))
        .when(col("other"))
        .then(pl.lit(FieldReason.NOT_SHA256.value))
    )
    if rule.fast_valid is None:
        stages.append([settled_reason.otherwise(rule.invalid_reason(col("norm"))).alias(f"__{name}_reason")])
        valid = present & ~col("pre") & col("reason").is_null()
        stages.append(
            [
                pl.when(col("pre"))
                .then(col("low"))
                .otherwise(sha256(pl.when(valid).then(col("norm"))))
                .alias(f"__{name}_out")
            ]
        )
    else:
        stages.append([rule.fast_valid(col("norm")).alias(f"__{name}_fast")])
        open_ = present & ~col("pre") & ~col("other") & ~col("fast")
        stages.append(
            [
                settled_reason.otherwise(pl.lit(None, dtype=pl.String)).alias(f"__{name}_reason"),
                pl.when(col("pre"))
                .then(col("low"))
                .otherwise(sha256(pl.when(col("fast") & ~col("pre") & ~col("other")).then(col("norm"))))
                .alias(f"__{name}_out"),
                pl.when(open_).then(col("norm")).alias(f"__{name}_pending"),
            ]
        )
    return stages


def _column_outputs(rule: FieldRule) -> list[str]:
    """The columns `_column_stages` leaves for the rest of the work."""
    kept = ["out", "reason", "pre", "several"] + (["pending"] if rule.fast_valid is not None else [])
    return [f"__{rule.name}_{part}" for part in kept]


def _settle_pending(frame: pl.DataFrame, rule: FieldRule) -> pl.DataFrame:
    """The whole rule over the values the fast check left open: a reason, or (valid outside the fast check's
    ASCII subset) the digest; scattered back into `__F_reason` and `__F_out`."""
    name = rule.name
    pending = frame.get_column(f"__{name}_pending")
    index = pending.is_not_null().arg_true()
    if index.len() == 0:
        return frame.drop(f"__{name}_pending")
    values = pending.gather(index).to_frame("norm")
    settled = values.select(rule.invalid_reason(pl.col("norm")).alias("reason")).with_columns(values.get_column("norm"))
    settled = settled.with_columns(sha256(pl.when(pl.col("reason").is_null()).then(pl.col("norm"))).alias("out"))
    return frame.with_columns(
        frame.get_column(f"__{name}_reason").scatter(index, settled.get_column("reason")),
        frame.get_column(f"__{name}_out").scatter(index, settled.get_column("out")),
    ).drop(f"__{name}_pending")


def _lists(valid: pl.DataFrame, name: str) -> pl.DataFrame:
    """Per row with a valid value: the field's digests as a sorted distinct list, and joined by commas (for the
    derived event id). Rows of one value need no grouping."""
    single = valid.filter(~pl.col("multi")).select(
        _ROW, pl.concat_list(pl.col("out")).alias(name), digest_key(pl.col("out")).alias(f"__{name}_joined")
    )
    multi = valid.filter(pl.col("multi")).select(_ROW, "out").unique().sort(_ROW, "out")
    grouped = multi.group_by(_ROW, maintain_order=True).agg(
        pl.col("out").alias(name), digest_key(pl.col("out")).str.join(",").alias(f"__{name}_joined")
    )
    return pl.concat([single, grouped])


def _count(series: pl.Series) -> dict[str, int]:
    counts = series.drop_nulls().value_counts()
    return {str(key): int(count) for key, count in sorted(counts.iter_rows())}


def prepare_events(
    frame: pl.DataFrame | pl.LazyFrame,
    mapping: Mapping[str, str | Sequence[str]] | None = None,
    *,
    now: int,
    options: EventOptions | None = None,
) -> PreparedEvents:
    """Normalise, validate and hash every event of `frame`; `now` is Unix seconds, for the time window.

    `mapping` names the column(s) of any field (a user_data field such as `em`, or `event_id`, `event_name`,
    `action_source`, `event_time`, `order_id`, `value`, `currency`); the rest are found by their usual names.
    """
    options = options or EventOptions()
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    if options.row_column is None:
        lazy = lazy.with_row_index(_ROW, offset=1).with_columns(pl.col(_ROW).cast(pl.Int64))
    else:
        lazy = lazy.with_columns(pl.col(options.row_column).cast(pl.Int64).alias(_ROW))
    columns = resolve_columns([name for name in schema.names() if name != options.row_column], mapping)
    report = EventsReport(columns={key: list(names) for key, names in columns.items()})

    def text(key: str) -> pl.Expr:
        names = columns.get(key)
        return _first_text(names, schema) if names else pl.lit(None, dtype=pl.String)

    def enum_value(key: str, default: str | None, allowed: frozenset[str], missing: str, bad: str) -> list[pl.Expr]:
        value = text(key).str.to_lowercase()
        if default is not None:
            value = value.fill_null(pl.lit(default.strip().lower()))
        reason = (
            pl.when(value.is_null())
            .then(pl.lit(missing))
            .when(~value.is_in(list(allowed)))
            .then(pl.lit(bad))
            .otherwise(pl.lit(None, dtype=pl.String))
        )
        return [value.alias(key), reason.alias(f"__{key}_reason")]

    if "event_time" in columns:
        seconds, time_reason, time_pending = parse_event_time(
            columns["event_time"][0], schema[columns["event_time"][0]]
        )
    else:
        seconds, time_reason = pl.lit(None, dtype=pl.Int64), pl.lit(TimeReason.NO_EVENT_TIME.value)
        time_pending = pl.lit(None, dtype=pl.String)

    plain = []
    for name in PLAIN:
        value = text(name)
        plain_reason = FIELD_BY_NAME[name].invalid_reason(value)
        plain += [pl.when(plain_reason.is_null()).then(value).alias(name), plain_reason.alias(f"__{name}_reason")]

    # One value per row for most fields (one text column, no separator in the cell): column-wise, in one query.
    wide = [
        rule
        for rule in FIELDS
        if rule.hashed
        and len(columns.get(rule.name, ())) == 1
        and not isinstance(schema[columns[rule.name][0]], pl.List)
    ]
    staged = lazy
    stages = {rule.name: _column_stages(rule, columns[rule.name][0]) for rule in wide}
    for step in range(max((len(steps) for steps in stages.values()), default=0)):
        staged = staged.with_columns([expr for steps in stages.values() if step < len(steps) for expr in steps[step]])
    parsed = staged.select(
        _ROW,
        text("event_id").alias("__file_event_id"),
        *enum_value("event_name", options.event_name, EVENT_NAMES, "no_event_name", "bad_event_name"),
        *enum_value("action_source", options.action_source, ACTION_SOURCES, "no_action_source", "bad_action_source"),
        seconds.alias("event_time"),
        time_reason.alias("__time_reason"),
        time_pending.alias("__time_pending"),
        *plain,
        *(text(key).alias(key) for key in ("order_id", "value", "currency")),
        *(pl.col(name) for rule in wide for name in _column_outputs(rule)),
    )
    base = settle_times(parsed.collect(engine="streaming"), "event_time", "__time_reason", "__time_pending")
    window = window_reason(pl.col("event_time"), now, options.max_age_s, options.max_ahead_s)
    base = base.with_columns(pl.coalesce(pl.col("__time_reason"), window).alias("__time_reason")).with_columns(
        pl.when(pl.col("__time_reason").is_null()).then(pl.col("event_time")).alias("event_time")
    )
    report.rows_read = base.height

    for name in PLAIN:
        counts = _count(base.get_column(f"__{name}_reason"))
        if counts:
            report.invalid_by_field[name] = counts

    def add_counts(name: str, reasons: pl.Series, prehashed: pl.Series, out: pl.Series) -> None:
        for reason, count in _count(reasons).items():
            field_counts = report.invalid_by_field.setdefault(name, {})
            field_counts[reason] = field_counts.get(reason, 0) + count
        passed, sent = int(prehashed.sum()), int(out.is_not_null().sum())
        if passed:
            report.prehashed_by_field[name] = report.prehashed_by_field.get(name, 0) + passed
        if sent - passed:
            report.hashed_by_field[name] = report.hashed_by_field.get(name, 0) + sent - passed

    # Each hashed field leaves `__F_joined` (its digest keys, for the id; null when the row has no valid value)
    # and an expression of its list column, built at the end on the events sent only.
    events = base
    list_of: dict[str, pl.Expr] = {}

    def join_lists(frame: pl.DataFrame, name: str, values: pl.DataFrame) -> pl.DataFrame:
        add_counts(name, values.get_column("reason"), values.get_column("prehashed"), values.get_column("out"))
        grouped = _lists(values.filter(pl.col("out").is_not_null()), name)
        joined = f"__{name}_joined"
        frame = frame.join(
            grouped.rename({name: f"__{name}_multi", joined: "__joined"}), on=_ROW, how="left", maintain_order="left"
        )
        if joined in frame.columns:
            return frame.with_columns(pl.coalesce(joined, "__joined").alias(joined)).drop("__joined")
        return frame.rename({"__joined": joined})

    for rule in wide:
        name = rule.name
        if rule.fast_valid is not None:
            events = _settle_pending(events, rule)
        out = pl.col(f"__{name}_out")
        add_counts(
            name,
            events.get_column(f"__{name}_reason"),
            events.get_column(f"__{name}_pre"),
            events.get_column(f"__{name}_out"),
        )
        events = events.with_columns(digest_key(out).alias(f"__{name}_joined"))
        list_of[name] = pl.when(out.is_not_null()).then(pl.concat_list(out))
        several = events.select(_ROW, pl.col(f"__{name}_several").alias("value")).drop_nulls("value")
        events = events.drop(f"__{name}_several", f"__{name}_reason", f"__{name}_pre")
        if several.height:
            events = join_lists(events, name, _hashed_field(several.lazy(), rule, ("value",), several.schema))
            list_of[name] = pl.coalesce(list_of[name], pl.col(f"__{name}_multi"))

    for rule in FIELDS:
        if rule.hashed and rule.name in columns and rule.name not in list_of:
            events = join_lists(events, rule.name, _hashed_field(lazy, rule, columns[rule.name], schema))
            list_of[rule.name] = pl.col(f"__{rule.name}_multi")
    report.invalid_by_field = {
        name: dict(sorted(report.invalid_by_field[name].items()))
        for name in USER_DATA
        if name in report.invalid_by_field
    }

    def has(name: str) -> pl.Expr:
        return pl.col(f"__{name}_joined").is_not_null() if name in list_of else pl.lit(False)

    has_identifier = (
        has("em")
        | has("hashed_maids")
        | (pl.col("client_ip_address").is_not_null() & pl.col("client_user_agent").is_not_null())
    )
    event_reason = pl.coalesce(
        pl.col("__event_name_reason"),
        pl.col("__action_source_reason"),
        pl.col("__time_reason"),
        pl.when(~has_identifier).then(pl.lit(EventReason.NO_IDENTIFIER.value)),
    )
    present = {"event_name", "action_source", "event_time", *(name for name in PLAIN if name in columns)}
    present |= {name for name in ("order_id", "value", "currency") if name in columns}
    id_columns = {name: pl.col(name) for name in present} | {name: pl.col(f"__{name}_joined") for name in list_of}
    events = events.with_columns(event_reason.alias("__reason"))
    rejects = events.select(pl.col(_ROW).alias(ROW), pl.col("__reason").alias("reason")).drop_nulls("reason")
    sent = (
        events.lazy()
        .filter(pl.col("__reason").is_null())
        .select(
            pl.col(_ROW).alias(ROW),
            pl.coalesce(pl.col("__file_event_id"), derived_event_id(id_columns)).alias("event_id"),
            "event_name",
            "action_source",
            "event_time",
            *(
                list_of.get(name, pl.lit(None, dtype=pl.List(pl.String))).alias(name)
                if name in HASHED
                else pl.col(name)
                for name in USER_DATA
            ),
            "order_id",
            "value",
            "currency",
            pl.col("__file_event_id").is_null().alias("__derived"),
        )
        .collect()
    )

    report.events_rejected = rejects.height
    report.rejected_by_reason = _count(rejects.get_column("reason"))
    report.events_ready = sent.height
    report.event_ids_derived = int(sent.get_column("__derived").sum())
    report.duplicate_event_ids = sent.height - sent.get_column("event_id").n_unique()
    return PreparedEvents(events=sent.select(EVENTS_COLUMNS), rejects=rejects, report=report)


def evaluate_values(name: str, values: pl.Series) -> pl.DataFrame:
    """One field's rule over single values, in memory: `out`, `reason` and `prehashed` per input value.

    For tests and the documentation's examples; a value that is empty after trimming gives all nulls.
    """
    rule = FIELD_BY_NAME[name]
    frame = (
        pl.DataFrame({"value": values.cast(pl.String)}).with_row_index(_ROW).with_columns(pl.col(_ROW).cast(pl.Int64))
    )
    if not rule.hashed:
        value = trim(pl.col("value"))
        value = pl.when(value != "").then(value)
        reason = rule.invalid_reason(value)
        return frame.select(
            pl.when(reason.is_null()).then(value).alias("out"), reason.alias("reason"), pl.lit(False).alias("prehashed")
        ).with_columns(pl.when(pl.col("out").is_not_null() | pl.col("reason").is_not_null()).then(pl.col("prehashed")))
    staged = frame.lazy()
    for stage in _column_stages(rule, "value", split=False):
        staged = staged.with_columns(stage)
    settled = staged.select(_column_outputs(rule)).collect()
    if rule.fast_valid is not None:
        settled = _settle_pending(settled, rule)
    return settled.select(
        pl.col(f"__{name}_out").alias("out"),
        pl.col(f"__{name}_reason").alias("reason"),
        pl.col(f"__{name}_pre").alias("prehashed"),
    )


def evaluate_times(values: pl.Series, now: int | None = None) -> pl.DataFrame:
    """`event_time` over a series, in memory: `seconds` and `reason` per value; the window is checked when `now` is
    given (with the default limits). For tests and the documentation's examples."""
    seconds, reason, pending = parse_event_time("event_time", values.dtype)
    frame = values.alias("event_time").to_frame().select(seconds.alias("s"), reason.alias("r"), pending.alias("p"))
    frame = settle_times(frame, "s", "r", "p")
    if now is not None:
        frame = frame.with_columns(
            pl.coalesce("r", window_reason(pl.col("s"), now, DEFAULT_MAX_AGE_S, DEFAULT_MAX_AHEAD_S)).alias("r")
        )
    return frame.select(pl.when(pl.col("r").is_null()).then(pl.col("s")).alias("seconds"), pl.col("r").alias("reason"))
