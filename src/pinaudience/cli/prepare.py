"""`pinaudience prepare`: turn a customer file into the records Pinterest will receive, and show the counts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pinaudience.cli.app import app
from pinaudience.cli.output import print_json, stderr_console, stdout_console
from pinaudience.errors import ConfigError
from pinaudience.identifiers.types import HashAlgorithm, IdType

if TYPE_CHECKING:  # Polars loads when the command runs, not for `--help` or the other commands
    from pinaudience.input.prepare import Counted, Prepared

_OUT_SUFFIXES = (".csv", ".parquet")
_ALLOCATOR_ENV = "_RJEM_MALLOC_CONF"
_ALLOCATOR_CONF = "narenas:1"


@app.command("prepare")
def prepare_command(
    input_file: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="The customer file: CSV (comma, semicolon, tab or pipe; gzip too) or Parquet.",
            show_default=False,
        ),
    ],
    id_type: Annotated[
        IdType, typer.Option("--id-type", help="What the column holds.", case_sensitive=False)
    ] = IdType.EMAIL,
    column: Annotated[
        str | None,
        typer.Option(
            "--column",
            help="The identifier column, by name or 1-based position (default: a known name, else the only column).",
            show_default=False,
        ),
    ] = None,
    hash_algorithm: Annotated[
        HashAlgorithm,
        typer.Option(
            "--hash",
            help="How plain values are hashed; `none` sends emails as lower-cased text (device ids are hashed anyway).",
            case_sensitive=False,
        ),
    ] = HashAlgorithm.SHA256,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the records: .csv (one column, header `record`, as Ads Manager accepts) or .parquet.",
            show_default=False,
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            help="Write `row,reason` for every invalid row (data rows from 1; never the values).",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
) -> None:
    """Normalise, validate, hash and dedupe the identifiers of INPUT, and report the counts.

    Example: pinaudience prepare customers.csv --out records.csv --rejects rejects.csv
    """
    if out is not None and out.suffix.lower() not in _OUT_SUFFIXES:
        raise ConfigError(
            f"--out must name a .csv or .parquet file, got {out.name!r}",
            resolution="Give --out a file name ending in .csv or .parquet.",
        )
    # Polars' allocator (jemalloc) reads its options when Polars first allocates, which is after this line
    # in the CLI (a Parquet input's schema is its first read). One arena for every thread lets memory freed by
    # one thread serve another's next batch: about a quarter fewer page faults at 20 M rows, the same peak
    # (docs/benchmarks.md). A value the user set is kept.
    os.environ.setdefault(_ALLOCATOR_ENV, _ALLOCATOR_CONF)

    from pinaudience.input.source import open_source

    # The file's head is read and checked (format, delimiter, header, column) before Polars loads: a file that
    # cannot be read says so without waiting for it.
    source = open_source(input_file, id_type=id_type, column=column)
    from pinaudience.input.prepare import prepare, prepare_counts

    prepared: Prepared | Counted
    if out is None:
        # Only the counts are shown: they are counted exactly without building the record set.
        prepared = prepare_counts(source, id_type=id_type, column=column, hash=hash_algorithm, rejects=rejects)
    else:
        prepared = prepare(source, id_type=id_type, column=column, hash=hash_algorithm, rejects=rejects)
        try:
            _write(prepared, out)
        finally:
            prepared.records.close()
    if json_output:
        print_json(prepared.report.to_dict())
    else:
        _render(prepared, out=out, rejects=rejects)


def _write(prepared: Prepared, out: Path) -> None:
    try:
        prepared.records.write(out)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the output file {out} ({exc.strerror})",
            resolution="Choose a writable path for --out.",
        ) from None
    if out.suffix.lower() == ".csv":
        risky = sum(int(series.str.contains(r"^[=+\-@]").sum()) for series in prepared.records.iter_partitions())
        if risky:
            # The records must stay exactly as Pinterest expects them, so they are not altered: say it instead.
            prepared.report.warnings.append(
                f"{risky} plain-text records in {out.name} start with =, +, - or @, which a spreadsheet may run "
                "as a formula: open the file as text, or upload it without opening it in a spreadsheet"
            )


def _render(prepared: Prepared | Counted, *, out: Path | None, rejects: Path | None) -> None:
    report = prepared.report
    source = prepared.source
    console = stdout_console()
    read_as = [source.format + (f" ({source.compression})" if source.compression else "")]
    if source.delimiter is not None:
        read_as.append(f"delimiter {source.delimiter!r}")
    read_as.append("header row" if source.has_header else "no header row")
    read_as.append(f"column {source.column!r}")

    table = Table(title=f"pinaudience prepare: {source.path.name}", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("read as", ", ".join(read_as))
    table.add_row("rows read", f"{report.rows_read:,}")
    table.add_row("valid", f"{report.rows_valid:,}")
    table.add_row("invalid", f"{report.rows_invalid:,}")
    for reason, count in report.invalid_by_reason.items():
        table.add_row(f"  {reason}", f"{count:,}")
    for algorithm, count in report.prehashed_by_algorithm.items():
        if count:
            table.add_row(f"pre-hashed {algorithm}", f"{count:,}")
    table.add_row("hashed here", f"{report.hashed:,}")
    table.add_row("duplicates", f"{report.duplicates:,}")
    table.add_row("records", f"{report.records:,}", style="bold")
    if out is not None:
        table.add_row("written to", str(out))
    if rejects is not None:
        table.add_row("rejects", str(rejects))
    console.print(table)
    warn = stderr_console()
    for warning in report.warnings:
        warn.print(f"[bold yellow]warning[/]: {warning}", markup=True, highlight=False)
