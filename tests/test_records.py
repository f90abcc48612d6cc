"""RecordSet: distinct records in a stable order, the same whether held in memory or spilled to disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinaudience.records.recordset import (
    KEY,
    RECORD,
    SCHEMA,
    RecordSet,
    RecordSetBuilder,
    _sorted_unique_keyed,
    batches,
    sort_prefix,
    with_keys,
)
from pinaudience.support.hexdigest import HEX_DIGEST_RE


def reference_key(record: str) -> int:
    """The documented key: a hash's own first four hex digits, else those of its SHA-256."""
    is_hash = len(record) in (32, 40, 64) and all(c in "0123456789abcdef" for c in record)
    source = record if is_hash else hashlib.sha256(record.encode()).hexdigest()
    return int(source[:4], 16)


def reference_order(records: list[str]) -> list[str]:
    return sorted(set(records), key=lambda r: (reference_key(r), r))


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


records_strategy = st.lists(
    st.one_of(
        st.integers(0, 300).map(lambda i: sha(f"user{i}@example.com")),
        st.integers(0, 50).map(lambda i: hashlib.md5(str(i).encode()).hexdigest()),
        st.integers(0, 50).map(lambda i: f"plain{i}@example.com"),
        st.text(min_size=1, max_size=12),
    ),
    max_size=400,
)


@given(records_strategy)
@settings(max_examples=60, deadline=None)
def test_in_memory_set_matches_reference(records: list[str]) -> None:
    """Distinct records come out once each, ordered by (key, record), duplicates counted."""
    rs = RecordSet.from_records(records)
    assert rs.to_list() == reference_order(records)
    assert rs.count == len(set(records))
    assert rs.duplicates == len(records) - len(set(records))


@given(records_strategy, st.integers(1, 97))
@settings(max_examples=40, deadline=None)
def test_spilled_set_equals_in_memory_set(records: list[str], chunk: int) -> None:
    """Spilling to disk changes nothing a caller can see: same records, order and counts."""
    builder = RecordSetBuilder(spill_rows=50)
    for start in range(0, len(records), chunk):
        builder.add(pl.Series(records[start : start + chunk], dtype=pl.String))
    spilled = builder.finish()
    try:
        assert spilled.to_list() == reference_order(records)
        assert (spilled.count, spilled.duplicates) == (len(set(records)), len(records) - len(set(records)))
    finally:
        spilled.close()


def test_keys_follow_the_documented_rule() -> None:
    """Hex hashes are keyed by their own prefix, anything else by its SHA-256 prefix."""
    values = [sha("a"), hashlib.sha1(b"x").hexdigest(), "someone@example.com", sha("b").upper()]
    frame = with_keys(pl.Series(values))
    assert frame["record"].to_list() == values
    assert frame["key"].to_list() == [reference_key(v) for v in values]


def test_partitions_at_any_split_concatenate_to_the_whole() -> None:
    """Reading a set at 1, 4 or 256 partitions yields the same records in the same order."""
    records = [sha(f"u{i}") for i in range(3000)]
    builder = RecordSetBuilder(spill_rows=700)
    builder.add(pl.Series(records))
    spilled = builder.finish()
    memory = RecordSet.from_records(records)
    expected = reference_order(records)
    for rs in (spilled, memory):
        for bits in (0, 2, 6, 8):
            parts = [f["record"].to_list() for f in rs.iter_frames(bits)]
            assert len(parts) == 1 << bits
            assert [r for part in parts for r in part] == expected
    spilled.close()


def test_batches_cover_every_record_once() -> None:
    """Batches are full except the last, and together they are the set in order."""
    records = [sha(f"u{i}") for i in range(1001)]
    rs = RecordSet.from_records(records)
    batches = list(rs.iter_batches(100))
    assert [len(b) for b in batches] == [100] * 10 + [1]
    assert [r for b in batches for r in b] == rs.to_list()
    assert rs.head(3) == rs.to_list()[:3]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("spill", [False, True])
def test_write_round_trips(tmp_path: Path, suffix: str, spill: bool) -> None:
    """A written set reads back as the same records under the header `record`."""
    records = [sha(f"u{i}") for i in range(500)] + ["plain@example.com"]
    builder = RecordSetBuilder(tmp_path / "work", spill_rows=100 if spill else 10_000)
    builder.add(pl.Series(records))
    rs = builder.finish()
    out = tmp_path / f"out{suffix}"
    rs.write(out)
    back = pl.read_csv(out) if suffix == ".csv" else pl.read_parquet(out)
    assert back.columns == ["record"]
    assert back["record"].to_list() == rs.to_list()
    rs.close()


def test_empty_set_writes_a_header_only_csv(tmp_path: Path) -> None:
    """An empty set is a valid, empty output file."""
    rs = RecordSetBuilder().finish()
    assert rs.count == 0
    assert rs.to_list() == []
    assert list(rs.iter_batches(10)) == []
    rs.write(tmp_path / "o.csv")
    assert (tmp_path / "o.csv").read_text() == "record\n"


def test_close_removes_spill_files(tmp_path: Path) -> None:
    """Spill files live under the working directory only until the set is closed."""
    builder = RecordSetBuilder(tmp_path, spill_rows=10)
    builder.add(pl.Series([sha(str(i)) for i in range(100)]))
    rs = builder.finish()
    assert any(tmp_path.iterdir())
    rs.close()
    assert not any(tmp_path.iterdir())


def test_builder_refuses_use_after_finish() -> None:
    """A finished builder cannot silently take more records."""
    builder = RecordSetBuilder()
    builder.finish()
    with pytest.raises(RuntimeError):
        builder.add(pl.Series(["x"]))


@given(st.lists(st.text(max_size=12), max_size=200), st.integers(0, 3))
@settings(max_examples=200, deadline=None)
def test_records_within_a_key_come_out_in_byte_order(records: list[str], key: int) -> None:
    """Within one key, records are ordered by their bytes, each once: short, NUL and multi-byte ones too."""
    frame = pl.DataFrame({KEY: [key] * len(records), RECORD: records}, schema=SCHEMA)
    ordered = _sorted_unique_keyed(frame).get_column(RECORD).to_list()
    assert ordered == sorted(set(records), key=lambda record: record.encode())


@given(st.lists(st.tuples(st.sampled_from([32, 40, 64]), st.binary(min_size=30, max_size=30)), max_size=200))
@settings(max_examples=200, deadline=None)
def test_hashes_sharing_a_key_come_out_in_order(items: list[tuple[int, bytes]]) -> None:
    """Hashes with the same first hex digits (one key), long and short, come out in the documented order."""
    records = [("abcd" + data.hex())[:length] for length, data in items]
    ordered = RecordSet.from_records(records).to_list()
    assert ordered == reference_order(records)


def test_frames_have_key_then_record_whatever_the_records() -> None:
    """Partitions come as (key, record) for hash-only and mixed sets alike."""
    for records in ([sha("a"), sha("b")], [sha("a"), "plain@example.com"]):
        assert RecordSet.from_records(records).partition_frame(0, 0).columns == ["key", "record"]


def test_a_set_reads_parquet_partition_files_as_it_reads_its_own(tmp_path: Path) -> None:
    """Sorted Parquet partitions written by another program read like spilled Arrow partitions."""
    records = [sha(f"u{i}") for i in range(2000)] + ["plain@example.com"]
    builder = RecordSetBuilder(tmp_path / "work", spill_rows=300)
    builder.add(pl.Series(records))
    spilled = builder.finish()
    files = []
    for index, frame in enumerate(spilled.iter_frames()):
        files.append(tmp_path / f"part-{index:03d}.parquet")
        frame.write_parquet(files[-1])
    parquet = RecordSet(partition_files=files, partition_bits=spilled.partition_bits, count=spilled.count)
    for bits in (0, 3, spilled.partition_bits, spilled.partition_bits + 1):
        assert [f["record"].to_list() for f in parquet.iter_frames(bits)] == [
            f["record"].to_list() for f in spilled.iter_frames(bits)
        ]
    parquet.write(tmp_path / "all.parquet")
    assert pl.read_parquet(tmp_path / "all.parquet")["record"].to_list() == spilled.to_list()
    spilled.close()


def prefixed(records: list[str]) -> pl.DataFrame:
    """The records with their sort prefix, computed the way a streaming query computes it."""
    frame = pl.DataFrame({RECORD: records}, schema={RECORD: pl.String})
    is_hash = pl.col(RECORD).str.contains(HEX_DIGEST_RE)
    return frame.select(RECORD, sort_prefix(pl.col(RECORD), is_hash=is_hash))


@given(records_strategy, st.integers(1, 97), st.booleans())
@settings(max_examples=40, deadline=None)
def test_prefixed_chunks_build_the_same_set(records: list[str], chunk: int, spill: bool) -> None:
    """Records given with their sort prefix (as prepare streams them) make the same set as plain records."""
    builder = RecordSetBuilder(spill_rows=50 if spill else 10_000)
    for start in range(0, len(records), chunk):
        part = records[start : start + chunk]
        hashes = all(len(r) in (32, 40, 64) and all(c in "0123456789abcdef" for c in r) for r in part)
        builder.add_prefixed(prefixed(part), hashes=hashes)
    built = builder.finish()
    try:
        assert built.to_list() == reference_order(records)
        assert (built.count, built.duplicates) == (len(set(records)), len(records) - len(set(records)))
    finally:
        built.close()


@given(
    st.lists(
        st.tuples(st.sampled_from([32, 40, 64]), st.binary(min_size=0, max_size=3), st.sampled_from("0f")),
        min_size=1,
        max_size=60,
    ),
    st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_hashes_sharing_their_first_16_digits_come_out_in_order(
    items: list[tuple[int, bytes, str]], spill: bool
) -> None:
    """Different hashes with one sort prefix (short ones starting long ones, crafted ones) are still in order."""
    records = [("0123456789abcdef" + data.hex()).ljust(length, pad) for length, data, pad in items]
    builder = RecordSetBuilder(spill_rows=20 if spill else 10_000)
    builder.add_prefixed(prefixed(records), hashes=True)
    built = builder.finish()
    try:
        assert built.to_list() == reference_order(records)
        assert built.duplicates == len(records) - len(set(records))
    finally:
        built.close()


def test_a_builder_expecting_a_large_set_spills_from_the_start(tmp_path: Path) -> None:
    """Told more rows are coming than fit in memory, the builder writes slices to disk instead of holding them."""
    records = [sha(f"u{i}") for i in range(300)]
    eager = RecordSetBuilder(tmp_path / "eager", spill_rows=1_000, expected_rows=5_000, slice_rows=100)
    waiting = RecordSetBuilder(tmp_path / "waiting", spill_rows=1_000, slice_rows=100)
    for builder in (eager, waiting):
        builder.add(pl.Series(records))
    assert any((tmp_path / "eager").iterdir())
    assert not (tmp_path / "waiting").exists()
    built = [eager.finish(), waiting.finish()]
    assert [rs.in_memory for rs in built] == [False, True]
    assert built[0].to_list() == built[1].to_list() == reference_order(records)
    built[0].close()


@given(st.lists(st.integers(0, 30), max_size=12), st.integers(1, 17))
@settings(max_examples=200, deadline=None)
def test_batches_regroup_any_series_sizes(sizes: list[int], batch_size: int) -> None:
    """Series of any lengths regroup into full batches in order, the last one possibly shorter."""
    values = [f"r{i}" for i in range(sum(sizes))]
    parts, start = [], 0
    for size in sizes:
        parts.append(pl.Series(values[start : start + size], dtype=pl.String))
        start += size
    out = list(batches(parts, batch_size))
    assert [v for batch in out for v in batch] == values
    assert all(len(batch) == batch_size for batch in out[:-1])
    assert not out or 0 < len(out[-1]) <= batch_size
