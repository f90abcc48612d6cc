"""The stored encoding: hashes as bytes, anything else as text, every record round-trips in order."""

from __future__ import annotations

import hashlib

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pinaudience.records.recordset import RecordSet
from pinaudience.state import encoding

from .conftest import sha

hashes = st.one_of(
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=20, max_size=20),
    st.binary(min_size=32, max_size=32),
).map(bytes.hex)
odd_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=40)
records = st.lists(
    st.one_of(
        hashes,
        hashes.map(str.upper),
        odd_text,
        st.from_regex(r"[a-z0-9._+-]{1,20}@[a-z0-9-]{1,12}\.[a-z]{2,6}", fullmatch=True),
        st.text(alphabet="0123456789abcdef", min_size=1, max_size=70),
    ),
    max_size=60,
)


@given(records)
@settings(max_examples=80, deadline=None)
def test_every_record_round_trips_in_recordset_order(values: list[str]) -> None:
    """Hex of each length, upper-case hex, plain emails and odd Unicode decode to exactly what went in."""
    expected = RecordSet.from_records(values).to_list()
    stored = encoding.encode_records(values)
    back = encoding.from_parquet_bytes(encoding.to_parquet_bytes(stored))
    assert encoding.decode(back).get_column("record").to_list() == expected


@given(records)
@settings(max_examples=60, deadline=None)
def test_sorting_encoded_rows_gives_recordset_order(values: list[str]) -> None:
    """Encoded rows sort into the (key, record) order whatever mix of hashes and text they hold."""
    expected = RecordSet.from_records(values).to_list()
    shuffled = encoding.encode_records(values).sample(fraction=1.0, shuffle=True, seed=7)
    assert encoding.decode(encoding.sort_encoded(shuffled)).get_column("record").to_list() == expected


def test_hashes_are_stored_as_bytes_and_text_as_text() -> None:
    """A hash takes half its hex length in bytes; only non-hash records use the text column."""
    md5, sha1, sha256 = (hashlib.new(name, b"x").hexdigest() for name in ("md5", "sha1", "sha256"))
    stored = encoding.encode_records([md5, sha1, sha256, "someone@example.com", md5.upper()])
    rows = list(stored.iter_rows(named=True))
    assert sorted(len(row["hash"]) for row in rows if row["hash"] is not None) == [16, 20, 32]
    assert all(row["text"] is None for row in rows if row["hash"] is not None)
    assert {row["text"] for row in rows if row["hash"] is None} == {"someone@example.com", md5.upper()}


def test_merging_sorted_disjoint_frames_keeps_the_order() -> None:
    """Merging two encoded frames, hashes only or mixed, gives the order a fresh sort would."""
    left = [sha(i) for i in range(0, 200, 2)]
    right = [sha(i) for i in range(1, 200, 2)]
    for extra in ([], ["a@example.com", "zz@example.com"]):
        merged = encoding.merge_encoded(encoding.encode_records(left + extra), encoding.encode_records(right))
        expected = RecordSet.from_records(left + right + extra).to_list()
        assert encoding.decode(merged).get_column("record").to_list() == expected


def test_an_empty_batch_encodes_to_an_empty_frame() -> None:
    """No records, no rows, and the schema still holds."""
    stored = encoding.encode_records(pl.Series([], dtype=pl.String))
    assert stored.height == 0
    assert stored.schema == pl.Schema(encoding.ENCODED_SCHEMA)
