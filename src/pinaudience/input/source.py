"""Reading customer files: CSV (any of four delimiters, gzip too) or Parquet, header or none, one column.

`open_source` looks at the start of the file (the first MiB of text) to learn its format, compression,
encoding, delimiter, whether the first row is a header, and which column holds the identifiers; it refuses
what it cannot read with an `InputError`. `Source.scan` then gives a lazy, streaming Polars query over that
one column, so a file of any size is read in bounded memory.

Opening a CSV needs no Polars (only a Parquet file's schema does): Polars loads when the file is scanned, so
a command reads and checks the head of its input before it waits for Polars to load (docs/benchmarks.md,
"Start-up").

Messages never quote the file's values: Polars' own parse errors do, so they are replaced by ours.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pinaudience.errors import InputError
from pinaudience.identifiers.types import TRIM_CHARS, IdType
from pinaudience.input.sniff import (
    choose_column,
    clean_name,
    detect_delimiter,
    looks_like_value,
    positional_names_of,
    sample_rows,
    split_row,
    unused_separator,
)

if TYPE_CHECKING:
    import polars as pl

VALUE: Final[str] = "value"
"""The column `Source.scan` yields the raw identifiers in."""

ROW: Final[str] = "row"
"""The column `Source.scan` numbers the data rows in: 1 is the first row after the header, if any."""

SNIFF_BYTES: Final[int] = 1 << 20

_FOREIGN_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"PK\x03\x04", "a ZIP archive (or an Excel workbook); unzip it or export the sheet as CSV"),
    (b"\x28\xb5\x2f\xfd", "compressed with zstd; only gzip is read, so decompress it first"),
    (b"BZh", "compressed with bzip2; only gzip is read, so decompress it first"),
    (b"\xfd7zXZ\x00", "compressed with xz; only gzip is read, so decompress it first"),
    (b"\xff\xfe", "UTF-16 text; save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text; save it as UTF-8"),
)
_PARQUET_MAGIC: Final[bytes] = b"PAR1"
_GZIP_MAGIC: Final[bytes] = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What `open_source` learned about a file: enough to explain to a user how it was read."""

    path: Path
    format: str
    """`csv` or `parquet`."""
    compression: str | None
    """`gzip` or None."""
    delimiter: str | None
    """The CSV delimiter, or None for Parquet and for a CSV with a single column."""
    has_header: bool
    columns: tuple[str, ...]
    """Column names; a CSV without a header has `column_1`, `column_2`, ..."""
    column: str
    """The column the identifiers are read from."""
    size_bytes: int
    """Size of the file on disk."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "compression": self.compression,
            "delimiter": self.delimiter,
            "has_header": self.has_header,
            "columns": list(self.columns),
            "column": self.column,
            "size_bytes": self.size_bytes,
        }


@dataclass(frozen=True, slots=True)
class Source:
    """A readable customer file and how to read it."""

    info: SourceInfo
    column_index: int
    separator: str
    """What Polars splits on (a control character for a single-column CSV)."""
    eol: str
    disk_bytes_per_row: float | None
    """Estimated bytes of the file on disk per data row, for progress; None when unknown."""
    total_rows: int | None
    """Data rows, when the format records it (Parquet)."""

    @property
    def optimizations(self) -> pl.QueryOptFlags:
        """Query flags for `scan`: a delimited CSV parses every column, so that a row with a stray delimiter
        (more fields than the header) is an error rather than silently read by position."""
        import polars as pl

        if self.info.format == "csv" and self.info.delimiter is not None:
            return pl.QueryOptFlags(projection_pushdown=False)
        return pl.QueryOptFlags()

    def scan(self) -> pl.LazyFrame:
        """A lazy query yielding `row` (1-based data row number) and `value` (the raw string, null if absent)."""
        import polars as pl

        if self.info.format == "parquet":
            frame = pl.scan_parquet(self.info.path).select(pl.col(self.info.column).cast(pl.String).alias(VALUE))
        else:
            frame = pl.scan_csv(
                self.info.path,
                has_header=self.info.has_header,
                separator=self.separator,
                quote_char='"',
                eol_char=self.eol,
                infer_schema=False,
                encoding="utf8",
                with_column_names=_positional_names,
                truncate_ragged_lines=False,
                raise_if_empty=False,
            ).select(pl.col(f"c{self.column_index}").alias(VALUE))
        return frame.with_row_index(ROW, offset=1)

    def scan_table(self) -> pl.LazyFrame:
        """A lazy query of every column under its name (CSV cells as text, Parquet columns as typed), for a file of
        many columns such as an events file (`open_table`)."""
        import polars as pl

        if self.info.format == "parquet":
            return pl.scan_parquet(self.info.path)
        names = list(self.info.columns)
        return pl.scan_csv(
            self.info.path,
            has_header=self.info.has_header,
            separator=self.separator,
            quote_char='"',
            eol_char=self.eol,
            infer_schema=False,
            encoding="utf8",
            with_column_names=lambda found: names if len(found) == len(names) else found,
            truncate_ragged_lines=False,
            raise_if_empty=False,
        )


def _positional_names(names: list[str]) -> list[str]:
    return [f"c{index}" for index in range(len(names))]


def open_table(path: Path | str) -> Source:
    """Inspect a file of named columns (an events file: CSV with a header, or Parquet) to read whole with
    `Source.scan_table`; `InputError` when it cannot be read or has no header row."""
    source = open_source(path, table=True)
    if not source.info.has_header:
        raise InputError(
            f"the input file {source.info.path} has no header row",
            resolution="An events file names its columns in its first row (email, event_time, event_name, ...).",
        )
    return source


def open_source(
    path: Path | str, *, id_type: IdType = IdType.EMAIL, column: str | None = None, table: bool = False
) -> Source:
    """Inspect a customer file and decide how to read it; `InputError` when it cannot be read. With `table`, no
    identifier column is chosen (the first stands in): the caller reads every column (`Source.scan_table`)."""
    path = Path(path)
    size = _check_readable(path)
    with _open_binary(path) as raw:
        magic = raw.read(8)
    if size == 0 or not magic:
        raise InputError(f"the input file {path} is empty")
    if magic.startswith(_PARQUET_MAGIC):
        return _open_parquet(path, size, id_type=id_type, column=column, table=table)
    if path.suffix.lower() == ".parquet":
        raise InputError(f"the input file {path} is named .parquet but is not a Parquet file")
    if magic.startswith(_GZIP_MAGIC):
        head, disk_per_text_byte = _gzip_head(path)
        compression: str | None = "gzip"
        if head.startswith(_PARQUET_MAGIC):
            raise InputError(
                f"the input file {path} is a gzip-compressed Parquet file, which cannot be streamed",
                resolution="Decompress it (gunzip) and run again; Parquet is compressed inside already.",
            )
    else:
        with _open_binary(path) as raw:
            head = raw.read(SNIFF_BYTES)
        disk_per_text_byte = 1.0
        compression = None
    return _open_csv(path, size, head, compression, disk_per_text_byte, id_type=id_type, column=column, table=table)


def _check_readable(path: Path) -> int:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise InputError(f"the input file {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"the input file {path} cannot be read ({exc.strerror})") from None
    if path.is_dir():
        raise InputError(f"the input path {path} is a directory, not a file")
    return stat.st_size


def _open_binary(path: Path) -> io.BufferedReader:
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"the input file {path} cannot be read ({exc.strerror})") from None


def _gzip_head(path: Path) -> tuple[bytes, float]:
    """The first `SNIFF_BYTES` of the decompressed text, and on-disk bytes per text byte so far."""
    with _open_binary(path) as raw:
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                head = unzipped.read(SNIFF_BYTES)
        except (OSError, EOFError, zlib.error):
            raise InputError(
                f"the input file {path} is gzip-compressed but corrupt or truncated",
                resolution="Export the file again, or check it with `gzip -t`.",
            ) from None
        consumed = raw.tell()
    if not head:
        raise InputError(f"the input file {path} is empty (a gzip file holding no data)")
    return head, consumed / len(head)


def _reject_foreign(path: Path, head: bytes) -> None:
    for magic, what in _FOREIGN_MAGIC:
        if head.startswith(magic):
            raise InputError(f"the input file {path} is {what}")
    if b"\x00" in head:
        if _looks_utf16(head):
            raise InputError(
                f"the input file {path} looks like UTF-16 text without a byte order mark",
                resolution="Save it as UTF-8 (or export the segment as UTF-8 CSV) and run again.",
            )
        raise InputError(
            f"the input file {path} looks binary (it contains NUL bytes), not CSV text or Parquet",
            resolution="Export the segment as CSV (UTF-8) or Parquet and run again.",
        )


def _looks_utf16(head: bytes) -> bool:
    """ASCII text in UTF-16 has a NUL in every other byte: most bytes at one parity are NUL, few at the other."""
    sample = head[: 4096 - 4096 % 2]
    if len(sample) < 16:
        return False
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    return max(even, odd) > 0.9 * half and min(even, odd) < 0.1 * half


def _decode_head(path: Path, head: bytes, *, truncated: bool) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        return decoder.decode(head, final=not truncated)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the input file {path} is not UTF-8 text (the first invalid byte is at offset {exc.start})",
            resolution="Save or export the file as UTF-8 (another encoding, such as Windows-1252, cannot be read).",
        ) from None


def _open_csv(
    path: Path,
    size: int,
    head: bytes,
    compression: str | None,
    disk_per_text_byte: float,
    *,
    id_type: IdType,
    column: str | None,
    table: bool = False,
) -> Source:
    _reject_foreign(path, head)
    truncated = len(head) >= SNIFF_BYTES
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    text = _decode_head(path, head, truncated=truncated)
    if not text.strip(TRIM_CHARS):
        raise InputError(f"the input file {path} is empty (it holds only whitespace)")
    eol = "\n" if "\n" in text or "\r" not in text else "\r"
    if truncated:
        # Sniff complete lines only; a first line longer than the sample is sniffed as it is.
        cut = text.rfind(eol)
        text = text[: cut + 1] if cut > 0 else text
    rows = sample_rows(text, eol)
    delimiter, width = detect_delimiter(rows)
    first = split_row(rows[0], delimiter) if rows else [""]
    has_header = not any(looks_like_value(field) for field in first)
    columns = tuple(clean_name(name) for name in first) if has_header else positional_names_of(width)
    if len(columns) != width:
        columns = positional_names_of(width)
    index = 0 if table else choose_column(path, columns, id_type=id_type, column=column, has_header=has_header)
    separator = delimiter if delimiter is not None else unused_separator(text)
    data_rows = len(rows) - (1 if has_header else 0)
    # The sampled rows only (the text may hold many more lines than were sampled), each with its line end.
    line_end = len(eol) + (1 if "\r\n" in text else 0)
    sample_bytes = sum(len(row.encode("utf-8")) + line_end for row in rows[1 if has_header else 0 :])
    per_row = (sample_bytes / data_rows) * disk_per_text_byte if data_rows > 0 and sample_bytes > 0 else None
    info = SourceInfo(
        path=path,
        format="csv",
        compression=compression,
        delimiter=delimiter,
        has_header=has_header,
        columns=columns,
        column=columns[index],
        size_bytes=size,
    )
    return Source(
        info=info,
        column_index=index,
        separator=separator,
        eol=eol,
        disk_bytes_per_row=per_row,
        total_rows=None,
    )


def _open_parquet(path: Path, size: int, *, id_type: IdType, column: str | None, table: bool = False) -> Source:
    import polars as pl

    try:
        schema = pl.read_parquet_schema(path)
        total_rows = int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError):
        raise InputError(f"the input file {path} is not a readable Parquet file (it may be truncated)") from None
    columns = tuple(schema)
    if not columns:
        raise InputError(f"the Parquet file {path} has no columns")
    index = 0 if table else choose_column(path, columns, id_type=id_type, column=column, has_header=True)
    dtype = schema[columns[index]]
    if not table and not (
        isinstance(dtype, (pl.String, pl.Categorical, pl.Enum, pl.Binary, pl.Null)) or dtype.is_integer()
    ):
        raise InputError(
            f"column {columns[index][:40]!r} of {path} holds {dtype} values, not text",
            resolution="Choose a text column with --column.",
        )
    info = SourceInfo(
        path=path,
        format="parquet",
        compression=None,
        delimiter=None,
        has_header=True,
        columns=columns,
        column=columns[index],
        size_bytes=size,
    )
    return Source(
        info=info,
        column_index=index,
        separator=",",
        eol="\n",
        disk_bytes_per_row=size / total_rows if total_rows else None,
        total_rows=total_rows,
    )


def read_error(exc: BaseException, info: SourceInfo) -> InputError:
    """Our message for an error Polars raised while reading `info`; Polars' own text may quote values."""
    # Polars' byte offsets are relative to the chunk it was parsing, so no position is given.
    text = str(exc)
    path = info.path
    if "utf-8" in text.lower() or "utf8" in text.lower():
        return InputError(
            f"the input file {path} is not valid UTF-8 text",
            resolution="Save or export the file as UTF-8 (another encoding, such as Windows-1252, cannot be read).",
        )
    if "properly escaped" in text or "quote" in text.lower():
        return InputError(
            f"the input file {path} has a quoted field that is never closed",
            resolution='Check the file\'s quoting: a field that starts with " must end with ".',
        )
    if "more fields" in text or "ragged" in text:
        return InputError(
            f"some rows of {path} have more fields than its first row",
            resolution="Quote fields that contain the delimiter, or choose a delimiter that no value contains.",
        )
    if "decompress" in text.lower() or "gzip" in text.lower() or "deflate" in text.lower():
        return InputError(
            f"the input file {path} could not be decompressed (it may be truncated or corrupt)",
            resolution="Export the file again, or check it with `gzip -t`.",
        )
    return InputError(
        f"the input file {path} could not be read as {info.format.upper()} ({type(exc).__name__})",
    )
