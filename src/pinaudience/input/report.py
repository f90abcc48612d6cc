"""What a prepare reports: its progress as it reads, and its counts.

Kept out of `pinaudience.input.prepare` (which loads Polars) so that the engine's reports and events, and the
progress display, load without Polars.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class PrepareProgress:
    """How far `prepare` has read, sent to its `progress` callback after every batch."""

    rows_read: int
    bytes_read: int
    """Bytes of the file on disk read so far: estimated from the mean row size, exact at the end."""
    total_bytes: int | None
    """Size of the file on disk, when known."""


@dataclass(slots=True)
class PrepareReport:
    """The counts of one `prepare`: JSON-serialisable, and free of any value from the file."""

    rows_read: int = 0
    """Data rows read (the header is not a data row)."""
    rows_valid: int = 0
    rows_invalid: int = 0
    invalid_by_reason: dict[str, int] = field(default_factory=dict)
    """Invalid rows per reason (`pinaudience.identifiers.Reason` values), reasons that occurred only."""
    duplicates: int = 0
    """Valid rows whose record repeated an earlier one."""
    prehashed_by_algorithm: dict[str, int] = field(default_factory=dict)
    """Valid rows that were already hashed, per algorithm (md5, sha1, sha256), passed through lower-cased."""
    hashed: int = 0
    """Valid rows hashed here."""
    records: int = 0
    """Distinct records out."""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
