"""prepare_events case by case: several values, list columns, mappings, times, identifiers, ids and counts."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import polars as pl
import pytest

from pinaudience.conversions import EventOptions, prepare_events, resolve_columns
from pinaudience.conversions.prepare import evaluate_values
from pinaudience.conversions.reference import hashed_value
from pinaudience.errors import InputError

NOW = 1_764_990_000
WEB = EventOptions(event_name="checkout", action_source="web")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def prepare(columns: dict[str, list[object]], options: EventOptions = WEB) -> pl.DataFrame:
    frame = pl.DataFrame({"event_time": [NOW] * len(next(iter(columns.values()))), **columns})
    return prepare_events(frame, now=NOW, options=options).events


@pytest.mark.parametrize(
    ("value", "digits"),
    [
        ("+420 601 234 567", "420601234567"),
        ("+420-601-234-567", "420601234567"),
        ("00420601234567", "420601234567"),
        ("0044 (0)20 7946 0958", "442079460958"),
        ("+1.555.123.4567", "15551234567"),
        ("+1 555 123 4567 ext", "15551234567"),
        ("\u200b+1 (555) 123-4567\ufeff", "15551234567"),
    ],
)
def test_phone_numbers_keep_digits_with_country_code(value: str, digits: str) -> None:
    """Plus signs, spaces, brackets, dots, letters, a (0) trunk prefix and leading zeros all go."""
    assert evaluate_values("ph", pl.Series([value])).row(0) == (sha(digits), None, False)
    assert hashed_value("ph", value) == (sha(digits), None, False)


@pytest.mark.parametrize(
    ("name", "value", "normalised"),
    [
        ("fn", "ÉLODIE", "élodie"),
        ("fn", "ΟΔΥΣΣΕΥΣ", "οδυσσευς"),
        ("ln", "\u212aowalski", "kowalski"),
        ("ln", "MÜLLER-LÜDENSCHEIDT", "müller-lüdenscheidt"),
        ("ct", "Ústí nad Labem", "ústínadlabem"),
        ("ct", "Saint-Étienne", "saintétienne"),
        ("ct", "東京都", "東京都"),
        ("db", "1990-12-31T23:59:59+02:00", "19901231"),
        ("db", "1990.1.2", "19900102"),
        ("st", "c.a.", "ca"),
        ("country", "C Z", "cz"),
    ],
)
def test_unicode_and_format_edge_cases(name: str, value: str, normalised: str) -> None:
    """Names and cities in any script are lower-cased in full; dates and codes come out in one form."""
    assert evaluate_values(name, pl.Series([value])).row(0) == (sha(normalised), None, False)
    assert hashed_value(name, value) == (sha(normalised), None, False)


def test_several_values_in_a_cell_are_split_deduplicated_and_sorted() -> None:
    """`;` separates values; equal values after normalisation count once; empty pieces are no values."""
    events = prepare({"email": [" a@example.com; A@EXAMPLE.com ;;b@example.com;nope"]})
    assert events.get_column("em").to_list() == [sorted({sha("a@example.com"), sha("b@example.com")})]
    report = prepare_events(
        pl.DataFrame({"email": ["a@example.com;A@example.com;;nope"], "event_time": [NOW]}), now=NOW, options=WEB
    ).report
    assert report.hashed_by_field == {"em": 2}
    assert report.invalid_by_field == {"em": {"no_at": 1}}


def test_list_columns_and_several_source_columns() -> None:
    """A Parquet list column needs no separator, and gaid and idfa columns both feed hashed_maids."""
    uuid1, uuid2 = "6d92078a-8246-4ba4-ae5b-76104861e7dc", "1e3c5a7b-0000-4000-8000-000000000001"
    frame = pl.DataFrame(
        {
            "email": [["x@example.com", "Y@example.com"], []],
            "gaid": [uuid1.upper(), None],
            "idfa": [None, uuid2],
            "event_time": [NOW, NOW],
        },
        schema_overrides={"email": pl.List(pl.String)},
    )
    events = prepare_events(frame, now=NOW, options=WEB).events
    assert events.get_column("em").to_list() == [sorted([sha("x@example.com"), sha("y@example.com")]), None]
    assert events.get_column("hashed_maids").to_list() == [[sha(uuid1)], [sha(uuid2)]]


def test_typed_columns_are_read_as_text() -> None:
    """An integer zip, a Date of birth and a numeric phone from Parquet are read as their text."""
    frame = pl.DataFrame(
        {
            "email": ["a@example.com"],
            "zip": [94107],
            "birthday": [dt.date(1990, 1, 5)],
            "phone": [15551234567],
            "event_time": [NOW],
        }
    )
    event = prepare_events(frame, now=NOW, options=WEB).events.row(0, named=True)
    assert event["zp"] == [sha("94107")]
    assert event["db"] == [sha("19900105")]
    assert event["ph"] == [sha("15551234567")]


def test_a_mapping_names_columns_and_is_checked() -> None:
    """An explicit mapping wins over usual names; unknown fields and columns are named errors without values."""
    columns = ["Customer E-mail", "email", "When"]
    assert resolve_columns(columns, {"em": "Customer E-mail", "event_time": "When"}) == {
        "em": ("Customer E-mail",),
        "event_time": ("When",),
    }
    assert resolve_columns(columns, {"external_id": "email"}) == {"external_id": ("email",)}
    with pytest.raises(InputError, match="unknown event field 'mail'"):
        resolve_columns(columns, {"mail": "email"})
    with pytest.raises(InputError, match="columns the file does not have: E-mail"):
        resolve_columns(columns, {"em": "E-mail"})


def test_row_numbers_come_from_a_given_column() -> None:
    """The file reader's row column numbers the rejects; it is not read as a field."""
    frame = pl.DataFrame({"line": [7, 9], "email": ["a@example.com", "nope"], "event_time": [NOW, NOW]})
    prepared = prepare_events(frame, now=NOW, options=EventOptions("lead", "web", row_column="line"))
    assert prepared.rejects.rows() == [(9, "no_identifier")]
    assert prepared.events.get_column("row").to_list() == [7]


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        (pl.Series([NOW - 10]), (NOW - 10, None)),
        (pl.Series([float(NOW) + 0.9]), (NOW, None)),
        (pl.Series([NOW * 1000]), (None, "milliseconds")),
        (pl.Series([NOW * 1_000_000]), (None, "microseconds")),
        (pl.Series([NOW * 1_000_000_000]), (None, "nanoseconds")),
        (pl.Series([dt.datetime.fromtimestamp(NOW - 5, dt.UTC)]), (NOW - 5, None)),
        (pl.Series([dt.datetime(2025, 12, 6, 3, 0)]), (None, "naive_time")),
        (pl.Series([None], dtype=pl.Int64), (None, "no_event_time")),
        (pl.Series([NOW - 7 * 86_400]), (NOW - 7 * 86_400, None)),
        (pl.Series([NOW - 7 * 86_400 - 1]), (None, "too_old")),
        (pl.Series([NOW + 60]), (NOW + 60, None)),
        (pl.Series([NOW + 61]), (None, "in_future")),
    ],
)
def test_event_time_columns_of_every_type(series: pl.Series, expected: tuple[int | None, str | None]) -> None:
    """Integer, float and timestamp columns; units named; the seven-day and one-minute window, to the second."""
    frame = pl.DataFrame({"email": ["a@example.com"], "event_time": series})
    prepared = prepare_events(frame, now=NOW, options=WEB)
    seconds, reason = expected
    if reason is None:
        assert prepared.events.get_column("event_time").to_list() == [seconds]
    else:
        assert prepared.rejects.rows() == [(1, reason)]


def test_the_window_can_be_turned_off() -> None:
    """With no age limit, an old event is sent (for a test run of an old file)."""
    frame = pl.DataFrame({"email": ["a@example.com"], "event_time": ["2020-01-01T00:00:00Z"]})
    options = EventOptions("lead", "web", max_age_s=None)
    assert prepare_events(frame, now=NOW, options=options).events.get_column("event_time").to_list() == [1577836800]


def test_an_event_needs_an_identifier_pinterest_can_match() -> None:
    """em, hashed_maids, or the ip and user agent pair; a phone alone, an ip alone or an invalid email is not."""
    frame = pl.DataFrame(
        {
            "email": [None, None, "not-an-email", None, None, "a@example.com"],
            "phone": ["+15551234567", None, None, None, None, None],
            "maid": [None, None, None, "6d92078a-8246-4ba4-ae5b-76104861e7dc", None, None],
            "ip": [None, "1.2.3.4", None, None, "1.2.3.4", None],
            "user_agent": [None, None, None, None, "Mozilla/5.0", None],
            "event_time": [NOW] * 6,
        }
    )
    prepared = prepare_events(frame, now=NOW, options=WEB)
    assert prepared.rejects.rows() == [(1, "no_identifier"), (2, "no_identifier"), (3, "no_identifier")]
    assert prepared.events.get_column("row").to_list() == [4, 5, 6]
    assert prepared.report.rejected_by_reason == {"no_identifier": 3}
    assert prepared.report.invalid_by_field == {"em": {"no_at": 1}}


def test_each_rejected_event_counts_once_under_its_first_reason() -> None:
    """Name, then source, then time, then identifier."""
    frame = pl.DataFrame(
        {
            "event_name": ["buy", "checkout", "checkout", None],
            "action_source": ["web", "shop", "web", "web"],
            "event_time": [str(NOW * 1000), str(NOW * 1000), str(NOW * 1000), str(NOW)],
        }
    )
    prepared = prepare_events(frame, now=NOW)
    assert prepared.rejects.rows() == [
        (1, "bad_event_name"),
        (2, "bad_action_source"),
        (3, "milliseconds"),
        (4, "no_event_name"),
    ]


def test_defaults_fill_only_empty_cells() -> None:
    """The default event name applies where the column is empty; a value in the file wins, lower-cased."""
    frame = pl.DataFrame({"email": ["a@example.com"] * 2, "event_name": [" Lead ", ""], "event_time": [NOW] * 2})
    events = prepare_events(frame, now=NOW, options=WEB).events
    assert events.get_column("event_name").to_list() == ["lead", "checkout"]


def test_event_ids_are_the_files_or_derived_stably() -> None:
    """A file's id is kept (trimmed); a derived id is pa1- and 32 hex, the same on every run and for every
    spelling of the same event, and different when a counted field differs."""
    frame = pl.DataFrame(
        {
            "event_id": [" order-1 ", None, "", None, None],
            "email": [
                "a@example.com",
                "a@example.com;b@example.com",
                " B@Example.com;A@EXAMPLE.COM",
                "a@example.com",
                "a@example.com",
            ],
            "value": [None, "10", "10", "10", "11"],
            "event_time": [NOW] * 5,
        }
    )
    first = prepare_events(frame, now=NOW, options=WEB)
    again = prepare_events(frame.lazy(), now=NOW + 30, options=WEB)
    ids = first.events.get_column("event_id").to_list()
    assert ids == again.events.get_column("event_id").to_list()
    assert ids[0] == "order-1"
    assert all(re.fullmatch(r"pa1-[0-9a-f]{32}", event_id) for event_id in ids[1:])
    assert ids[1] == ids[2]
    assert len({ids[1], ids[3], ids[4]}) == 3
    assert first.report.event_ids_derived == 4
    assert first.report.duplicate_event_ids == 1


def test_plain_fields_are_sent_as_they_are() -> None:
    """The ip, user agent, click id and partner id are trimmed and never hashed or lower-cased; a bad ip is dropped."""
    frame = pl.DataFrame(
        {
            "client_ip_address": [" 2001:DB8::1 ", "not an ip"],
            "user_agent": ["Mozilla/5.0 (X11; Linux)", "UA"],
            "epik": ["dj0yJnU9", None],
            "email": ["a@example.com", "a@example.com"],
            "event_time": [NOW, NOW],
        }
    )
    prepared = prepare_events(frame, now=NOW, options=WEB)
    rows = prepared.events.select("client_ip_address", "client_user_agent", "click_id").rows()
    assert rows == [("2001:DB8::1", "Mozilla/5.0 (X11; Linux)", "dj0yJnU9"), (None, "UA", None)]
    assert prepared.report.invalid_by_field == {"client_ip_address": {"bad_ip": 1}}


def test_a_file_column_named_row_and_an_empty_frame() -> None:
    """A column of the file called `row` does not clash with the row numbers; no rows give empty results."""
    frame = pl.DataFrame({"row": ["x"], "email": ["a@example.com"], "event_time": [NOW]})
    assert prepare_events(frame, now=NOW, options=WEB).events.get_column("row").to_list() == [1]
    empty = pl.DataFrame({"email": [], "event_time": []}, schema={"email": pl.String, "event_time": pl.Int64})
    prepared = prepare_events(empty, now=NOW, options=WEB)
    assert (prepared.events.height, prepared.rejects.height, prepared.report.rows_read) == (0, 0, 0)
