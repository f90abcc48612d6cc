"""`[[events]]` tables and the `events` command's flags, loaded and checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinaudience.config import load_settings, with_events_flags
from pinaudience.errors import ConfigError

ENV = {"PINTEREST_ACCESS_TOKEN": "t", "PINTEREST_CONVERSION_TOKEN": "conv-secret"}


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pinaudience.toml"
    path.write_text('[pinterest]\nad_account_id = "549755885175"\n' + body, encoding="utf-8")
    return path


def test_an_events_table_loads_with_its_column_mapping(tmp_path: Path) -> None:
    """Paths are relative to the file; names are lower-cased; the mapping keeps the file's column names."""
    body = (
        '[[events]]\ninput = "in/events.csv"\nevent_name = "Checkout"\nretention_days = 14\nrejects = "rej.csv"\n'
        '[events.columns]\nem = "Customer E-mail"\nph = ["Phone", "Mobile"]\n'
    )
    settings = load_settings(_config(tmp_path, body), env=ENV)
    (events,) = settings.events
    assert events.input == tmp_path / "in" / "events.csv"
    assert events.rejects == tmp_path / "rej.csv"
    assert (events.event_name, events.retention_days, events.batch_size) == ("checkout", 14, 1000)
    assert events.mapping == {"em": ("Customer E-mail",), "ph": ("Phone", "Mobile")}
    assert settings.pinterest.credentials.conversion_token is not None
    assert "conv-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("[[events]]\nbatch_size = 1001\n", "at most 1,000"),
        ('[[events]]\nevent_name = "purchase"\n', "not one of Pinterest's values"),
        ("[[events]]\nretention_days = 5\n", "must be longer than `max_age_days`"),
        ('[[events]]\ncolour = "red"\n', "unknown setting colour"),
        ('[[events]]\ncolumns = "em"\n', "`columns` must be a table"),
    ],
)
def test_bad_events_settings_are_named(tmp_path: Path, body: str, words: str) -> None:
    """Each malformed setting is a ConfigError saying which and why."""
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        load_settings(_config(tmp_path, body), env=ENV)


def test_flags_override_the_one_table_and_merge_the_mapping(tmp_path: Path) -> None:
    """The command line's file, test mode and mapping apply over the config's table."""
    body = '[[events]]\ninput = "a.csv"\naction_source = "web"\n[events.columns]\nem = "Mail"\n'
    settings = load_settings(_config(tmp_path, body), env=ENV)
    merged = with_events_flags(settings, {"input": "b.csv", "test": True, "columns": {"event_time": ["When"]}})
    (events,) = merged.events
    assert (events.input, events.test, events.action_source) == (Path("b.csv"), True, "web")
    assert events.mapping == {"em": ("Mail",), "event_time": ("When",)}


def test_a_file_argument_cannot_choose_among_several_tables(tmp_path: Path) -> None:
    """Several [[events]] tables and a file on the command line: which one is meant is ambiguous."""
    settings = load_settings(_config(tmp_path, '[[events]]\ninput = "a.csv"\n[[events]]\ninput = "b.csv"\n'), env=ENV)
    with pytest.raises(ConfigError, match="2 \\[\\[events\\]\\] tables"):
        with_events_flags(settings, {"input": "c.csv"})
