"""An exact count of distinct strings in bounded memory, for callers that need the count and not the set.

`DistinctCounter` takes strings in chunks of any size and counts the distinct ones exactly: it compares
whole strings, never a prefix or a fingerprint. It holds chunks in memory up to `spill_rows` strings;
past that it splits them on a 64-bit hash of the string into `2**partition_bits` partitions, so that
equal strings always land in the same partition, and writes each partition's strings to its own
uncompressed Arrow IPC file (a set that never reached `spill_rows` is split in memory at the end).
`finish` counts each partition on its own, two at a time, and adds the counts up: counting 19 million
64-character strings at once measured about ten times the CPU of counting them in 64 partitions, whose
hash tables fit the processor's caches. Each string is written at most once, and nothing is sorted.

The hash only chooses a string's partition, within one run; the count does not depend on it.
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
"""Partitions counted at once by `finish` (Polars releases the GIL while it hashes)."""

_VALUE: Final[str] = "value"
_PART: Final[str] = "_part"


class DistinctCounter:
    """Counts distinct strings exactly; memory bounded by `spill_rows`, disk by the strings given."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        spill_rows: int = 3_000_000,
        partition_bits: int = PARTITION_BITS,
    ) -> None:
        """`spill_rows`: strings held in memory before they are written under `workdir` (default: the system's
        temporary directory), one file per partition."""
        if spill_rows < 1:
            raise ValueError("spill_rows must be at least 1")
        if not 0 <= partition_bits <= 12:
            raise ValueError("partition_bits must be between 0 and 12")
        self._workdir = workdir
        self._spill_rows = spill_rows
        self._bits = partition_bits
        self._buffer: list[pl.Series] = []
        """Chunks not yet split nor spilled."""
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

    def _split(self) -> dict[int, pl.DataFrame]:
        """The buffered strings, by partition (one gather over one chunk: measured several times quicker
        than splitting each small chunk as it comes)."""
        buffer, self._buffer, self._buffered = self._buffer, [], 0
        frame = pl.concat(buffer).rechunk().to_frame()
        del buffer
        part = (pl.col(_VALUE).hash() // (1 << (64 - self._bits))).cast(pl.UInt16).alias(_PART)
        split = frame.with_columns(part).partition_by(_PART, as_dict=True, include_key=False)
        return {index: chunk for (index,), chunk in split.items()}

    def _spill(self) -> None:
        if not self._buffer:
            return
        if self._spill_dir is None:
            if self._workdir is not None:
                self._workdir.mkdir(parents=True, exist_ok=True)
            self._spill_dir = Path(tempfile.mkdtemp(prefix="pinaudience-distinct-", dir=self._workdir))
        for index, chunk in self._split().items():
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
            if self._spill_dir is not None:
                self._spill()
                held: dict[int, pl.DataFrame] = {}
            else:
                held = self._split() if self._buffer else {}
            parts = range(1 << self._bits)
            with ThreadPoolExecutor(FINISH_THREADS, thread_name_prefix="pinaudience-distinct") as pool:
                return sum(pool.map(_count_partition, [held.get(i) for i in parts], self._files))
        finally:
            self.discard()


def _count_partition(held: pl.DataFrame | None, files: list[Path]) -> int:
    chunks = [pl.read_ipc(path) for path in files] + ([held] if held is not None else [])
    if not chunks:
        return 0
    return pl.concat(chunks, rechunk=False).get_column(_VALUE).n_unique()
