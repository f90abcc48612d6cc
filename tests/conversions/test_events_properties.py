"""Properties of the event rules on generated values, Unicode included: Polars equals the hashlib reference."""

from __future__ import annotations

import datetime as dt
import json
import re
import string
from collections import Counter
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pinaudience.conversions import FIELDS, EventOptions, prepare_events, resolve_columns
from pinaudience.conversions.prepare import evaluate_times, evaluate_values
from pinaudience.conversions.reference import (
    HASHED_FIELDS,
    PLAIN_FIELDS,
    hashed_value,
    normalise_value,
    parse_time,
    plain_value,
    prepare_event,
    time_window,
    trim,
)
from pinaudience.identifiers import TRIM_CHARS

HASHED = [rule.name for rule in FIELDS if rule.hashed]
PLAIN = [rule.name for rule in FIELDS if not rule.hashed]
HEX64 = re.compile(r"[0-9a-f]{64}")
NOW = 1_764_990_000

any_char = st.characters(exclude_categories=("Cs", "Cn"))
padding = st.text(alphabet=st.sampled_from(TRIM_CHARS), max_size=2)
odd_text = st.text(alphabet=any_char, max_size=20)


@st.composite
def case_mixed(draw: st.DrawFn, text: st.SearchStrategy[str]) -> str:
    value = draw(text)
    return "".join(char.upper() if draw(st.booleans()) else char for char in value)


def padded(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda left, value, right: left + value + right, padding, text, padding)


digits = st.text(alphabet=st.sampled_from(string.digits), min_size=1, max_size=17)
phone = st.builds(
    lambda prefix, parts, joiner: prefix + joiner.join(parts),
    st.sampled_from(["", "+", "00", "0", "+44 (0)", "(", "+1-"]),
    st.lists(digits, min_size=1, max_size=4),
    st.sampled_from([" ", "-", ".", "", ") ", "\u00a0", "x"]),
)
date = st.builds(
    lambda year, month, day, sep, time: f"{year}{sep}{month}{sep}{day}{time}",
    st.integers(1850, 2100).map(str),
    st.integers(0, 13).map(lambda m: str(m).zfill(2) if m % 2 else str(m)),
    st.integers(0, 32).map(lambda d: str(d).zfill(2) if d % 3 else str(d)),
    st.sampled_from(["", "-", "/", ".", " "]),
    st.sampled_from(["", "T00:00:00Z", " 12:00", "t1"]),
) | st.builds(lambda d, m, y: f"{d}/{m}/{y}", st.integers(1, 31), st.integers(1, 12), st.integers(1900, 2020))
zip_code = st.one_of(
    digits, st.builds(lambda a, b: f"{a}-{b}", digits, digits), st.sampled_from(["SW1A 1AA", "110 00"])
)
words = st.text(alphabet=st.one_of(st.sampled_from(string.ascii_letters + " .-'"), any_char), max_size=12)
hex_digest = st.builds(
    lambda length, data: data.hex()[:length], st.sampled_from([32, 40, 63, 64, 65]), st.binary(min_size=33, max_size=33)
)
email = st.builds(
    lambda local, domain: f"{local}@{domain}",
    st.text(alphabet=st.one_of(st.sampled_from(string.ascii_lowercase + ".+_"), any_char), min_size=0, max_size=10),
    st.sampled_from(["example.com", "bücher.de", "localhost", "ex..com", "例子.广告"]),
)
device = st.one_of(st.uuids().map(str), st.just("00000000-0000-0000-0000-000000000000"))
gender = st.sampled_from(["f", "F", "female", "Male", "m", "n", "non-binary", "NON_BINARY", "x", "unknown"])
ip = st.one_of(st.ip_addresses().map(str), st.sampled_from(["localhost", "1.2.3", "::", "a b"]))
plausible: dict[str, st.SearchStrategy[str]] = {
    "em": email,
    "hashed_maids": device,
    "ph": phone,
    "fn": words,
    "ln": words,
    "ge": gender,
    "db": date,
    "ct": words,
    "st": words,
    "zp": zip_code,
    "country": st.one_of(words, st.sampled_from(["US", "cz", "USA", "C.Z."])),
    "external_id": odd_text,
    "client_ip_address": ip,
    "client_user_agent": odd_text,
    "click_id": odd_text,
    "partner_id": odd_text,
}


def field_values(name: str) -> st.SearchStrategy[str]:
    return padded(case_mixed(st.one_of(plausible[name], odd_text, hex_digest)))


def reference_row(name: str, value: str) -> tuple[Any, ...]:
    result = hashed_value(name, value) if name in HASHED_FIELDS else plain_value(name, value)
    return (None, None, None) if result is None else tuple(result)


def reference_normalised(name: str, value: str) -> str | None:
    trimmed = trim(value)
    folded = trimmed if name == "external_id" else trimmed.lower()
    normalised, reason = normalise_value(name, folded)
    return normalised if trimmed and reason is None else None


def test_reference_names_the_same_fields_as_the_table() -> None:
    """The reference's field lists are the table's."""
    assert list(HASHED_FIELDS) == HASHED
    assert list(PLAIN_FIELDS) == PLAIN


@settings(deadline=None, max_examples=30)
@given(st.data())
def test_polars_equals_reference_for_every_field(data: st.DataObject) -> None:
    """Per value of every field, Polars and the reference agree on what is sent, the reason and pre-hashed."""
    for name in HASHED + PLAIN:
        values = data.draw(st.lists(field_values(name), max_size=8), label=name)
        got = evaluate_values(name, pl.Series(values, dtype=pl.String)).rows()
        assert got == [reference_row(name, value) for value in values], name


@settings(deadline=None, max_examples=30)
@given(st.data())
def test_normalisation_is_idempotent(data: st.DataObject) -> None:
    """A normalised value prepared again is itself, and sends the same hash as the raw value it came from."""
    for name in HASHED:
        values = data.draw(st.lists(field_values(name), max_size=8), label=name)
        for value in values:
            normalised = reference_normalised(name, value)
            if normalised is None or HEX64.fullmatch(normalised):
                continue
            assert reference_normalised(name, normalised) == normalised, name
            again = evaluate_values(name, pl.Series([normalised, value], dtype=pl.String)).get_column("out").to_list()
            assert again[0] == again[1], name


@settings(deadline=None, max_examples=30)
@given(st.data())
def test_hashed_fields_send_64_lowercase_hex(data: st.DataObject) -> None:
    """Whatever goes in, every value a hashed field sends is 64 lowercase hex digits."""
    for name in HASHED:
        values = data.draw(st.lists(field_values(name), max_size=8), label=name)
        sent = evaluate_values(name, pl.Series(values, dtype=pl.String)).get_column("out").drop_nulls().to_list()
        assert all(HEX64.fullmatch(value) for value in sent), name


@given(
    st.lists(st.tuples(padding, st.binary(min_size=32, max_size=32).map(bytes.hex), padding), min_size=1, max_size=5)
)
def test_prehashed_values_pass_through_lower_cased(items: list[tuple[str, str, str]]) -> None:
    """A SHA-256 digest in any case and padding is sent as itself, lower-cased, in every hashed field."""
    raw = [left + digest.upper() + right for left, digest, right in items]
    for name in HASHED:
        got = evaluate_values(name, pl.Series(raw, dtype=pl.String)).rows()
        assert got == [(digest, None, True) for _, digest, _ in items], name


times = st.one_of(
    st.integers(-10, 10**19),
    st.floats(-10, 1e19, allow_nan=False),
    st.integers(0, 5 * 10**9).map(str),
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2090, 1, 1)).map(
        lambda moment: moment.isoformat()
    ),
    st.builds(
        lambda base, zone: base + zone,
        st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2090, 1, 1)).map(
            lambda moment: moment.isoformat(sep=" ", timespec="seconds")
        ),
        st.sampled_from(["Z", "+01:00", "-0530", "+14", "+25:00", "z"]),
    ),
    odd_text,
)


@settings(deadline=None)
@given(st.lists(times, max_size=10))
def test_event_time_polars_equals_reference(values: list[object]) -> None:
    """event_time parses alike in Polars and the reference, as text."""
    text = [value if isinstance(value, str) else repr(value) for value in values]
    got = evaluate_times(pl.Series(text, dtype=pl.String), now=NOW).rows()
    expected = []
    for value in text:
        seconds, reason = parse_time(value)
        if seconds is not None:
            reason = time_window(seconds, NOW, 7 * 86_400, 60)
            seconds = None if reason else seconds
        expected.append((seconds, reason))
    assert got == expected


event_rows = st.fixed_dictionaries(
    {
        "Email": st.one_of(st.none(), padded(case_mixed(email)), st.lists(email, max_size=3).map(";".join)),
        "phone": st.one_of(st.none(), phone),
        "first_name": st.one_of(st.none(), words),
        "zip": st.one_of(st.none(), zip_code),
        "gaid": st.one_of(st.none(), device, hex_digest),
        "ip": st.one_of(st.none(), ip),
        "user_agent": st.one_of(st.none(), odd_text),
        "event_time": st.one_of(
            st.integers(NOW - 8 * 86_400, NOW + 120).map(str),
            st.integers(NOW - 86_400, NOW).map(str),
            st.sampled_from([None, "2025-12-06T00:00:00Z", "2025-12-06T00:00:00", str(NOW * 1000)]),
        ),
        "event_name": st.sampled_from(["checkout", "checkout", " Lead ", "purchase", None]),
        "event_id": st.one_of(st.none(), st.just(""), st.text(alphabet=string.ascii_letters, min_size=1, max_size=5)),
        "value": st.one_of(st.none(), st.sampled_from(["19.90", " 5 "])),
    }
)


@settings(deadline=None, max_examples=60)
@given(st.lists(event_rows, min_size=1, max_size=12))
def test_prepare_events_equals_the_per_row_reference(rows: list[dict[str, Any]]) -> None:
    """Whole events: what is sent, each id, each reject and every count agree with the per-row reference."""
    frame = pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))
    options = EventOptions(action_source="web")
    prepared = prepare_events(frame, now=NOW, options=options)
    columns = resolve_columns(frame.columns)
    results = [prepare_event(row, columns, now=NOW, action_source="web") for row in rows]
    sent = [
        {key: value for key, value in event.items() if key != "row"} for event in prepared.events.iter_rows(named=True)
    ]
    assert sent == [{**result.event} for result in results if result.event is not None]
    assert prepared.rejects.rows() == [(row, result.reason) for row, result in enumerate(results, 1) if result.reason]
    invalid: dict[str, dict[str, int]] = {}
    for result in results:
        for (name, reason), count in result.invalid.items():
            invalid.setdefault(name, {}).setdefault(reason, 0)
            invalid[name][reason] += count
    assert prepared.report.invalid_by_field == {name: dict(sorted(invalid[name].items())) for name in invalid}
    hashed = sum((result.hashed for result in results), start=Counter[str]())
    assert prepared.report.hashed_by_field == {name: hashed[name] for name in HASHED if hashed[name]}


CANARY = "Zq9canary"


@settings(deadline=None, max_examples=40)
@given(st.lists(st.tuples(odd_text, st.sampled_from(["", "@", "+", "-", ":", "1990-", "T"])), min_size=1, max_size=6))
def test_no_raw_value_reaches_the_report_or_the_rejects(parts: list[tuple[str, str]]) -> None:
    """A canary written into every column, valid-looking or not, appears in neither the report nor the rejects."""
    names = [rule.name for rule in FIELDS] + ["event_time", "event_name", "action_source", "order_id", "currency"]
    rows = [{name: f"{shape}{CANARY}{text}" for name in names} for text, shape in parts]
    prepared = prepare_events(pl.DataFrame(rows), now=NOW)
    shown = json.dumps(prepared.report.to_dict(), ensure_ascii=False) + repr(prepared.rejects.rows())
    assert CANARY.lower() not in shown.lower()
