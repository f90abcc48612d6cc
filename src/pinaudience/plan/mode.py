"""What a sync does with the file's records."""

from __future__ import annotations

import enum


class SyncMode(enum.StrEnum):
    """What a sync does with the file's records."""

    MIRROR = "mirror"
    """After the run the list holds exactly the file's valid records (Meiro's `replace`)."""
    ADD = "add"
    """Add the file's records; remove nothing."""
    REMOVE = "remove"
    """Remove the file's records; add nothing."""
