"""Conversion events: from raw CDP columns to what Pinterest's Conversions API (`events/create`) receives.

- `fields`: the user_data field table (source column names, normaliser, validity rule, hashed or plain) as
  Polars expressions; `docs/events.md` is this table in prose, with examples the tests read.
- `times`: `event_time` parsing (Unix seconds or ISO 8601 with a zone) and the time window.
- `event_id`: the deterministic id of an event whose file gives none.
- `prepare`: `prepare_events`, the whole of it over a frame, with counts.
- `reference`: the same rules one value (and one event) at a time, in plain Python with hashlib: the
  specification the tests compare with, and the per-row baseline of `benchmarks/events_prepare.py`.

Pure: nothing here reads files, a clock, prints or logs; no value from the input reaches a count or an error.
"""

from pinaudience.conversions.event_id import EVENT_ID_PREFIX, ID_FIELDS
from pinaudience.conversions.fields import FIELD_BY_NAME, FIELDS, VALUE_SEPARATOR, FieldReason, FieldRule
from pinaudience.conversions.prepare import (
    EVENTS_COLUMNS,
    EventOptions,
    EventReason,
    EventsReport,
    PreparedEvents,
    prepare_events,
    resolve_columns,
)
from pinaudience.conversions.times import TimeReason

__all__ = [
    "EVENTS_COLUMNS",
    "EVENT_ID_PREFIX",
    "FIELDS",
    "FIELD_BY_NAME",
    "ID_FIELDS",
    "VALUE_SEPARATOR",
    "EventOptions",
    "EventReason",
    "EventsReport",
    "FieldReason",
    "FieldRule",
    "PreparedEvents",
    "TimeReason",
    "prepare_events",
    "resolve_columns",
]
