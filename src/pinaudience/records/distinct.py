"""An exact count of distinct strings in bounded memory, for callers that need the count and not the set.

`DistinctCounter` takes strings in chunks of any size and counts the distinct ones exactly: it compares
whole strings, never only a prefix or a fingerprint. It holds chunks in memory up to `spill_rows` strings;
past that it splits them on a 64-bit hash of the string into `2**partition_bits` partitions, so that
equal strings always land in the same partition, and writes each partition's strings to its own
uncompressed Arrow IPC file. `finish` counts the set held in memory, or each partition on its own (two at
a time) and adds the counts up.

Counting (`count_distinct`) sorts 64-bit integers rather than hashing strings: each string's hash, its
low bits replaced by the string's position, sorted. Equal strings have equal hashes, so they end up side by
side; each string is then compared, whole, with its neighbour of the same top bits only, and top bits
shared by different strings (a collision, or a crafted file) send those strings to an exact `n_unique`.
For 3 million hex records this measured about 0.2 s of CPU, against about 1.1 s for splitting them into 64
partitions and building a hash table of strings in each.

The hashes only choose a partition and an order, within one run; the count does not depend on them.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import polars as pl

PARTITION_BITS: Final[int] = 6
"""Partitions once spilling: 64, so 100 million strings make partitions of about 1.6 million."""

FINISH_THREADS: Final[int] = 2
"""Partitions counted at once by `finish` (Polars releases the GIL while it sorts)."""

_VALUE: Final[str] = "value"
_PART: Final[str] = "_part"
_PARTITION_SEED: Final[int] = 0x5EED
"""Seed of the hash that chooses a spilled string's partition: another than the counting hash's, so that
the strings of one partition do not share the top bits of the hash they are sorted on."""


class DistinctCounter:
    """Counts distinct strings exactly; memory bounded by `spill_rows`, disk by the strings given."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        spill_rows: int = 3_000_000,
        partition_bits: int = PARTITION_BITS,
        expected_rows: int | None = None,
    ) -> None:
        """`spill_rows`: strings held in memory before they are written under `workdir` (default: the system's
        temporary directory), one file per partition. `expected_rows`, when the caller knows about how many
        strings are coming, lowers the number of partitions to what keeps each near `spill_rows` for twice
        that many: fewer, larger files cost less to write and read back (see `partitions_for`)."""
        if spill_rows < 1:
            raise ValueError("spill_rows must be at least 1")
        if not 0 <= partition_bits <= 12:
            raise ValueError("partition_bits must be between 0 and 12")
        if expected_rows is not None:
            partition_bits = min(partition_bits, partition_bits_for(2 * expected_rows, spill_rows))
        self._workdir = workdir
        self._spill_rows = spill_rows
        self._bits = partition_bits
        self._buffer: list[pl.Series] = []
        """Chunks not yet spilled."""
        self._files: list[list[Path]] = [[] for _ in range(1 << partition_bits)]
        """Each partition's spill files."""
        self._buffered = 0
        self._rows = 0
        self._spill_dir: Path | None = None
        self._spills = 0
        self._finished = False

    @property
    def rows(self) -> int:
        """Strings added so far, repeats included (nulls are not strings and are not counted)."""
        return self._rows

    def add(self, values: pl.Series) -> None:
        """Add strings (repeats allowed; nulls are skipped)."""
        if self._finished:
            raise RuntimeError("finish() was already called")
        values = values.drop_nulls()
        if values.len() == 0:
            return
        self._buffer.append(values.cast(pl.String).rename(_VALUE))
        self._buffered += values.len()
        self._rows += values.len()
        if self._buffered >= self._spill_rows:
            self._spill()

    def _take_buffer(self) -> pl.Series:
        """The buffered strings in one chunk (gathering across many chunks measured many times slower)."""
        buffer, self._buffer, self._buffered = self._buffer, [], 0
        return pl.concat(buffer).rechunk()

    def _spill(self) -> None:
        if not self._buffer:
            return
        if self._spill_dir is None:
            if self._workdir is not None:
                self._workdir.mkdir(parents=True, exist_ok=True)
            self._spill_dir = Path(tempfile.mkdtemp(prefix="pinaudience-distinct-", dir=self._workdir))
        frame = self._take_buffer().to_frame()
        part = (pl.col(_VALUE).hash(_PARTITION_SEED) // (1 << (64 - self._bits))).cast(pl.UInt16).alias(_PART)
        split = frame.with_columns(part).partition_by(_PART, as_dict=True, include_key=False)
        del frame
        for (index,), chunk in split.items():
            path = self._spill_dir / f"{index:04d}-{self._spills:06d}.arrow"
            chunk.write_ipc(path, compression="uncompressed")
            self._files[index].append(path)
        self._spills += 1

    def discard(self) -> None:
        """Drop everything and delete any spill files; the counter cannot be used afterwards."""
        self._finished = True
        self._buffer, self._buffered = [], 0
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None

    def finish(self) -> int:
        """The number of distinct strings added; deletes any spill files, and the counter cannot be used afterwards."""
        if self._finished:
            raise RuntimeError("finish() was already called")
        self._finished = True
        try:
            if self._spill_dir is None:
                # Never spilled: one sort over everything, no partitions.
                return count_distinct(self._take_buffer()) if self._buffer else 0
            self._spill()
            with ThreadPoolExecutor(FINISH_THREADS, thread_name_prefix="pinaudience-distinct") as pool:
                return sum(pool.map(_count_partition, self._files))
        finally:
            self._buffer = []
            self.discard()


def partition_bits_for(rows: int, spill_rows: int) -> int:
    """The fewest partition bits that split `rows` strings into partitions of at most `spill_rows` (at least 1)."""
    return max(1, (max(1, -(-rows // spill_rows)) - 1).bit_length())


def _count_partition(files: list[Path]) -> int:
    if not files:
        return 0
    chunks = [pl.read_ipc(path).get_column(_VALUE) for path in files]
    return count_distinct(pl.concat(chunks).rechunk())


def count_distinct(values: pl.Series, hashes: pl.Series | None = None) -> int:
    """The number of distinct non-null strings in `values` (one chunk is quickest), compared whole.

    `hashes` (UInt64, one per value, and then `values` without nulls; default: Polars' hash of each string)
    only orders the work: equal strings must have equal hashes, and strings that share a hash are told apart
    by comparing them.
    """
    if hashes is None:
        values = values.drop_nulls()
        hashes = values.hash()
    if values.len() == 0:
        return 0
    # Each hash's top bits with the value's position in the low ones: sorting these integers puts the
    # values of one hash side by side (in position order) without a hash table of strings.
    position_bits = max(1, (values.len() - 1).bit_length())
    scale = 1 << position_bits
    packed = ((hashes // scale) * scale + pl.int_range(values.len(), dtype=pl.UInt64, eager=True)).sort()
    top = packed // scale
    repeat = (top == top.shift(1)).fill_null(False)
    position = packed % scale
    later = position.filter(repeat)
    earlier = position.shift(1).filter(repeat)
    differ = values.gather(later) != values.gather(earlier)
    distinct = values.len() - later.len()
    if not differ.any():
        return distinct
    # Some top bits are shared by different strings: count those strings exactly.
    shared = top.filter(repeat).filter(differ).unique()
    members = (hashes // scale).is_in(shared.implode())
    return distinct - shared.len() + values.filter(members).n_unique()
