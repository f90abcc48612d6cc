"""Fixtures of the state store tests: a store of each backend, on a fake clock.

`make_store` and `backend` are parametrised over both backends ("embedded": a temporary directory,
"postgres": a fresh database on the session's real PostgreSQL server), so the contract tests run against
both with the same assertions. `Backend` answers, for either, what a test would otherwise read from the
storage directly (snapshot names, the current snapshot's files, the delta's rows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pinaudience.clock import FakeClock
from pinaudience.state import ListRef, StateBackend, StateStore, open_state

REF = ListRef("http://127.0.0.1:8710/v5", "549755885175", "2542620905475")

BACKENDS = ["embedded", "postgres"]


def sha(i: int | str) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


MakeStore = Callable[..., StateBackend]


class Backend:
    """One backend's state location, and what the tests read of its storage."""

    def __init__(self, name: str, location: str, directory: Path | None) -> None:
        self.name = name
        self.location = location
        self.directory = directory

    def sql(self, text: str) -> list[tuple[object, ...]]:
        """Run `text` on the backend's database (SQLite file or PostgreSQL), committed; its rows."""
        if self.directory is not None:
            import sqlite3

            with sqlite3.connect(self.directory / "state.sqlite3") as db:
                return list(db.execute(text).fetchall())
        import psycopg

        with psycopg.connect(self.location, autocommit=True) as conn:
            cursor = conn.execute(text.encode())
            return list(cursor.fetchall()) if cursor.description else []

    @property
    def lists_table(self) -> str:
        return "lists" if self.directory is not None else "pinaudience_lists"

    def snapshot_names(self) -> list[str]:
        """Every snapshot in the storage, current or not; an unfinished one ends in `.partial`."""
        if self.directory is not None:
            return sorted(p.name for p in (self.directory / "snapshots").glob("*/*"))
        named = {str(r[0]) for r in self.sql("SELECT DISTINCT snapshot FROM pinaudience_snapshot_files")}
        loose = {
            str(r[0]).split("/")[0] + ".partial"
            for r in self.sql(
                "SELECT blob FROM pinaudience_snapshot_blobs b WHERE NOT EXISTS "
                "(SELECT 1 FROM pinaudience_snapshot_files f WHERE f.list_id = b.list_id AND f.blob = b.blob)"
            )
        }
        return sorted(named | loose)

    def files(self) -> dict[str, object]:
        """The files of the only snapshot, by name, with what they are stored as (inode, or blob)."""
        if self.directory is not None:
            (folder,) = [p for p in (self.directory / "snapshots").glob("*/*") if p.is_dir()]
            return {p.name: p.stat().st_ino for p in folder.iterdir()}
        (snapshot,) = {str(r[0]) for r in self.sql("SELECT snapshot FROM pinaudience_snapshot_files")}
        rows = self.sql(f"SELECT name, blob FROM pinaudience_snapshot_files WHERE snapshot = '{snapshot}'")  # noqa: S608
        return {str(name): blob for name, blob in rows}

    def has_snapshot_files(self, list_id: int) -> bool:
        if self.directory is not None:
            folder = self.directory / "snapshots" / str(list_id)
            return folder.exists() and any(folder.iterdir())
        return bool(self.sql(f"SELECT 1 FROM pinaudience_snapshot_blobs WHERE list_id = {list_id:d}"))  # noqa: S608

    def delta_rows(self) -> int:
        (row,) = self.sql(f"SELECT snapshot_delta_rows FROM {self.lists_table}")  # noqa: S608
        return int(str(row[0]))

    def fresh(self, tmp_path: Path) -> tuple[str, ListRef]:
        """A location and a list of their own, for one example of a property test (tmp_path outlives them)."""
        import tempfile
        import uuid

        ref = ListRef(REF.api_base, REF.ad_account_id, uuid.uuid4().hex)
        if self.directory is None:
            return self.location, ref
        return tempfile.mkdtemp(dir=tmp_path), ref

    def damage_a_part(self) -> None:
        """Truncate the only base file of the only snapshot."""
        if self.directory is not None:
            (part,) = (self.directory / "snapshots").glob("*/*/part-*.parquet")
            part.write_bytes(part.read_bytes()[:100])
            return
        self.sql("UPDATE pinaudience_snapshot_blobs SET data = substring(data from 1 for 100)")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A new, empty state location of each backend."""
    if request.param == "postgres":
        return Backend("postgres", request.getfixturevalue("postgres_url"), None)
    return Backend("embedded", str(tmp_path / "state"), tmp_path / "state")


@pytest.fixture
def make_store(backend: Backend, tmp_path: Path) -> Iterator[MakeStore]:
    """Opens stores on one location (reopening is how a new run starts); all are closed at the end."""
    opened: list[StateBackend] = []

    def make(**options: object) -> StateBackend:
        options.setdefault("clock", FakeClock())
        options.setdefault("workdir", tmp_path / "work")
        store = open_state(backend.location, **options)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def make_embedded_store(tmp_path: Path) -> Iterator[Callable[..., StateStore]]:
    """Opens embedded stores on one directory, for the tests of what only a directory has."""
    opened: list[StateStore] = []

    def make(**options: object) -> StateStore:
        options.setdefault("clock", FakeClock())
        options.setdefault("workdir", tmp_path / "work")
        store = StateStore(tmp_path / "state", **options)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
