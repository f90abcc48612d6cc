"""The input guard: the long-line checks agree with a naive scan, and read little of a large file."""

from __future__ import annotations

import gzip
import itertools
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinaudience.errors import InputError
from pinaudience.input.guard import first_long_line, first_long_line_gzip

pytestmark = pytest.mark.reliability


def naive(data: bytes, eol: bytes, limit: int) -> int | None:
    """The offset of the first line longer than `limit`, by splitting the whole file."""
    offset = 0
    for line in data.split(eol):
        if len(line) > limit:
            return offset
        offset += len(line) + 1
    return None


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 60), max_size=40),
    limit=st.integers(1, 50),
    trailing=st.booleans(),
    eol=st.sampled_from([b"\n", b"\r"]),
)
def test_long_line_check_agrees_with_a_naive_scan(
    tmp_path_factory: pytest.TempPathFactory, lengths: list[int], limit: int, trailing: bool, eol: bytes
) -> None:
    """Whatever the line lengths, the check finds the first line longer than the limit, or none."""
    data = eol.join(b"x" * n for n in lengths) + (eol if trailing else b"")
    path = tmp_path_factory.mktemp("guard") / "lines.csv"
    path.write_bytes(data)
    assert first_long_line(path, eol, limit) == naive(data, eol, limit)


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 60), max_size=40),
    limit=st.integers(1, 50),
    trailing=st.booleans(),
    members=st.integers(1, 3),
)
def test_long_line_check_of_gzip_text_agrees_with_a_naive_scan(
    tmp_path_factory: pytest.TempPathFactory, lengths: list[int], limit: int, trailing: bool, members: int
) -> None:
    """The same for gzip-compressed text, in one gzip member or several."""
    data = b"\n".join(b"x" * n for n in lengths) + (b"\n" if trailing else b"")
    cut = [len(data) * i // members for i in range(members + 1)]
    path = tmp_path_factory.mktemp("guard") / "lines.csv.gz"
    path.write_bytes(b"".join(gzip.compress(data[a:b]) for a, b in itertools.pairwise(cut)))
    assert first_long_line_gzip(path, b"\n", limit) == naive(data, b"\n", limit)


def test_a_corrupt_gzip_file_is_invalid_input(tmp_path: Path) -> None:
    """A gzip stream cut short is a clear invalid_input."""
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(b"email\n" + b"someone@example.com\n" * 10_000)[:-50])
    with pytest.raises(InputError, match="corrupt or truncated"):
        first_long_line_gzip(path, b"\n", 1 << 20)


def test_lines_longer_than_a_read_block(tmp_path: Path) -> None:
    """Windows wider than one read block are searched backwards block by block."""
    lines = [b"a" * 150_000, b"b" * 199_999, b"c" * 200_000, b"d" * 200_001, b"e" * 10]
    path = tmp_path / "wide.csv"
    path.write_bytes(b"\n".join(lines))
    assert first_long_line(path, b"\n", 200_000) == naive(path.read_bytes(), b"\n", 200_000)
    assert first_long_line(path, b"\n", 200_001) is None


def test_a_large_ordinary_file_is_checked_with_few_reads(tmp_path: Path) -> None:
    """A 64 MiB file of short lines: the check reads a few blocks, not the file (counted by the OS)."""
    path = tmp_path / "ordinary.csv"
    row = b"someone@example.com\n"
    with path.open("wb") as handle:
        handle.write(row * ((64 << 20) // len(row)))

    def read_bytes() -> int:
        with open(f"/proc/{os.getpid()}/io", encoding="ascii") as io:
            return int(next(line for line in io if line.startswith("rchar:")).split()[1])

    if not Path(f"/proc/{os.getpid()}/io").exists():
        pytest.skip("the count of bytes read needs Linux /proc/<pid>/io")
    before = read_bytes()
    assert first_long_line(path, b"\n", 1 << 20) is None
    assert read_bytes() - before < 8 << 20
