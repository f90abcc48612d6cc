"""What the first MiB of a CSV tells: its rows, its delimiter, whether it has a header, which column holds
the identifiers. `pinaudience.input.source` reads the file with what this finds.

Messages name columns and counts, never a value.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Final

from pinaudience.errors import InputError
from pinaudience.identifiers.types import TRIM_CHARS, IdType
from pinaudience.support.hexdigest import HEX_DIGEST

DELIMITERS: Final[tuple[str, ...]] = (",", ";", "\t", "|")
"""Candidate delimiters, in the order that breaks ties."""

SNIFF_ROWS: Final[int] = 500
SINGLE_COLUMN_SEPARATORS: Final[tuple[str, ...]] = ("\x1f", "\x1e", "\x1d", "\x1c", "\x01")
COLUMN_NAMES: Final[dict[IdType, tuple[str, ...]]] = {
    IdType.EMAIL: ("email", "e-mail", "email_address", "customer_id"),
    IdType.MAID: ("maid", "gaid", "aaid", "adid", "customer_id"),
    IdType.IDFA: ("idfa", "customer_id"),
}
"""Column names recognised for each kind of identifier, best first."""

KNOWN_COLUMNS: Final[tuple[str, ...]] = (
    "email",
    "e-mail",
    "email_address",
    "customer_id",
    "maid",
    "idfa",
    "gaid",
    "aaid",
    "adid",
)
"""Every recognised identifier column name (compared ignoring case and surrounding spaces)."""

LOOKS_LIKE_VALUE = re.compile(
    rf"[^@]*@.*|{HEX_DIGEST}|[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}",
    re.DOTALL,
)


def sample_rows(text: str, eol: str) -> list[str]:
    """The first records of the sample as raw text lines (quoted line breaks kept), blank lines skipped."""
    lines = text.split(eol)
    rows: list[str] = []
    pending: list[str] = []
    for line in lines:
        pending.append(line)
        joined = eol.join(pending)
        if joined.count('"') % 2 == 1:
            continue  # inside a quoted field that spans lines
        pending = []
        if joined.strip(TRIM_CHARS):
            rows.append(joined.rstrip("\r"))
        if len(rows) >= SNIFF_ROWS:
            break
    if pending and len(rows) < SNIFF_ROWS and eol.join(pending).strip(TRIM_CHARS):
        rows.append(eol.join(pending).rstrip("\r"))
    return rows


def split_row(row: str, delimiter: str | None) -> list[str]:
    try:
        fields = next(csv.reader([row], delimiter=delimiter or SINGLE_COLUMN_SEPARATORS[0], quotechar='"'), [""])
    except csv.Error:
        return [row]
    return fields if delimiter is not None else ["".join(fields)]


def detect_delimiter(rows: list[str]) -> tuple[str | None, int]:
    """The delimiter that splits the first row into several fields, and most rows into as many; else None."""
    best: tuple[float, int, str] | None = None
    for delimiter in DELIMITERS:
        widths = [len(split_row(row, delimiter)) for row in rows]
        if not widths or widths[0] < 2:
            continue
        agreement = sum(1 for width in widths if width == widths[0]) / len(widths)
        if agreement < 0.5:
            continue
        candidate = (agreement, widths[0], delimiter)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        return None, 1
    return best[2], best[1]


def looks_like_value(field: str) -> bool:
    """An email, a hex digest or a UUID: the first row is data, not a header."""
    return bool(LOOKS_LIKE_VALUE.fullmatch(field.strip(TRIM_CHARS).lower()))


def clean_name(name: str) -> str:
    return name.strip(TRIM_CHARS)


def positional_names_of(width: int) -> tuple[str, ...]:
    return tuple(f"column_{index + 1}" for index in range(width))


def unused_separator(text: str) -> str:
    for separator in SINGLE_COLUMN_SEPARATORS:
        if separator not in text:
            return separator
    return SINGLE_COLUMN_SEPARATORS[0]


def describe_columns(columns: tuple[str, ...]) -> str:
    shown = [repr(name[:40]) for name in columns[:20]]
    more = f" and {len(columns) - 20} more" if len(columns) > 20 else ""
    return ", ".join(shown) + more


def choose_column(
    path: Path, columns: tuple[str, ...], *, id_type: IdType, column: str | None, has_header: bool
) -> int:
    if column is not None:
        return named_column(path, columns, column, has_header=has_header)
    folded = [name.strip(TRIM_CHARS).lower() for name in columns]
    preferred = COLUMN_NAMES[id_type] + tuple(name for name in KNOWN_COLUMNS if name not in COLUMN_NAMES[id_type])
    if has_header:
        for name in preferred:
            matches = [index for index, candidate in enumerate(folded) if candidate == name]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InputError(
                    f"the input file {path} has {len(matches)} columns named {name!r}",
                    resolution="Choose one with --column.",
                )
    if len(columns) == 1:
        return 0
    if has_header:
        what = f"none of its columns ({describe_columns(columns)}) is named like an identifier column"
    else:
        what = f"it has no header row and {len(columns)} columns ({describe_columns(columns)})"
    raise InputError(
        f"cannot tell which column of {path} holds the identifiers: {what}",
        resolution=(
            "Choose the column with --column (a name, or a 1-based position); recognised names are "
            + ", ".join(KNOWN_COLUMNS)
            + "."
        ),
    )


def named_column(path: Path, columns: tuple[str, ...], column: str, *, has_header: bool) -> int:
    if column in columns:
        return columns.index(column)
    wanted = column.strip(TRIM_CHARS).lower()
    folded = [name.strip(TRIM_CHARS).lower() for name in columns]
    if folded.count(wanted) == 1:
        return folded.index(wanted)
    if wanted.isdigit() and 1 <= int(wanted) <= len(columns):
        return int(wanted) - 1
    header = "" if has_header else " (the file has no header row, so its columns are numbered)"
    raise InputError(
        f"column {column[:40]!r} not found in {path}{header}; its columns are: {describe_columns(columns)}",
        resolution="Pass one of these to --column, or a 1-based column position.",
    )
