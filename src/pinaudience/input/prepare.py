"""From a customer file to the exact records Pinterest will receive, with a count of everything dropped.

`prepare` streams the file through the identifier pipeline in batches: Polars' streaming engine reads,
normalises, recognises pre-hashed values and hashes the everyday ones on every core; each batch's unusual
rows get the whole rule (`pinaudience.identifiers.pipeline`); the records go to a `RecordSetBuilder`,
which dedupes them and spills to disk past a size. Memory stays bounded whatever the file's size.
`prepare_counts` reads the same way and gives the same report, but only counts the distinct records
(`pinaudience.records.distinct`), for a caller that does not need them (`pinaudience prepare` without `--out`).

The sync engine calls `prepare` for its desired set; `pinaudience prepare` prints its report. It never
prints, and neither the report nor the rejects file holds a value from the file: counts, reasons and
row numbers only.
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Protocol

import polars as pl

from pinaudience.errors import ConfigError, InputError
from pinaudience.identifiers.pipeline import ORIGIN, PENDING, REASON, RECORD, first_pass, second_pass
from pinaudience.identifiers.rules import PREHASHED_ORIGINS, Origin, effective_algorithm
from pinaudience.identifiers.types import HashAlgorithm, IdType
from pinaudience.input.guard import guarded
from pinaudience.input.report import PrepareProgress, PrepareReport
from pinaudience.input.source import ROW, VALUE, Source, SourceInfo, open_source, read_error
from pinaudience.records.distinct import DistinctCounter
from pinaudience.records.recordset import PREFIX, RecordSet, RecordSetBuilder, sort_prefix
from pinaudience.support.files import atomic_file

BATCH_ROWS: Final[int] = 250_000
"""Rows per batch handed from the streaming engine to Python: large enough that the per-batch work is noise."""

SPILL_ROWS: Final[int] = 6_000_000
"""Records held in memory before the RecordSet spills to disk: about 500 MB of hashes. Measured peak RSS of a
whole prepare: 1,100 MiB at 5 million rows (in memory), 1,020 MiB at 20 million (spilled from the start, the
file being known to be large); see docs/benchmarks.md."""

COUNT_SPILL_ROWS: Final[int] = 3_000_000
"""Records `prepare_counts` holds in memory before its counter spills: about 250 MB of hex digests."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """The records Pinterest will receive (distinct, in the RecordSet's stable order) and the report."""

    records: RecordSet
    report: PrepareReport
    source: SourceInfo


@dataclass(frozen=True, slots=True)
class Counted:
    """What `prepare_counts` learned: the report of `prepare` (the same counts), without the records."""

    report: PrepareReport
    source: SourceInfo


def prepare(
    path: Path | str | Source,
    *,
    id_type: IdType = IdType.EMAIL,
    column: str | None = None,
    hash: HashAlgorithm = HashAlgorithm.SHA256,
    rejects: Path | None = None,
    sample: int | None = None,
    workdir: Path | None = None,
    progress: Callable[[PrepareProgress], None] | None = None,
) -> Prepared:
    """Read the file at `path` and return its distinct valid records, hashed as Pinterest expects, with a report.

    `column` picks the identifier column (else a recognised name, else the only column). `hash` is the
    algorithm plain values are hashed with (`none` sends emails as lower-cased plain text; device ids are
    hashed anyway). `rejects` receives a CSV of `row,reason` for every invalid row (1-based data rows, the
    header not counted), never the values. `sample=N` keeps only the first N distinct valid records in file
    order and stops reading there; the counts then cover the rows read. `workdir` is where large record sets
    spill (default: the system's temporary directory). `path` may also be what `open_source` returned for the
    same `id_type` and `column`: a caller that opened the file already (the CLI, before it loads Polars).

    Raises `InputError` when the file cannot be read or holds no data, `ConfigError` for unusable options.
    """
    if sample is not None and sample < 1:
        raise ConfigError(f"sample must be at least 1, got {sample}")
    opened = path if isinstance(path, Source) else open_source(path, id_type=id_type, column=column)
    run = _Run(opened, id_type=id_type, algorithm=hash, sample=sample, progress=progress)
    builder = RecordSetBuilder(workdir, spill_rows=SPILL_ROWS, expected_rows=_expected_rows(opened, sample))
    sink = _BuilderSink(builder, hashes=effective_algorithm(id_type, hash) is not HashAlgorithm.NONE)
    with _rejects_file(rejects) as rejects_out:
        _read(opened, run, sink, rejects_out, prefix=True, ordered=True, discard=builder.discard)
        records = builder.finish()
        try:
            run.finish(records.count)
        except BaseException:
            records.close()
            raise
    return Prepared(records=records, report=run.report, source=opened.info)


def prepare_counts(
    path: Path | str | Source,
    *,
    id_type: IdType = IdType.EMAIL,
    column: str | None = None,
    hash: HashAlgorithm = HashAlgorithm.SHA256,
    rejects: Path | None = None,
    workdir: Path | None = None,
    progress: Callable[[PrepareProgress], None] | None = None,
) -> Counted:
    """`prepare`'s report (and rejects file) without its records: the same counts, for less time and memory.

    The distinct records are counted exactly (whole records compared) by a `DistinctCounter`, which neither
    orders them nor keeps them; `pinaudience prepare` without `--out` uses it. Same options and errors as
    `prepare` (no `sample`, which is about records).
    """
    opened = path if isinstance(path, Source) else open_source(path, id_type=id_type, column=column)
    run = _Run(opened, id_type=id_type, algorithm=hash, sample=None, progress=progress)
    counter = DistinctCounter(workdir, spill_rows=COUNT_SPILL_ROWS, expected_rows=_expected_rows(opened, None))
    with _rejects_file(rejects) as rejects_out:
        # The count does not depend on the order of the batches; the rejects file is in file order.
        ordered = rejects_out is not None
        _read(opened, run, _CounterSink(counter), rejects_out, prefix=False, ordered=ordered, discard=counter.discard)
        run.finish(counter.finish())
    return Counted(report=run.report, source=opened.info)


def _read(
    opened: Source,
    run: _Run,
    sink: _Sink,
    rejects: IO[str] | None,
    *,
    prefix: bool,
    ordered: bool,
    discard: Callable[[], None],
) -> None:
    """Stream the file through both passes into `run` and `sink`; `discard` the sink's spill on any failure.

    `ordered`: batches in file order (a sample, a rejects file); otherwise in the order the streaming engine
    finishes them, which keeps both cores busy (measured a third less wall time at 3 million rows)."""
    try:
        batches = _batches(opened, run.id_type, run.algorithm, prefix=prefix, ordered=ordered)
        for batch in guarded(opened, batches):
            if not run.take(batch, sink, rejects):
                break
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        discard()
        raise read_error(exc, opened.info) from None
    except OSError as exc:
        discard()
        raise InputError(f"the input file {opened.info.path} could not be read ({exc.strerror})") from None
    except BaseException:
        discard()
        raise


class _Sink(Protocol):
    """Where `_Run.take` sends each batch's records: the first pass's (with their prefix) and the second's."""

    def take(self, first: pl.DataFrame, second: pl.Series) -> None: ...

    def sample(self, records: pl.Series) -> None: ...


class _BuilderSink:
    def __init__(self, builder: RecordSetBuilder, *, hashes: bool) -> None:
        self.builder = builder
        self.hashes = hashes

    def take(self, first: pl.DataFrame, second: pl.Series) -> None:
        self.builder.add_prefixed(first.select(RECORD, PREFIX).drop_nulls(RECORD), hashes=self.hashes)
        self.builder.add(second.drop_nulls())

    def sample(self, records: pl.Series) -> None:
        self.builder.add(records)


class _CounterSink:
    def __init__(self, counter: DistinctCounter) -> None:
        self.counter = counter

    def take(self, first: pl.DataFrame, second: pl.Series) -> None:
        self.counter.add(first.get_column(RECORD))
        self.counter.add(second)

    def sample(self, records: pl.Series) -> None:
        raise AssertionError("prepare_counts takes no sample")


def _batches(
    opened: Source, id_type: IdType, algorithm: HashAlgorithm, *, prefix: bool, ordered: bool
) -> Iterator[pl.DataFrame]:
    query = _query(opened, id_type, algorithm, prefix=prefix)
    yield from query.collect_batches(chunk_size=BATCH_ROWS, maintain_order=ordered, optimizations=opened.optimizations)


def _query(opened: Source, id_type: IdType, algorithm: HashAlgorithm, *, prefix: bool = True) -> pl.LazyFrame:
    """The first pass over the file, and each record's sort prefix if `prefix`: all of it in the streaming engine."""
    query = first_pass(opened.scan(), VALUE, id_type, algorithm)
    if not prefix:
        return query
    # The prefix is computed here, where the record is made, on every core, rather than by the
    # RecordSetBuilder at the end with a regular expression and on one (see `pinaudience.records.recordset`).
    return query.with_columns(sort_prefix(pl.col(RECORD), is_hash=_is_hash(id_type, algorithm)))


def _expected_rows(opened: Source, sample: int | None) -> int | None:
    """At least about how many records are coming, for the builder to spill from the start on large files.

    Parquet says how many rows it holds. For a CSV it is half its size over the mean size of the rows
    sampled at its start: rows further down may be longer, and spilling a set that would have fitted in
    memory costs more than holding one that spills anyway.
    """
    if sample is not None:
        return sample
    if opened.total_rows is not None:
        return opened.total_rows
    per_row = opened.disk_bytes_per_row
    return round(opened.info.size_bytes / per_row / 2) if per_row else None


def _is_hash(id_type: IdType, algorithm: HashAlgorithm) -> pl.Expr | bool:
    """Which records of the first pass are hashes: all of them, unless plain emails are sent as they are."""
    if effective_algorithm(id_type, algorithm) is HashAlgorithm.NONE:
        return pl.col(ORIGIN) != int(Origin.PLAIN)
    return True


@contextlib.contextmanager
def _rejects_file(path: Path | None) -> Iterator[IO[str] | None]:
    """The rejects CSV, written beside its final name and moved into place only when prepare succeeds."""
    if path is None:
        yield None
        return
    with contextlib.ExitStack() as stack:
        try:
            raw = stack.enter_context(atomic_file(path, durable=False))  # a rerun writes it again
        except OSError as exc:
            raise ConfigError(
                f"cannot write the rejects file {path} ({exc.strerror})",
                resolution="Choose a writable path for --rejects.",
            ) from None
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            out.write(f"{ROW},{REASON}\n")
            yield out
        finally:
            out.detach()  # flushed into `raw`, which atomic_file closes and moves into place


class _Run:
    """The counters of one prepare, fed batch by batch."""

    def __init__(
        self,
        opened: Source,
        *,
        id_type: IdType,
        algorithm: HashAlgorithm,
        sample: int | None,
        progress: Callable[[PrepareProgress], None] | None,
    ) -> None:
        self.opened = opened
        self.id_type = id_type
        self.algorithm = algorithm
        self.sample = sample
        self.progress = progress
        self.report = PrepareReport()
        self.origins: Counter[int] = Counter()
        self.reasons: Counter[str] = Counter()
        self.sampled = pl.Series(RECORD, [], pl.String)
        self.stopped_at: int | None = None

    def take(self, batch: pl.DataFrame, sink: _Sink, rejects: IO[str] | None) -> bool:
        """Count one batch and pass its records on; False once a sample is complete."""
        if batch.height == 0:
            return True
        # Most rows were settled by the first pass; only the pending few are copied out for the second.
        pending = batch.filter(pl.col(ORIGIN) == int(Origin.PENDING)).select(ROW, PENDING)
        settled = second_pass(pending, self.id_type, self.algorithm)
        if self.sample is None:
            sink.take(batch, settled.get_column(RECORD))
        else:
            batch, settled = self._sample(batch, settled, sink)
        self.report.rows_read += batch.height  # every row is in exactly one batch, whatever their order
        for frame in (batch, settled):
            for origin, count in frame.get_column(ORIGIN).value_counts().iter_rows():
                if origin != int(Origin.PENDING):
                    self.origins[origin] += count
        invalid = settled.filter(pl.col(REASON).is_not_null())
        for reason, count in invalid.get_column(REASON).value_counts().iter_rows():
            self.reasons[reason] += count
        if rejects is not None and invalid.height:
            try:
                invalid.select(ROW, REASON).write_csv(rejects, include_header=False)
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the rejects file ({exc.strerror})",
                    resolution="Choose a --rejects path on a disk with free space.",
                ) from None
        if self.progress is not None:
            self.progress(self._progress(done=False))
        return self.stopped_at is None

    def _sample(self, batch: pl.DataFrame, settled: pl.DataFrame, sink: _Sink) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Add the batch's first records not yet sampled; cut both frames at the row that completes the sample."""
        assert self.sample is not None
        wanted = self.sample - self.sampled.len()
        candidates = pl.concat([batch.select(ROW, RECORD), settled.select(ROW, RECORD)])
        fresh = (
            candidates.filter(pl.col(RECORD).is_not_null() & ~pl.col(RECORD).is_in(self.sampled.implode()))
            .sort(ROW)
            .unique(subset=RECORD, keep="first", maintain_order=True)
            .head(wanted)
        )
        chosen = fresh.get_column(RECORD)
        sink.sample(chosen)
        self.sampled = pl.concat([self.sampled, chosen])
        if fresh.height < wanted:
            return batch, settled
        self.stopped_at = int(fresh.get_column(ROW)[-1])
        within = pl.col(ROW) <= self.stopped_at
        return batch.filter(within), settled.filter(within)

    def _progress(self, *, done: bool) -> PrepareProgress:
        total = self.opened.info.size_bytes
        rows = self.report.rows_read
        per_row = self.opened.disk_bytes_per_row
        if done:
            read = total
        elif per_row is None:
            read = 0
        else:
            read = min(total, round(rows * per_row))
        return PrepareProgress(rows_read=rows, bytes_read=read, total_bytes=total)

    def finish(self, count: int) -> None:
        """Complete the report once `count` distinct records are known; `InputError` for a file without data."""
        report = self.report
        info = self.opened.info
        report.rows_invalid = self.origins[int(Origin.INVALID)]
        report.rows_valid = report.rows_read - report.rows_invalid
        report.invalid_by_reason = dict(sorted(self.reasons.items(), key=lambda item: (-item[1], item[0])))
        report.prehashed_by_algorithm = {
            algorithm.value: self.origins[int(origin)] for algorithm, origin in PREHASHED_ORIGINS.items()
        }
        report.hashed = self.origins[int(Origin.HASHED)]
        report.records = count
        report.duplicates = report.rows_valid - count
        if report.rows_read == 0:
            what = "a header row but no data rows" if info.has_header else "no data rows"
            raise InputError(f"the input file {info.path} has {what}")
        if self.reasons.get("empty", 0) == report.rows_read:
            raise InputError(
                f"the column {info.column[:40]!r} of {info.path} is empty in all {report.rows_read} rows",
                resolution="Check that the export holds the identifiers, or choose another column with --column.",
            )
        report.warnings = self._warnings(count)
        if self.progress is not None:
            self.progress(self._progress(done=True))

    def _warnings(self, records: int) -> list[str]:
        report = self.report
        warnings: list[str] = []
        algorithm = effective_algorithm(self.id_type, self.algorithm)
        if algorithm is not self.algorithm:
            warnings.append(
                f"--hash {self.algorithm.value} does not apply to {self.id_type.value} ids: Pinterest accepts "
                f"them only hashed, so they were hashed with {algorithm.value}"
            )
        methods: dict[str, int] = {}
        for name, count in report.prehashed_by_algorithm.items():
            if count:
                methods[f"{name} (pre-hashed)"] = count
        if report.hashed:
            methods[f"{algorithm.value} (hashed here)"] = report.hashed
        plain = self.origins[int(Origin.PLAIN)]
        if plain:
            methods["plain text"] = plain
        distinct = {name.split(" ")[0] for name in methods}
        if len(distinct) > 1:
            listed = ", ".join(f"{name}: {count:,}" for name, count in methods.items())
            warnings.append(
                f"the records mix hashing methods ({listed}); Pinterest matches a list reliably only when every "
                "record uses the same method"
            )
        if report.rows_valid == 0:
            warnings.append(
                f"no valid {self.id_type.value} values were found: check --id-type and the column "
                f"({self.opened.info.column[:40]!r})"
            )
        if self.sample is not None:
            if self.stopped_at is not None:
                warnings.append(
                    f"sample of {self.sample:,}: reading stopped at row {self.stopped_at:,}; the counts cover "
                    "only the rows read"
                )
            else:
                warnings.append(f"sample of {self.sample:,}: the file holds only {records:,} distinct records")
        return warnings
