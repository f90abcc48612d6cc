"""Sets of distinct record strings, in a stable order, in bounded memory.

A record is the exact string Pinterest receives: a lowercase hex hash, or a lowercased email a user
chose to send plain. A `RecordSet` holds each record once, ordered by (`key`, record), where `key`
is a 16-bit stable prefix:

- for a record that is lowercase hex of length 32, 40 or 64 (a hash), its own first four hex digits;
- for any other record, the first four hex digits of its SHA-256.

Both are standard functions, so the order and the partitioning never change between runs, machines
or library versions. Hashes are uniform, so the key spreads records evenly; splitting on its top
`bits` gives 2**bits partitions whose concatenation is the whole set in order, whatever `bits` is.
Two sets can therefore be compared partition by partition (see `pinaudience.diff`) with only one
partition of each in memory.

A set can also be opened over sorted partition files someone else wrote (Arrow IPC or Parquet, chosen
by extension, columns `key` and `record`): benchmarks and tools use that to read the same files as
other programs.

Small sets live in memory; a `RecordSetBuilder` that has been given more than `spill_rows` rows
spills to uncompressed Arrow IPC files under a working directory (temporary files: fast to write and
read back), one folder per partition, and `finish()` dedupes and sorts one partition at a time.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl
import polars_hash as plh

KEY = "key"
RECORD = "record"
KEY_BITS = 16
SPILL_PARTITION_BITS = 6
"""Partitions of a spilled set: 64, so 100 million records make partitions of about 1.6 million."""

SPILL_SLICE_ROWS = 1_000_000
"""Rows written per spill step once a builder spills."""

_HEX_RECORD = r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$"
HEX_RECORD = _HEX_RECORD
"""The records keyed by their own prefix: lowercase hex of length 32, 40 or 64 (MD5, SHA-1, SHA-256)."""
SCHEMA = {KEY: pl.UInt16, RECORD: pl.String}


def with_keys(records: pl.Series) -> pl.DataFrame:
    """A frame of `key` (UInt16) and `record` for the given records, in the given order."""
    return _keyed(records)[0]


def _keyed(records: pl.Series) -> tuple[pl.DataFrame, bool]:
    """`with_keys`, and whether every record is a hash (which lets `_sorted_unique` skip checking again)."""
    frame = pl.DataFrame({RECORD: records.cast(pl.String)})
    is_hex = pl.col(RECORD).str.contains(_HEX_RECORD)
    hex_mask = frame.select(is_hex.fill_null(False)).to_series()
    if hex_mask.all():
        prefix = frame.select(pl.col(RECORD).str.slice(0, 4))
        return frame.with_columns(_prefix_to_key(prefix.to_series())).select(KEY, RECORD), True
    # Only the non-hex records pay for a SHA-256: split, key each side, and restore the input order.
    frame = frame.with_row_index("_pos")
    hexes = frame.filter(hex_mask).with_columns(_prefix_to_key(pl.col(RECORD).str.slice(0, 4)))
    others = frame.filter(~hex_mask).with_columns(_prefix_to_key(plh.col(RECORD).chash.sha2_256().str.slice(0, 4)))
    return pl.concat([hexes, others]).sort("_pos").select(KEY, RECORD), False


def _prefix_to_key(prefix: pl.Expr | pl.Series) -> pl.Expr:
    expr = prefix if isinstance(prefix, pl.Expr) else pl.lit(prefix)
    return expr.str.to_integer(base=16).cast(pl.UInt16).alias(KEY)


def _sorted_unique(frame: pl.DataFrame, all_hex: bool | None = None) -> pl.DataFrame:
    """Distinct records in (key, record) order; `all_hex` says every record is a hash (None: check)."""
    # Sorting then dropping adjacent repeats measured faster than a hash `unique` followed by a sort.
    if all_hex is None:
        all_hex = frame.height > 0 and bool(frame.select(pl.col(RECORD).str.contains(_HEX_RECORD).all()).item())
    if all_hex:
        # All hashes: a hash's key is its own first hex digits, so (key, record) order is the records' own
        # order, and sorting on a 60-bit integer prefix first (ties go on to the record) measured about 1.5x
        # less CPU than sorting on (key, record), in about the same memory.
        prefix = pl.col(RECORD).str.slice(0, 15).str.to_integer(base=16)
        ordered = frame.sort([prefix, pl.col(RECORD)])
    else:
        ordered = frame.sort([KEY, RECORD])
    return ordered.filter(pl.col(RECORD).ne_missing(pl.col(RECORD).shift(1)))


class RecordSet:
    """Distinct records ordered by (key, record), held in memory or as sorted Parquet partitions."""

    def __init__(
        self,
        *,
        frame: pl.DataFrame | None = None,
        partition_files: list[Path] | None = None,
        partition_bits: int = 0,
        count: int,
        duplicates: int = 0,
        owned_dir: Path | None = None,
    ) -> None:
        if (frame is None) == (partition_files is None):
            raise ValueError("a RecordSet is either in memory (frame) or on disk (partition_files)")
        if partition_files is not None and len(partition_files) != 1 << partition_bits:
            raise ValueError("one file per partition is required")
        self._frame = frame
        self._files = partition_files
        self.partition_bits = partition_bits if partition_files is not None else 0
        self.count = count
        """Distinct records in the set."""
        self.duplicates = duplicates
        """Rows given to the builder that repeated a record already in the set."""
        self._finalizer = weakref.finalize(self, shutil.rmtree, owned_dir, True) if owned_dir is not None else None

    @classmethod
    def from_records(cls, records: Iterable[str] | pl.Series) -> RecordSet:
        """A small in-memory set (tests, samples): duplicates are dropped and counted."""
        builder = RecordSetBuilder()
        series = records if isinstance(records, pl.Series) else pl.Series(RECORD, list(records), pl.String)
        builder.add(series)
        return builder.finish()

    @classmethod
    def empty(cls) -> RecordSet:
        return cls(frame=pl.DataFrame(schema=SCHEMA), count=0)

    @property
    def in_memory(self) -> bool:
        return self._frame is not None

    def __len__(self) -> int:
        return self.count

    def partition_frame(self, index: int, bits: int) -> pl.DataFrame:
        """Partition `index` of 2**bits (columns key, record), sorted; `bits` may differ from the stored split."""
        if not 0 <= index < 1 << bits:
            raise IndexError(f"partition {index} of {1 << bits}")
        shift = KEY_BITS - bits
        lo, hi = index << shift, (index + 1) << shift
        if self._frame is not None:
            return self._frame.filter((pl.col(KEY) >= lo) & (pl.col(KEY) < hi))
        assert self._files is not None
        stored = self.partition_bits
        if bits >= stored:
            frame = _read_partition(self._files[index >> (bits - stored)])
            if bits == stored:
                return frame
            return frame.filter((pl.col(KEY) >= lo) & (pl.col(KEY) < hi))
        first, last = index << (stored - bits), (index + 1) << (stored - bits)
        return pl.concat([_read_partition(path) for path in self._files[first:last]])

    def iter_frames(self, bits: int | None = None) -> Iterator[pl.DataFrame]:
        """Every partition in order (columns key, record); `bits` defaults to the stored split."""
        bits = self.partition_bits if bits is None else bits
        for index in range(1 << bits):
            yield self.partition_frame(index, bits)

    def iter_partitions(self) -> Iterator[pl.Series]:
        """The records, one partition at a time, in order."""
        for frame in self.iter_frames():
            yield frame.get_column(RECORD)

    def iter_batches(self, batch_size: int) -> Iterator[list[str]]:
        """The records in order, in lists of `batch_size` (the last may be shorter)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        pending: list[str] = []
        for series in self.iter_partitions():
            for start in range(0, series.len(), batch_size):
                pending.extend(series.slice(start, batch_size).to_list())
                while len(pending) >= batch_size:
                    yield pending[:batch_size]
                    pending = pending[batch_size:]
        if pending:
            yield pending

    def to_list(self) -> list[str]:
        out: list[str] = []
        for series in self.iter_partitions():
            out.extend(series.to_list())
        return out

    def head(self, n: int) -> list[str]:
        out: list[str] = []
        for series in self.iter_partitions():
            out.extend(series.head(n - len(out)).to_list())
            if len(out) >= n:
                break
        return out

    def write(self, path: Path) -> None:
        """Write the records as CSV (one column, header `record`) or Parquet, chosen by the extension."""
        suffix = path.suffix.lower()
        if suffix not in {".csv", ".parquet"}:
            raise ValueError(f"output must end in .csv or .parquet, got {path.name!r}")
        tmp = path.with_name(path.name + ".partial")
        if suffix == ".parquet":
            if self._frame is not None:
                self._frame.select(RECORD).write_parquet(tmp)
            else:
                pl.concat([_scan_partition(f) for f in self._files or []]).select(RECORD).sink_parquet(tmp)
        else:
            with tmp.open("w", encoding="utf-8", newline="") as out:
                out.write(f"{RECORD}\n")
                for frame in self.iter_frames():
                    frame.select(RECORD).write_csv(out, include_header=False)
        tmp.replace(path)

    def close(self) -> None:
        """Delete the spill files now rather than when the set is garbage-collected."""
        if self._finalizer is not None:
            self._finalizer()


def _read_partition(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path, columns=[KEY, RECORD])
    return pl.read_ipc(path)


def _scan_partition(path: Path) -> pl.LazyFrame:
    return pl.scan_parquet(path) if path.suffix == ".parquet" else pl.scan_ipc(path)


class RecordSetBuilder:
    """Collects records (duplicates allowed, any chunk size) and builds a `RecordSet`."""

    def __init__(self, workdir: Path | None = None, *, spill_rows: int = 4_000_000) -> None:
        if spill_rows < 1:
            raise ValueError("spill_rows must be at least 1")
        self._workdir = workdir
        self._spill_rows = spill_rows
        self._buffer: list[pl.Series] = []
        self._buffered = 0
        self._rows = 0
        self._spill_dir: Path | None = None
        self._spills = 0
        self._finished = False
        self._all_hex = True
        """Every record spilled so far is a hash."""

    @property
    def rows(self) -> int:
        """Rows added so far, duplicates included."""
        return self._rows

    def add(self, records: pl.Series) -> None:
        if self._finished:
            raise RuntimeError("finish() was already called")
        if records.len() == 0:
            return
        self._buffer.append(records.cast(pl.String).rename(RECORD))
        self._buffered += records.len()
        self._rows += records.len()
        # In memory until spill_rows; once spilling, flush in slices of at most SPILL_SLICE_ROWS so the
        # transient copies of one flush stay small whatever the caller's chunk size.
        threshold = self._spill_rows if self._spill_dir is None else min(self._spill_rows, SPILL_SLICE_ROWS)
        if self._buffered >= threshold:
            self._spill()

    def _spill(self) -> None:
        if not self._buffer:
            return
        if self._spill_dir is None:
            base = self._workdir
            if base is not None:
                base.mkdir(parents=True, exist_ok=True)
            self._spill_dir = Path(tempfile.mkdtemp(prefix="pinaudience-records-", dir=base))
        buffer, self._buffer, self._buffered = self._buffer, [], 0
        # Gather small chunks into slices of about SPILL_SLICE_ROWS: each slice writes one file per
        # partition, and spilling 250,000-row chunks one by one measured ten times slower in file overhead.
        group: list[pl.Series] = []
        grouped = 0
        while buffer:
            series = buffer.pop(0)
            for start in range(0, series.len(), SPILL_SLICE_ROWS):
                piece = series.slice(start, SPILL_SLICE_ROWS)
                group.append(piece)
                grouped += piece.len()
                if grouped >= SPILL_SLICE_ROWS:
                    self._spill_slice(pl.concat(group))
                    group, grouped = [], 0
            del series
        if group:
            self._spill_slice(pl.concat(group))

    def _spill_slice(self, series: pl.Series) -> None:
        assert self._spill_dir is not None
        frame, all_hex = _keyed(series)
        self._all_hex = self._all_hex and all_hex
        frame = frame.with_columns((pl.col(KEY) // (1 << (KEY_BITS - SPILL_PARTITION_BITS))).alias("_part"))
        for (part,), chunk in frame.partition_by("_part", as_dict=True, include_key=False).items():
            folder = self._spill_dir / f"{part:03d}"
            folder.mkdir(exist_ok=True)
            chunk.write_ipc(folder / f"{self._spills:06d}.arrow", compression="uncompressed")
        self._spills += 1

    def discard(self) -> None:
        """Drop everything added and delete any spill files (a failed run); the builder cannot be used afterwards."""
        self._finished = True
        self._buffer, self._buffered = [], 0
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None

    def finish(self) -> RecordSet:
        """Dedupe and sort; the builder cannot be used afterwards."""
        if self._finished:
            raise RuntimeError("finish() was already called")
        self._finished = True
        if self._spill_dir is None:
            if not self._buffer:
                return RecordSet.empty()
            # Let go of the buffered chunks before sorting, so they are not held beside the sorted copy.
            buffer, self._buffer = self._buffer, []
            keyed, all_hex = _keyed(pl.concat(buffer))
            del buffer
            frame = _sorted_unique(keyed, all_hex)
            del keyed
            return RecordSet(frame=frame, count=frame.height, duplicates=self._rows - frame.height)
        self._spill()
        spill_dir = self._spill_dir
        files: list[Path] = []
        count = 0
        for part in range(1 << SPILL_PARTITION_BITS):
            folder = spill_dir / f"{part:03d}"
            chunks = sorted(folder.glob("*.arrow")) if folder.exists() else []
            if chunks:
                frame = _sorted_unique(pl.concat([pl.read_ipc(c) for c in chunks]), self._all_hex)
            else:
                frame = pl.DataFrame(schema=SCHEMA)
            target = spill_dir / f"part-{part:03d}.arrow"
            frame.write_ipc(target, compression="uncompressed")
            for chunk in chunks:
                chunk.unlink()
            files.append(target)
            count += frame.height
        return RecordSet(
            partition_files=files,
            partition_bits=SPILL_PARTITION_BITS,
            count=count,
            duplicates=self._rows - count,
            owned_dir=spill_dir,
        )
