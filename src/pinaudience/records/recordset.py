"""Sets of distinct record strings, in a stable order, in bounded memory.

A record is the exact string Pinterest receives: a lowercase hex hash, or a lowercased email a user
chose to send plain. A `RecordSet` holds each record once, ordered by (`key`, record), where `key`
is a 16-bit stable prefix:

- for a record that is lowercase hex of length 32, 40 or 64 (a hash), its own first four hex digits;
- for any other record, the first four hex digits of its SHA-256.

Both are standard functions, so the order and the partitioning never change between runs, machines
or library versions. Hashes are uniform, so the key spreads records evenly; splitting on its top
`bits` gives 2**bits partitions whose concatenation is the whole set in order, whatever `bits` is.
Two sets can therefore be compared partition by partition (see `pinaudience.plan.planner`) with only one
partition of each in memory.

A set can also be opened over sorted partition files someone else wrote (Arrow IPC or Parquet, chosen
by extension, columns `key` and `record`): benchmarks and tools use that to read the same files as
other programs.

Small sets live in memory; a `RecordSetBuilder` that has been given more than `spill_rows` rows
(or is told that more are coming) spills to uncompressed Arrow IPC files under a working directory
(temporary files: fast to write and read back), one folder per partition, and `finish()` dedupes and
sorts the partitions, two at a time.

The builder sorts on a 64-bit `prefix` per record (`sort_prefix`) rather than on the records' text:
for hashes, the prefix is their own first 16 hex digits, so sorting it is sorting the records, except
where two different hashes share those digits, which `finish()` detects and settles on the whole text.
Callers that make records in a streaming query (`pinaudience.input.prepare`) compute the prefix there.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import polars_hash  # noqa: F401 - registers the `chash` expression namespace

from pinaudience.support.hexdigest import HEX_DIGEST_RE

KEY = "key"
RECORD = "record"
KEY_BITS = 16
SPILL_PARTITION_BITS = 6
"""Partitions of a spilled set: 64, so 100 million records make partitions of about 1.6 million."""

SPILL_SLICE_ROWS = 1_000_000
"""Rows written per spill step once a builder spills."""

FINISH_THREADS = 2
"""Spilled partitions sorted at once by `RecordSetBuilder.finish` (Polars releases the GIL while it sorts)."""

PREFIX = "prefix"
"""The column a builder sorts on: `sort_prefix` of the record."""
PREFIX_DIGITS = 16
_KEY_DIVISOR = 1 << (4 * PREFIX_DIGITS - KEY_BITS)
_PART_DIVISOR = 1 << (4 * PREFIX_DIGITS - SPILL_PARTITION_BITS)

SCHEMA = {KEY: pl.UInt16, RECORD: pl.String}
_IS_HEX = "_is_hex"


def sort_prefix(records: pl.Expr, *, is_hash: pl.Expr | bool) -> pl.Expr:
    """The first 16 hex digits of each record where `is_hash`, else of its SHA-256, as a UInt64 named `prefix`.

    Its top 16 bits are the record's key. For a hash it is also the start of the record itself, so among
    hashes, ordering by the prefix is ordering by the record, up to ties. `RecordSetBuilder.add_prefixed`
    takes it from a streaming query that computes it where the record is made, on every core.
    """
    if is_hash is True:
        source = records
    else:
        digest: pl.Expr = records.chash.sha2_256()  # type: ignore[attr-defined]
        source = digest if is_hash is False else pl.when(is_hash).then(records).otherwise(digest)
    return source.str.slice(0, PREFIX_DIGITS).str.to_integer(base=16, dtype=pl.UInt64, strict=False).alias(PREFIX)


def _key_of_prefix() -> pl.Expr:
    return (pl.col(PREFIX) // _KEY_DIVISOR).cast(pl.UInt16).alias(KEY)


def with_keys(records: pl.Series) -> pl.DataFrame:
    """A frame of `key` (UInt16) and `record` for the given records, in the given order."""
    return _prefixed(records)[0].select(_key_of_prefix(), RECORD)


def _prefixed(records: pl.Series) -> tuple[pl.DataFrame, bool]:
    """A frame of `prefix` and `record`, in the given order, and whether every record is a hash."""
    frame = pl.DataFrame({RECORD: records.cast(pl.String)})
    frame = frame.with_columns(pl.col(RECORD).str.contains(HEX_DIGEST_RE).fill_null(False).alias(_IS_HEX))
    if frame.get_column(_IS_HEX).all():
        return frame.select(sort_prefix(pl.col(RECORD), is_hash=True), RECORD), True
    return frame.select(sort_prefix(pl.col(RECORD), is_hash=pl.col(_IS_HEX)), RECORD), False


def _sorted_unique_keyed(frame: pl.DataFrame) -> pl.DataFrame:
    # Sorting then dropping adjacent repeats measured faster than a hash `unique` followed by a sort.
    ordered = frame.select(KEY, RECORD).sort([KEY, RECORD])
    return ordered.filter(pl.col(RECORD).ne_missing(pl.col(RECORD).shift(1)))


def _prefix_order(frame: pl.DataFrame) -> pl.Series:
    """Row positions that put `frame` in prefix order (rows with one prefix in any order)."""
    if frame.height >= 1 << 32:
        return frame.get_column(PREFIX).arg_sort()
    # The prefix and the row position packed into one 96-bit integer and sorted as values: measured
    # 1.5 to 2 times less CPU than `arg_sort`, which sorts (position, value) pairs with a stable merge sort.
    packed = pl.col(PREFIX).cast(pl.Int128) * (1 << 32) + pl.int_range(pl.len(), dtype=pl.UInt32).cast(pl.Int128)
    return frame.select(packed.sort().cast(pl.UInt32, wrap_numerical=True)).to_series()


def _sorted_unique_prefixed(frame: pl.DataFrame, *, all_hex: bool) -> pl.DataFrame:
    """(prefix, record) rows to distinct (key, record) rows in (key, record) order."""
    if not all_hex:
        return _sorted_unique_keyed(frame.select(_key_of_prefix(), RECORD))
    # Hashes: sort on the 64-bit prefix alone, which measured five times faster than sorting on the
    # records' text, and is the same order unless two different hashes share their first 16 hex digits.
    ordered = frame[_prefix_order(frame)]
    repeats = ordered.select((pl.col(PREFIX) == pl.col(PREFIX).shift(1)).arg_true()).to_series()
    if repeats.len():
        records = ordered.get_column(RECORD)
        if bool((records.gather(repeats) != records.gather(repeats - 1)).any()):
            # Different hashes with one prefix (a hash that starts another, longer one; or a crafted
            # file): only the whole records can order them. Rare, so the whole frame is sorted again.
            ordered = frame.sort([PREFIX, RECORD])
            return ordered.filter(pl.col(RECORD).ne_missing(pl.col(RECORD).shift(1))).select(_key_of_prefix(), RECORD)
    # Every run of one prefix holds one record, repeated: keep the first of each run.
    return ordered.filter(pl.col(PREFIX).ne_missing(pl.col(PREFIX).shift(1))).select(_key_of_prefix(), RECORD)


def batches(parts: Iterable[pl.Series], batch_size: int) -> Iterator[list[str]]:
    """Consecutive series regrouped into lists of `batch_size` strings (the last may be shorter)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    carry: list[str] = []
    for series in parts:
        start = 0
        if carry:
            start = batch_size - len(carry)
            carry.extend(series.slice(0, start).to_list())
            if len(carry) < batch_size:
                continue
            yield carry
            carry = []
        while start + batch_size <= series.len():
            yield series.slice(start, batch_size).to_list()
            start += batch_size
        carry = series.slice(start).to_list()
    if carry:
        yield carry


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
        return batches(self.iter_partitions(), batch_size)

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

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        spill_rows: int = 4_000_000,
        expected_rows: int | None = None,
        slice_rows: int = SPILL_SLICE_ROWS,
    ) -> None:
        """`spill_rows`: rows held in memory before spilling to disk under `workdir`; once spilling, rows are
        written in slices of `slice_rows` (or `spill_rows`, if smaller). `expected_rows`: how many rows the
        caller expects to add, if it can tell; when that is more than `spill_rows`, the builder spills from
        the start, since holding the first `spill_rows` in memory would only raise the peak."""
        if spill_rows < 1 or slice_rows < 1:
            raise ValueError("spill_rows and slice_rows must be at least 1")
        self._workdir = workdir
        self._spill_rows = spill_rows
        self._slice_rows = min(spill_rows, slice_rows)
        self._spill_early = expected_rows is not None and expected_rows > spill_rows
        self._buffer: list[pl.DataFrame] = []
        """Chunks of (prefix, record) not yet spilled."""
        self._buffered = 0
        self._rows = 0
        self._spill_dir: Path | None = None
        self._spills = 0
        self._finished = False
        self._all_hex = True
        """Every record added so far is a hash."""

    @property
    def rows(self) -> int:
        """Rows added so far, duplicates included."""
        return self._rows

    def add(self, records: pl.Series) -> None:
        """Add records (any strings; repeats are dropped and counted when the set is built)."""
        self._check_open()
        if records.len() == 0:
            return
        frame, all_hex = _prefixed(records)
        self._append(frame, all_hex)

    def add_prefixed(self, frame: pl.DataFrame, *, hashes: bool) -> None:
        """Add a frame of `record` and its `prefix`, computed by `sort_prefix` (in a streaming query, say).

        `hashes=True` promises that every record is a hash (`HEX_DIGEST_RE`), which `finish` then sorts on
        its prefix alone; it saves checking every record with a regular expression. A wrong promise gives
        a wrongly ordered set, so callers make it only where they made the records hashes themselves.
        """
        self._check_open()
        if frame.height == 0:
            return
        self._append(frame.select(pl.col(PREFIX).cast(pl.UInt64), pl.col(RECORD).cast(pl.String)), hashes)

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError("finish() was already called")

    def _append(self, frame: pl.DataFrame, all_hex: bool) -> None:
        self._all_hex = self._all_hex and all_hex
        self._buffer.append(frame)
        self._buffered += frame.height
        self._rows += frame.height
        # In memory until spill_rows; once spilling, flush in slices so the transient copies of one flush
        # stay small whatever the caller's chunk size.
        spilling = self._spill_dir is not None or self._spill_early
        threshold = self._slice_rows if spilling else self._spill_rows
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
        # Gather small chunks into slices of about slice_rows: each slice writes one file per partition,
        # and spilling 250,000-row chunks one by one measured ten times slower in file overhead.
        group: list[pl.DataFrame] = []
        grouped = 0
        while buffer:
            chunk = buffer.pop(0)
            for start in range(0, chunk.height, self._slice_rows):
                piece = chunk.slice(start, self._slice_rows)
                group.append(piece)
                grouped += piece.height
                if grouped >= self._slice_rows:
                    self._spill_slice(pl.concat(group))
                    group, grouped = [], 0
            del chunk
        if group:
            self._spill_slice(pl.concat(group))

    def _spill_slice(self, frame: pl.DataFrame) -> None:
        assert self._spill_dir is not None
        # One chunk first: `partition_by` gathers, and on the chunks a concat leaves behind it measured
        # three to five times slower.
        frame = frame.rechunk().with_columns((pl.col(PREFIX) // _PART_DIVISOR).alias("_part"))
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
        self._check_open()
        self._finished = True
        if self._spill_dir is None:
            if not self._buffer:
                return RecordSet.empty()
            # Let go of the buffered chunks before sorting, so they are not held beside the sorted copy.
            buffer, self._buffer = self._buffer, []
            # Polars' concat leaves one chunk per part, and gathering across chunks measured 20 times slower.
            frame = pl.concat(buffer).rechunk()
            del buffer
            frame = _sorted_unique_prefixed(frame, all_hex=self._all_hex)
            return RecordSet(frame=frame, count=frame.height, duplicates=self._rows - frame.height)
        self._spill()
        spill_dir = self._spill_dir
        try:
            with ThreadPoolExecutor(FINISH_THREADS, thread_name_prefix="pinaudience-records") as pool:
                counts = list(pool.map(self._finish_partition, range(1 << SPILL_PARTITION_BITS)))
        except BaseException:
            shutil.rmtree(spill_dir, ignore_errors=True)
            raise
        files = [spill_dir / f"part-{part:03d}.arrow" for part in range(1 << SPILL_PARTITION_BITS)]
        count = sum(counts)
        return RecordSet(
            partition_files=files,
            partition_bits=SPILL_PARTITION_BITS,
            count=count,
            duplicates=self._rows - count,
            owned_dir=spill_dir,
        )

    def _finish_partition(self, part: int) -> int:
        """Sort and dedupe one spilled partition into its final file; returns its record count."""
        assert self._spill_dir is not None
        folder = self._spill_dir / f"{part:03d}"
        chunks = sorted(folder.glob("*.arrow")) if folder.exists() else []
        if chunks:
            frame = pl.concat([pl.read_ipc(c) for c in chunks]).rechunk()
            frame = _sorted_unique_prefixed(frame, all_hex=self._all_hex)
        else:
            frame = pl.DataFrame(schema=SCHEMA)
        frame.write_ipc(self._spill_dir / f"part-{part:03d}.arrow", compression="uncompressed")
        for chunk in chunks:
            chunk.unlink()
        return frame.height
