"""Fixtures of the state store tests: a store in a temporary directory, on a fake clock."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pinaudience.clock import FakeClock
from pinaudience.state import ListRef, StateStore

REF = ListRef("http://127.0.0.1:8710/v5", "549755885175", "2542620905475")


def sha(i: int | str) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


MakeStore = Callable[..., StateStore]


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[MakeStore]:
    """Opens stores on one directory (reopening is how a new run starts); all are closed at the end."""
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
