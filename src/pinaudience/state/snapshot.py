"""Confirmed membership on disk: Parquet snapshots, the journal replayed over them, and compaction's writer.

A snapshot is a directory of `2**bits` Parquet base files, `part-00000.parquet` onwards, each holding the
records of one key range in the stored encoding (`pinaudience.state.encoding`), in (key, record)
order, and optionally as many delta files (`delta-00000.parquet` onwards: what differs from the base).
Which directory is current lives in SQLite; a directory and its files are never modified once written,
so a new directory may share (hard-link) the base files of the current one. Where the files are read
from is a `SnapshotFiles` (a folder here, rows of PostgreSQL in `pinaudience.state.postgres`), so every
backend reads the same Parquet files the same way.

The journal is read into a `Journal`: every batch's records with its sequence number, operation and
status, split by key like the records themselves (in memory while small, spilled to Arrow IPC files
past `spill_rows`). For each record, the latest acknowledged entry says whether Pinterest holds it
(ADD) or not (REMOVE); if the latest entry of all is still PENDING, its outcome is unknown and the
record is uncertain.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Protocol

import polars as pl

from pinaudience.errors import StateError
from pinaudience.records.recordset import (
    KEY,
    KEY_BITS,
    RECORD,
    SPILL_PARTITION_BITS,
    RecordSet,
    RecordSetBuilder,
    batches,
)
from pinaudience.state import encoding
from pinaudience.state.encoding import HASH, IDENTITY, TEXT
from pinaudience.support.files import fsync_dir, fsync_file

SEQ = "seq"
ADD = "add"
PENDING = "pending"
JOURNAL_SCHEMA = {**encoding.ENCODED_SCHEMA, SEQ: pl.Int64, ADD: pl.Boolean, PENDING: pl.Boolean}

ROWS_PER_SNAPSHOT_FILE = 1_000_000
"""Above this many records a snapshot is split by key, so that one partition fits comfortably in memory."""
ROW_GROUP_ROWS = 131_072
"""Parquet row groups carry key statistics, so reading a finer split than the stored one skips most of a file."""


def snapshot_bits(count: int, rows_per_file: int = ROWS_PER_SNAPSHOT_FILE) -> int:
    """Partition bits for a snapshot of `count` records: one file when small, else about a million per file."""
    if count <= rows_per_file:
        return 0
    needed = math.ceil(math.log2(count / rows_per_file))
    # Never coarser than a spilled RecordSet, so a planner reading both at one split never concatenates.
    return min(max(needed, SPILL_PARTITION_BITS), 12)


def key_range(index: int, bits: int) -> tuple[int, int]:
    if not 0 <= index < 1 << bits:
        raise IndexError(f"partition {index} of {1 << bits}")
    shift = KEY_BITS - bits
    return index << shift, (index + 1) << shift


def in_range(index: int, bits: int) -> pl.Expr:
    lo, hi = key_range(index, bits)
    return (pl.col(KEY) >= lo) & (pl.col(KEY) < hi)


def read_split(
    stored_bits: int, index: int, bits: int, read: Callable[[int, pl.Expr | None], pl.DataFrame]
) -> pl.DataFrame:
    """Partition `index` of 2**bits from data stored in 2**stored_bits parts; `read(part, filter)`."""
    key_range(index, bits)
    if bits >= stored_bits:
        return read(index >> (bits - stored_bits), None if bits == stored_bits else in_range(index, bits))
    first, last = index << (stored_bits - bits), (index + 1) << (stored_bits - bits)
    return pl.concat([read(part, None) for part in range(first, last)])


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def delta_name(index: int) -> str:
    return f"delta-{index:05d}.parquet"


DELTA_SCHEMA = {**encoding.ENCODED_SCHEMA, ADD: pl.Boolean}
"""A delta file: the records whose membership differs from the base files', with `add` (True: a member)."""


class SnapshotFiles(Protocol):
    """Where one snapshot's files are read from: a folder (`FolderFiles`), or rows of a database."""

    def open(self, name: str) -> Path | bytes:
        """The Parquet file `name` (`part-NNNNN.parquet`, `delta-NNNNN.parquet`): its path, or its bytes."""
        ...

    def rows(self, name: str) -> int:
        """Rows of file `name`, without reading its records."""
        ...

    def label(self, name: str) -> str:
        """File `name` as errors name it (a path, or a snapshot row): never a record, never a password."""
        ...


class FolderFiles:
    """The files of a snapshot directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def open(self, name: str) -> Path:
        return self.directory / name

    def rows(self, name: str) -> int:
        path = self.directory / name
        try:
            return int(pl.scan_parquet(path).select(pl.len()).collect().item())
        except (OSError, pl.exceptions.PolarsError) as error:
            raise StateError(f"cannot read the snapshot file {path}: {type(error).__name__}") from None

    def label(self, name: str) -> str:
        return str(self.directory / name)


class Snapshot:
    """A written snapshot (or none: the empty set), read partition by partition.

    Its `part-*` files are the base; when `delta_rows` is not 0, `delta-*` files (split like the base)
    hold the records whose membership differs from the base: additions (not in the base) and removals
    (in it). The membership is the base with the delta applied; `count` is that membership's size.
    """

    def __init__(
        self, files: SnapshotFiles | None, bits: int, count: int, delta_rows: int = 0, name: str | None = None
    ) -> None:
        self.files = files
        self.name = name if files is not None else None
        self.bits = bits if files is not None else 0
        self.count = count if files is not None else 0
        self.delta_rows = delta_rows if files is not None else 0

    @property
    def present(self) -> bool:
        """False for the empty snapshot of a list never compacted."""
        return self.files is not None

    def encoded_partition(self, index: int, bits: int) -> pl.DataFrame:
        """Partition `index` of 2**bits of the membership (base with the delta applied), in (key, record) order."""
        rows = self.base_partition(index, bits)
        if self.delta_rows == 0:
            return rows
        return apply_journal(rows, self.delta_partition(index, bits))

    def base_partition(self, index: int, bits: int) -> pl.DataFrame:
        if self.files is None:
            key_range(index, bits)
            return encoding.empty_encoded()
        return read_split(self.bits, index, bits, self._read_part)

    def delta_partition(self, index: int, bits: int) -> pl.DataFrame:
        if self.files is None or self.delta_rows == 0:
            key_range(index, bits)
            return pl.DataFrame(schema=DELTA_SCHEMA)
        return read_split(self.bits, index, bits, self._read_delta)

    def base_rows(self, part: int) -> int:
        """Records in base file `part` (from its metadata, without reading it)."""
        assert self.files is not None
        return self.files.rows(part_name(part))

    def _read_part(self, part: int, where: pl.Expr | None) -> pl.DataFrame:
        assert self.files is not None
        return _read_file(self.files, part_name(part), where, encoding.ENCODED_SCHEMA)

    def _read_delta(self, part: int, where: pl.Expr | None) -> pl.DataFrame:
        assert self.files is not None
        return _read_file(self.files, delta_name(part), where, DELTA_SCHEMA)


def _read_file(
    files: SnapshotFiles, name: str, where: pl.Expr | None, schema: Mapping[str, pl.DataType | type[pl.DataType]]
) -> pl.DataFrame:
    try:
        source = files.open(name)
        metadata = pl.read_parquet_metadata(source)
        if metadata.get(encoding.FORMAT_KEY) != encoding.FORMAT_VERSION:
            raise StateError(
                f"the snapshot file {files.label(name)} is not in a format this pinaudience knows",
                resolution="Upgrade pinaudience, or forget this list's state with `pinaudience state forget`.",
            )
        # Bytes are handed to Polars as they are: a BytesIO around them peaked 18 MB higher on a 2 M-row file.
        scan = pl.scan_parquet(source)
        if where is not None:
            scan = scan.filter(where)
        return scan.collect().cast(schema)  # type: ignore[arg-type]
    except StateError:
        raise
    except (OSError, pl.exceptions.PolarsError) as error:
        raise StateError(f"cannot read the snapshot file {files.label(name)}: {type(error).__name__}") from None


def write_snapshot_file(frame: pl.DataFrame, target: Path | IO[bytes]) -> None:
    """One snapshot file, as every backend writes it: Parquet with key statistics and the format marker."""
    frame.write_parquet(
        target,
        compression=encoding.PARQUET_COMPRESSION,
        statistics=True,
        row_group_size=ROW_GROUP_ROWS,
        metadata={encoding.FORMAT_KEY: encoding.FORMAT_VERSION},
    )


class FolderStorage:
    """One list's snapshots as directories of files (`<list folder>/<name>/`): the embedded backend's storage."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def snapshot(self, name: str | None, bits: int, count: int, delta_rows: int) -> Snapshot:
        if name is None:
            return Snapshot(None, bits, count, delta_rows)
        directory = self.folder / name
        if not directory.is_dir():
            raise StateError(f"the snapshot {name} is missing from {self.folder}")
        return Snapshot(FolderFiles(directory), bits, count, delta_rows, name)

    def writer(self, name: str, base: str | None, fault: Callable[[str], None]) -> SnapshotFolderWriter:
        return SnapshotFolderWriter(self.folder / name, base=None if base is None else self.folder / base, fault=fault)

    def remove_others(self, keep: str | None) -> None:
        if not self.folder.is_dir():
            return
        for child in self.folder.iterdir():
            if child.name != keep:
                shutil.rmtree(child, ignore_errors=True)


class SnapshotFolderWriter:
    """Writes a new snapshot directory durably: the storage half of compaction (`pinaudience.state.compaction`).

    Files go into `<directory>.partial` first, each fsynced (a reused file of the current snapshot is
    hard-linked, or copied and fsynced where the file system has no hard links); `commit()` fsyncs the
    folder, renames it into place with `os.replace` and fsyncs the parent, so a directory with the final
    name is always complete. Files are never modified once written, so two snapshot directories may
    share one (a hard link) and deleting either directory leaves the other whole.
    """

    def __init__(self, directory: Path, *, base: Path | None, fault: Callable[[str], None]) -> None:
        self.directory = directory
        self._base = base
        self._fault = fault
        self._partial = directory.with_name(directory.name + ".partial")
        shutil.rmtree(self._partial, ignore_errors=True)
        self._partial.mkdir(parents=True)

    def write_part(self, index: int, frame: pl.DataFrame) -> None:
        self._write(part_name(index), frame)

    def write_delta(self, index: int, frame: pl.DataFrame) -> None:
        self._write(delta_name(index), frame)

    def reuse_part(self, index: int) -> None:
        """Base file `index` of the current snapshot, unchanged, in the new one."""
        self._reuse(part_name(index))

    def reuse_delta(self, index: int) -> None:
        """Delta file `index` of the current snapshot, unchanged, in the new one."""
        self._reuse(delta_name(index))

    def _write(self, name: str, frame: pl.DataFrame) -> None:
        path = self._partial / name
        write_snapshot_file(frame, path)
        fsync_file(path)
        self._fault("compact.partition_written")

    def _reuse(self, name: str) -> None:
        assert self._base is not None
        source, path = self._base / name, self._partial / name
        try:
            os.link(source, path)
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            shutil.copyfile(source, path)  # no hard links here: a copy of the bytes, still no re-encoding
            fsync_file(path)
        self._fault("compact.partition_written")

    def commit(self) -> None:
        fsync_dir(self._partial)
        # A whole folder moves into place here, which `support.files.write_atomic` (one file) does not cover.
        os.replace(self._partial, self.directory)
        fsync_dir(self.directory.parent)


class JournalEntry:
    """One batch as the journal reader needs it."""

    __slots__ = ("operation_add", "pending", "records", "seq")

    def __init__(self, seq: int, operation_add: bool, pending: bool, records: bytes) -> None:
        self.seq = seq
        self.operation_add = operation_add
        self.pending = pending
        self.records = records


class Journal:
    """Every journal entry of a list, split by key, resolved per record on demand."""

    def __init__(self, entries: Iterable[JournalEntry], *, spill_rows: int, workdir: Path | None) -> None:
        self._frame: pl.DataFrame | None = None
        self._split: tuple[int, dict[int, pl.DataFrame]] | None = None
        self._files: list[list[Path]] = []
        self._dir: Path | None = None
        self._finalizer: weakref.finalize[..., Journal] | None = None
        self.acknowledged_rows = 0
        self.pending_rows = 0
        buffer: list[pl.DataFrame] = []
        buffered = 0
        for entry in entries:
            frame = encoding.from_parquet_bytes(entry.records).with_columns(
                pl.lit(entry.seq, pl.Int64).alias(SEQ),
                pl.lit(entry.operation_add).alias(ADD),
                pl.lit(entry.pending).alias(PENDING),
            )
            if entry.pending:
                self.pending_rows += frame.height
            else:
                self.acknowledged_rows += frame.height
            buffer.append(frame)
            buffered += frame.height
            if buffered >= spill_rows:
                self._spill(pl.concat(buffer), workdir)
                buffer, buffered = [], 0
        rest = pl.concat(buffer) if buffer else pl.DataFrame(schema=JOURNAL_SCHEMA)
        if not self._files:
            self._frame = rest
        elif rest.height:
            self._spill(rest, workdir)

    @property
    def bits(self) -> int:
        return SPILL_PARTITION_BITS if self._files else 0

    @property
    def empty(self) -> bool:
        return self.acknowledged_rows + self.pending_rows == 0

    def _spill(self, frame: pl.DataFrame, workdir: Path | None) -> None:
        if self._dir is None:
            if workdir is not None:
                workdir.mkdir(parents=True, exist_ok=True)
            self._dir = Path(tempfile.mkdtemp(prefix="pinaudience-journal-", dir=workdir))
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)
            self._files = [[] for _ in range(1 << SPILL_PARTITION_BITS)]
        shift = KEY_BITS - SPILL_PARTITION_BITS
        parts = frame.with_columns((pl.col(KEY) // (1 << shift)).alias("_part"))
        for (part,), chunk in parts.partition_by("_part", as_dict=True, include_key=False).items():
            assert isinstance(part, int)
            path = self._dir / f"{part:03d}-{len(self._files[part]):06d}.arrow"
            chunk.write_ipc(path, compression="uncompressed")
            self._files[part].append(path)

    def _read_part(self, part: int, where: pl.Expr | None) -> pl.DataFrame:
        chunks = [pl.read_ipc(path) for path in self._files[part]]
        frame = pl.concat(chunks) if chunks else pl.DataFrame(schema=JOURNAL_SCHEMA)
        return frame if where is None else frame.filter(where)

    def entries(self, index: int, bits: int) -> pl.DataFrame:
        """Raw entries whose keys fall in partition `index` of 2**bits."""
        if self._frame is not None:
            if bits == 0:
                return self._frame
            key_range(index, bits)
            if self._split is None or self._split[0] != bits:
                # Split once per `bits`: filtering the whole journal for each of 64 partitions cost 20 times more.
                shift = KEY_BITS - bits
                parts = self._frame.with_columns((pl.col(KEY) // (1 << shift)).alias("_part"))
                by_part = parts.partition_by("_part", as_dict=True, include_key=False, maintain_order=True)
                self._split = (bits, {int(part): frame for (part,), frame in by_part.items()})
            return self._split[1].get(index, self._frame.clear())
        return read_split(SPILL_PARTITION_BITS, index, bits, self._read_part)

    def effect(self, index: int, bits: int) -> pl.DataFrame:
        """Per record of the partition, its latest acknowledged operation: IDENTITY columns and `add`.

        Rows come in (key, record) order.
        """
        acknowledged = self.entries(index, bits).filter(~pl.col(PENDING))
        if acknowledged.height == 0:
            return acknowledged.select([*IDENTITY, ADD])
        if _only_hashes(acknowledged):
            # One sort gives both the output order and, per hash, its entries in sequence: keep the last.
            ordered = acknowledged.sort([HASH, SEQ])
            latest = ordered.filter(pl.col(HASH).ne_missing(pl.col(HASH).shift(-1)))
            return latest.select([*IDENTITY, ADD])
        latest = acknowledged.sort(SEQ).unique(subset=IDENTITY, keep="last")
        return encoding.sort_encoded(latest.select([*IDENTITY, ADD]))

    def uncertain(self, index: int, bits: int) -> pl.DataFrame:
        """Records of the partition whose latest entry is PENDING: IDENTITY columns and that entry's `seq`."""
        entries = self.entries(index, bits)
        if entries.height == 0 or not entries.get_column(PENDING).any():
            return entries.select([*IDENTITY, SEQ]).clear()
        latest = entries.sort(SEQ).unique(subset=IDENTITY, keep="last")
        return latest.filter(pl.col(PENDING)).select([*IDENTITY, SEQ])

    def iter_uncertain(self) -> Iterator[pl.DataFrame]:
        if self.pending_rows == 0:
            return
        for index in range(1 << self.bits):
            frame = self.uncertain(index, self.bits)
            if frame.height:
                yield frame

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()


def _only_hashes(frame: pl.DataFrame) -> bool:
    return frame.get_column(TEXT).null_count() == frame.height


def apply_journal(snapshot_rows: pl.DataFrame, effect: pl.DataFrame) -> pl.DataFrame:
    """Snapshot rows with the journal's latest acknowledged operations (from `Journal.effect`) applied.

    Both inputs and the result are in (key, record) order.
    """
    if effect.height == 0:
        return snapshot_rows
    added = effect.filter(pl.col(ADD)).select(IDENTITY)
    if snapshot_rows.height == 0:
        return added
    if _only_hashes(snapshot_rows) and _only_hashes(effect):
        kept = snapshot_rows.filter(~pl.col(HASH).is_in(effect.get_column(HASH).implode()))
    else:
        kept = snapshot_rows.join(
            effect.select(IDENTITY), on=IDENTITY, how="anti", nulls_equal=True, maintain_order="left"
        )
    return encoding.merge_encoded(kept, added)


class ConfirmedSet:
    """What Pinterest acknowledged holding: a snapshot with the acknowledged journal replayed over it.

    Reads like a `RecordSet` (`partition_frame`, `iter_frames`, `iter_batches`, `to_list`), one partition
    at a time. It stays valid until the list is compacted (which deletes the snapshot it reads).
    """

    in_memory = False

    def __init__(self, snapshot: Snapshot, journal: Journal) -> None:
        self._snapshot = snapshot
        self._journal = journal
        self.partition_bits = max(snapshot.bits, journal.bits)
        self._count: int | None = snapshot.count if journal.acknowledged_rows == 0 else None

    @property
    def empty(self) -> bool:
        """Known to be empty without reading anything: no snapshot and no acknowledged batch."""
        return not self._snapshot.present and self._journal.acknowledged_rows == 0

    @property
    def count(self) -> int:
        """Records confirmed; replays the journal once when it holds acknowledged batches."""
        if self._count is None:
            self._count = sum(frame.height for frame in self.iter_encoded())
        return self._count

    def __len__(self) -> int:
        return self.count

    def encoded_partition(self, index: int, bits: int) -> pl.DataFrame:
        """Partition `index` of 2**bits in the stored encoding (key, hash, text)."""
        rows = self._snapshot.encoded_partition(index, bits)
        if self._journal.acknowledged_rows == 0:
            return rows
        return apply_journal(rows, self._journal.effect(index, bits))

    def partition_frame(self, index: int, bits: int) -> pl.DataFrame:
        """Partition `index` of 2**bits (columns key, record), in (key, record) order."""
        return encoding.decode(self.encoded_partition(index, bits))

    def iter_encoded(self, bits: int | None = None) -> Iterator[pl.DataFrame]:
        bits = self.partition_bits if bits is None else bits
        for index in range(1 << bits):
            yield self.encoded_partition(index, bits)

    def iter_frames(self, bits: int | None = None) -> Iterator[pl.DataFrame]:
        for frame in self.iter_encoded(bits):
            yield encoding.decode(frame)

    def iter_batches(self, batch_size: int) -> Iterator[list[str]]:
        return batches((frame.get_column(RECORD) for frame in self.iter_frames()), batch_size)

    def to_list(self) -> list[str]:
        return [record for frame in self.iter_frames() for record in frame.get_column(RECORD).to_list()]


def uncertain_set(journal: Journal, *, spill_rows: int, workdir: Path | None) -> RecordSet:
    """The records whose latest journal entry is still PENDING, as a RecordSet."""
    builder = RecordSetBuilder(workdir, spill_rows=spill_rows)
    for frame in journal.iter_uncertain():
        builder.add(encoding.decode(frame).get_column(RECORD))
    return builder.finish()
