"""Which state backend a location names: a directory (the embedded store) or a PostgreSQL URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pinaudience.clock import Clock
from pinaudience.state.store import StateBackend, StateStore
from pinaudience.support.paths import is_postgres_url

__all__ = ["is_postgres_url", "open_state"]


def open_state(location: str | os.PathLike[str] | None, *, clock: Clock | None = None, **options: Any) -> StateBackend:
    """The state store at `location`: PostgreSQL for a `postgresql://` URL, else the embedded store in that
    directory (None: the user's state directory). `options` are the stores' own (`faults`, `spill_rows`,
    `snapshot_rows`, `workdir`, `delta_share`). Raises `StateError` if the state cannot be opened and written.
    """
    if is_postgres_url(location):
        from pinaudience.state.postgres import PostgresStateStore  # psycopg only when PostgreSQL is used

        return PostgresStateStore(str(location).strip(), clock=clock, **options)
    return StateStore(None if location is None else Path(location), clock=clock, **options)
