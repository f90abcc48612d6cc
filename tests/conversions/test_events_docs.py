"""docs/events.md: every example in its tables is what the Polars code and the hashlib reference do."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from pinaudience.conversions import FIELDS, EventOptions, EventReason, FieldReason, TimeReason, prepare_events
from pinaudience.conversions.prepare import evaluate_times, evaluate_values
from pinaudience.conversions.reference import derived_event_id, hashed_value, parse_time, plain_value

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
TEXT = DOC.read_text(encoding="utf-8")
FIELD_NAMES = "|".join(rule.name for rule in FIELDS)
_FIELD_ROW = re.compile(rf"^\| ({FIELD_NAMES}) \| `(\".*?\")` \| (?:`(\".*?\")` )?\| (.*) \|$")
_TIME_ROW = re.compile(r"^\| `(.+)` \| (?:(\d+)|`(\w+)`) \|$")


@dataclass(frozen=True)
class FieldExample:
    field: str
    value: str
    normalised: str | None
    out: str | None
    reason: str | None
    prehashed: bool


def _field_examples() -> list[FieldExample]:
    examples = []
    for line in TEXT.splitlines():
        match = _FIELD_ROW.match(line)
        if not match:
            continue
        name, raw, normalised_json, sent = match.groups()
        value = json.loads(raw)
        normalised = json.loads(normalised_json) if normalised_json else None
        if sent in ("pre-hashed", "plain"):
            examples.append(FieldExample(name, value, normalised, normalised, None, sent == "pre-hashed"))
        elif found := re.fullmatch(r"`([0-9a-f]{64})`", sent):
            examples.append(FieldExample(name, value, normalised, found.group(1), None, False))
        elif found := re.fullmatch(r"`(\w+)`", sent):
            examples.append(FieldExample(name, value, None, None, found.group(1), False))
        else:
            raise AssertionError(f"unparsed example in docs: {line}")
    return examples


def _time_examples() -> list[tuple[object, int | None, str | None]]:
    examples: list[tuple[object, int | None, str | None]] = []
    for line in TEXT.split("## `event_time`", 1)[1].split("## `event_name`", 1)[0].splitlines():
        if match := _TIME_ROW.match(line):
            seconds = int(match.group(2)) if match.group(2) else None
            examples.append((json.loads(match.group(1)), seconds, match.group(3)))
    return examples


FIELD_EXAMPLES = _field_examples()
TIME_EXAMPLES = _time_examples()


def test_docs_have_an_example_of_every_field_and_field_reason() -> None:
    """Each user_data field and each field reason has at least one example on the page."""
    assert {example.field for example in FIELD_EXAMPLES} == {rule.name for rule in FIELDS}
    assert {example.reason for example in FIELD_EXAMPLES if example.reason} == {reason.value for reason in FieldReason}
    assert any(example.prehashed for example in FIELD_EXAMPLES)


def test_docs_reason_tables_list_every_reason() -> None:
    """The reason tables document every reason the code can give, and the rules' reasons are the enum's."""
    for reason in (*FieldReason, *TimeReason, *EventReason):
        assert f"| `{reason.value}` |" in TEXT
    assert {reason for rule in FIELDS for reason in rule.reasons} == set(FieldReason)


def test_docs_have_time_examples_of_every_parse_reason() -> None:
    """Every event_time reason that does not need a clock has an example."""
    reasons = {reason for _, _, reason in TIME_EXAMPLES if reason}
    assert reasons == {reason.value for reason in TimeReason} - {"too_old", "in_future"}


@pytest.mark.parametrize("example", FIELD_EXAMPLES, ids=lambda example: f"{example.field}-{example.value!r}")
def test_docs_field_example_holds_in_polars_and_reference(example: FieldExample) -> None:
    """The documented hash is the SHA-256 of the documented normalised value, and both implementations send it."""
    rule = next(rule for rule in FIELDS if rule.name == example.field)
    if example.out is not None and rule.hashed and not example.prehashed:
        assert example.normalised is not None
        assert hashlib.sha256(example.normalised.encode()).hexdigest() == example.out
    expected = (example.out, example.reason, example.prehashed)
    got = evaluate_values(example.field, pl.Series([example.value], dtype=pl.String)).row(0)
    assert got == expected
    reference = hashed_value(example.field, example.value) if rule.hashed else plain_value(example.field, example.value)
    assert reference is not None
    assert tuple(reference) == expected


@pytest.mark.parametrize(("value", "seconds", "reason"), TIME_EXAMPLES, ids=lambda value: repr(value))
def test_docs_time_example_holds_in_polars_and_reference(
    value: object, seconds: int | None, reason: str | None
) -> None:
    """Each documented event_time parses to the documented seconds or reason, as text and as a number column."""
    assert parse_time(value) == (seconds, reason)
    assert evaluate_times(pl.Series([value])).row(0) == (seconds, reason)


def test_docs_event_id_example() -> None:
    """The worked event_id example: the canonical text on the page, and the id both implementations derive."""
    canonical = TEXT.split("has the canonical text", 1)[1].split("```")[1].strip()
    documented_id = re.search(r"and the id `(pa1-[0-9a-f]{32})`", TEXT)
    assert documented_id is not None
    assert "pa1-" + hashlib.sha256(canonical.encode()).hexdigest()[:32] == documented_id.group(1)
    frame = pl.DataFrame(
        {
            "email": ["John.Doe@Example.COM"],
            "phone": ["+1 (555) 123-4567"],
            "event_time": [1764979200],
            "order_id": ["A-1001"],
            "value": ["19.90"],
            "currency": ["EUR"],
        }
    )
    prepared = prepare_events(frame, now=1764979200, options=_options())
    assert prepared.events.get_column("event_id").to_list() == [documented_id.group(1)]
    event = prepared.events.row(0, named=True)
    assert derived_event_id(event) == documented_id.group(1)


def _options() -> EventOptions:
    return EventOptions(event_name="checkout", action_source="web")
