"""Guards around reading a customer file: a line too long to be a row, and a file that changes while it is read.

Polars parses a CSV line by line and holds a whole line in memory to do it, so a file without line
breaks (a binary dump, a single 2 GB line, an export with line endings of another kind) would be read
whole, many times its size in memory. `guarded` refuses such a file before Polars reads anything: it
checks on disk that no line is longer than `MAX_LINE_BYTES`, reading only the end of each window of
that size back to its last line break, so even a large file costs a handful of small reads.

A file that changes while it is read (an export still being written, a file replaced half-way) gives
records that are neither the old file nor the new one, and a mirror of them would remove members who
are still in the segment. So the file's identity (device, inode, size, modification time) is taken
before the first batch and compared after the last: any difference is an `InputError`, and nothing is
sent.

Both apply to what `pinaudience.input.prepare` reads; the line check to CSV files (Parquet has no lines). A
gzip-compressed CSV is decompressed once more to check it, in 1 MiB pieces: about 1 second per GiB of
text, a few percent of reading it, and it stops at the first line that is too long.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final, TypeVar

from pinaudience.errors import InputError
from pinaudience.input.source import Source

T = TypeVar("T")

MAX_LINE_BYTES: Final[int] = 16 << 20
"""The longest line accepted, 16 MiB: far beyond any customer row, small enough to parse in bounded memory."""

_BLOCK_BYTES: Final[int] = 64 << 10
_GZIP_PIECE_BYTES: Final[int] = 1 << 20

_Identity = tuple[int, int, int, int]


def guarded(source: Source, batches: Iterator[T], *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[T]:
    """`batches` of `source`, after checking its line lengths, and checking when done that it did not change.

    Raises `InputError` for a line longer than `max_line_bytes` (before the first batch is read) and for a
    file that changed (size, modification time, or replaced) between `open_source` and the last batch.
    A consumer that stops early (a sample) skips the final check: it has not read the whole file anyway.
    """
    info = source.info
    before = _identity(info.path)
    if before[2] != info.size_bytes:
        raise _changed(info.path)
    if info.format == "csv":
        eol = source.eol.encode()
        if info.compression is None:
            offset = first_long_line(info.path, eol, max_line_bytes)
        else:
            offset = first_long_line_gzip(info.path, eol, max_line_bytes)
        if offset is not None:
            where = "byte" if info.compression is None else "byte of its decompressed text"
            raise InputError(
                f"the input file {info.path} has a line longer than {max_line_bytes >> 20} MiB (starting at {where} "
                f"{offset:,}), which cannot be a customer row",
                resolution=(
                    "Check that the file is a CSV export with one customer per line: a binary file, or one whose "
                    "line breaks are missing, cannot be read."
                ),
            )
    yield from batches
    if _identity(info.path) != before:
        raise _changed(info.path)


def first_long_line(path: Path, eol: bytes, limit: int) -> int | None:
    """The byte offset where a line longer than `limit` bytes starts, or None when every line is shorter.

    Each step looks at the window of `limit + 1` bytes after the current line start and finds its last
    line break, reading backwards from the window's end: no break means a line longer than `limit`;
    otherwise every line inside the window is short enough, and the next step starts after that break.
    A file of ordinary lines therefore costs one small read per `limit` bytes.
    """
    if len(eol) != 1:
        raise ValueError("the line break must be one byte")
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            start = 0
            while size - start > limit:
                cut = _last_break(handle, start, start + limit + 1, eol)
                if cut is None:
                    return start
                start = cut + 1
    except OSError as exc:
        raise InputError(f"the input file {path} could not be read ({exc.strerror})") from None
    return None


def first_long_line_gzip(path: Path, eol: bytes, limit: int) -> int | None:
    """`first_long_line` for a gzip-compressed file: the offset in its decompressed text, or None."""
    if len(eol) != 1:
        raise ValueError("the line break must be one byte")
    piece = min(_GZIP_PIECE_BYTES, limit)  # a line inside one piece is never longer than the limit
    position = 0
    line_start = 0
    try:
        with gzip.open(path, "rb") as text:
            while chunk := text.read(piece):
                first = chunk.find(eol)
                if first < 0:
                    position += len(chunk)
                    if position - line_start > limit:
                        return line_start
                    continue
                if position + first - line_start > limit:
                    return line_start
                line_start = position + chunk.rfind(eol) + 1
                position += len(chunk)
    except (OSError, EOFError, zlib.error):
        raise InputError(
            f"the input file {path} is gzip-compressed but corrupt or truncated",
            resolution="Export the file again, or check it with `gzip -t`.",
        ) from None
    return None


def _last_break(handle: BinaryIO, low: int, high: int, eol: bytes) -> int | None:
    """Offset of the last `eol` in [low, high), reading blocks backwards from `high`."""
    while high > low:
        block_low = max(low, high - _BLOCK_BYTES)
        handle.seek(block_low)
        block = handle.read(high - block_low)
        found = block.rfind(eol)
        if found >= 0:
            return block_low + found
        high = block_low
    return None


def _identity(path: Path) -> _Identity:
    try:
        st = path.stat()
    except OSError:
        raise _changed(path) from None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _changed(path: Path) -> InputError:
    return InputError(
        f"the input file {path} changed while it was read (its size, modification time or identity changed)",
        resolution=(
            "Run again once the export has finished writing the file; an export that writes to a temporary "
            "name and renames it when complete avoids this."
        ),
    )
