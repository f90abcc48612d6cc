"""DistinctCounter: an exact count of distinct strings, the same whether held in memory or spilled to disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinaudience.records.distinct import DistinctCounter, count_distinct, partition_bits_for

texts = st.lists(st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["a", "b", "ab", "é", ""])), max_size=60)


def count(values: Sequence[str | None], *, chunk: int, spill_rows: int, workdir: Path | None = None) -> int:
    counter = DistinctCounter(workdir, spill_rows=spill_rows, partition_bits=3)
    for start in range(0, len(values), chunk):
        counter.add(pl.Series(values[start : start + chunk], dtype=pl.String))
    return counter.finish()


@settings(max_examples=60, deadline=None)
@given(texts, st.integers(1, 7), st.integers(1, 20))
def test_count_equals_a_python_set(values: list[str | None], chunk: int, spill_rows: int) -> None:
    """In memory or spilled, in chunks of any size, the count is that of a set of the non-null strings."""
    expected = len({value for value in values if value is not None})
    assert count(values, chunk=chunk, spill_rows=10**6) == expected
    assert count(values, chunk=chunk, spill_rows=spill_rows) == expected


def test_strings_sharing_a_long_prefix_are_told_apart(tmp_path: Path) -> None:
    """Whole strings are compared: hashes that share their first 16, 32 or 63 hex digits all count."""
    base = "0123456789abcdef" * 4
    values = [base, base[:32], base[:40], base[:63] + "0", base[:16] + "f" * 48, base, base[:32]]
    assert count(values, chunk=2, spill_rows=3, workdir=tmp_path / "spill") == 5
    assert count(values, chunk=7, spill_rows=100) == 5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "ab", "é", "", "0" * 64]), max_size=40), st.integers(0, 3))
def test_colliding_hashes_are_resolved_by_comparing_strings(values: list[str], spread: int) -> None:
    """Different strings given equal hashes (all equal, or a few values for many strings) still count apart."""
    hashes = pl.Series([hash(value) % (spread + 1) for value in values], dtype=pl.UInt64)
    assert count_distinct(pl.Series(values, dtype=pl.String), hashes) == len(set(values))


def test_spill_files_are_removed(tmp_path: Path) -> None:
    """After finish, or discard, nothing is left under the working directory."""
    workdir = tmp_path / "work"
    assert count([str(i % 50) for i in range(500)], chunk=40, spill_rows=100, workdir=workdir) == 50
    assert list(workdir.iterdir()) == []
    counter = DistinctCounter(workdir, spill_rows=2)
    counter.add(pl.Series(["a", "b", "c"]))
    assert list(workdir.iterdir())
    counter.discard()
    assert list(workdir.iterdir()) == []


def test_counter_refuses_use_after_finish() -> None:
    """A finished counter takes no more strings and cannot finish twice."""
    counter = DistinctCounter()
    counter.add(pl.Series(["a", "a", None]))
    assert counter.rows == 2
    assert counter.finish() == 1
    with pytest.raises(RuntimeError):
        counter.add(pl.Series(["b"]))
    with pytest.raises(RuntimeError):
        counter.finish()


def test_empty_counter_counts_zero() -> None:
    """No strings, or only nulls, count zero."""
    assert DistinctCounter().finish() == 0
    counter = DistinctCounter()
    counter.add(pl.Series([None, None], dtype=pl.String))
    assert counter.finish() == 0


def test_expected_rows_choose_fewer_partitions(tmp_path: Path) -> None:
    """The partitions are as few as keep each near spill_rows, and the count is the same with them."""
    assert [partition_bits_for(rows, 100) for rows in (1, 100, 101, 400, 401, 6_400)] == [1, 1, 1, 2, 3, 6]
    counter = DistinctCounter(tmp_path, spill_rows=100, expected_rows=150)
    for start in range(0, 1_000, 70):
        counter.add(pl.Series([str(i % 300) for i in range(start, start + 70)]))
    assert counter.finish() == 300
