"""A crash at any step of compaction, in-process or a real kill, leaves the same confirmed and uncertain sets."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap

import pytest

from pinaudience.errors import StateError
from pinaudience.pinterest.limits import ListOperation
from pinaudience.state import ListState, StateBackend

from .conftest import REF, Backend, MakeStore, sha

COMPACTION_STEPS = ["compact.partition_written", "compact.files_written", "compact.switched", "compact.cleaned"]
SNAPSHOT_ROWS = 200
"""Small, so that these snapshots are split into several files and a crash can fall between two of them."""


class SimulatedCrash(BaseException):
    """Raised from a fault hook: like a kill, no `except Exception` in the store may swallow it."""


def membership(state: ListState) -> tuple[list[str], list[str]]:
    with state.membership() as m:
        return m.confirmed.to_list(), m.uncertain.to_list()


def prepare(store: StateBackend) -> tuple[list[str], list[str]]:
    """A compacted snapshot, then acknowledged and pending batches on top; returns the membership."""
    state = store.open_list(REF)
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(600)] + ["plain@example.com"]))
    state.compact()
    state.acknowledge(state.begin(ListOperation.REMOVE, [sha(i) for i in range(0, 600, 4)]))
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(600, 700)]))
    state.begin(ListOperation.ADD, [sha(i) for i in range(700, 720)])
    state.begin(ListOperation.REMOVE, [sha(i) for i in range(1, 40, 4)] + ["plain@example.com"])
    expected = membership(state)
    assert len(expected[0]) > SNAPSHOT_ROWS
    assert len(expected[1]) == 31
    return expected


def prepare_delta(store: StateBackend) -> tuple[list[str], list[str]]:
    """A compacted snapshot, then a journal small enough to be folded into a delta beside its base files."""
    state = store.open_list(REF)
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(1000)] + ["plain@example.com"]))
    state.compact()
    state.acknowledge(state.begin(ListOperation.REMOVE, [sha(i) for i in range(0, 100, 4)] + ["plain@example.com"]))
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(1000, 1050)]))
    state.begin(ListOperation.ADD, [sha(i) for i in range(1050, 1060)])
    state.begin(ListOperation.REMOVE, [sha(i) for i in range(1, 40, 4)])
    expected = membership(state)
    assert len(expected[1]) == 20
    return expected


def assert_recovers(make_store: MakeStore, backend: Backend, expected: tuple[list[str], list[str]]) -> None:
    """The next run sees the same membership, compacts, and is left with a single snapshot."""
    state = make_store(snapshot_rows=SNAPSHOT_ROWS).open_list(REF)
    assert membership(state) == expected
    state.compact()
    assert membership(state) == expected
    assert len(backend.snapshot_names()) == 1
    assert not any(name.endswith(".partial") for name in backend.snapshot_names())


@pytest.mark.parametrize("step", COMPACTION_STEPS)
def test_a_crash_during_compaction_loses_nothing(make_store: MakeStore, backend: Backend, step: str) -> None:
    """Crashing at a step of compaction changes neither what is confirmed nor what is uncertain."""
    armed = {"on": False}

    def faults(name: str) -> None:
        if armed["on"] and name == step:
            raise SimulatedCrash(name)

    store = make_store(snapshot_rows=SNAPSHOT_ROWS, faults=faults)
    expected = prepare(store)
    armed["on"] = True
    with pytest.raises(SimulatedCrash):
        store.open_list(REF).compact()
    store.close()
    assert_recovers(make_store, backend, expected)


def test_a_full_disk_during_compaction_is_a_state_error_and_loses_nothing(
    make_store: MakeStore, backend: Backend
) -> None:
    """Running out of space while writing a snapshot raises StateError; the old snapshot and journal stand."""
    armed = {"on": False, "seen": 0}

    def faults(name: str) -> None:
        if armed["on"] and name == "compact.partition_written":
            armed["seen"] += 1
            if armed["seen"] == 3:
                raise OSError(errno.ENOSPC, "No space left on device")

    store = make_store(snapshot_rows=SNAPSHOT_ROWS, faults=faults)
    expected = prepare(store)
    armed["on"] = True
    with pytest.raises(StateError, match="no space left"):
        store.open_list(REF).compact()
    assert membership(store.open_list(REF)) == expected
    store.close()
    assert_recovers(make_store, backend, expected)


@pytest.mark.parametrize("step", COMPACTION_STEPS)
def test_a_crash_during_a_delta_compaction_loses_nothing(make_store: MakeStore, backend: Backend, step: str) -> None:
    """Crashing at a step of a compaction into a delta changes neither what is confirmed nor what is uncertain."""
    armed = {"on": False}

    def faults(name: str) -> None:
        if armed["on"] and name == step:
            raise SimulatedCrash(name)

    store = make_store(snapshot_rows=SNAPSHOT_ROWS, faults=faults)
    expected = prepare_delta(store)
    armed["on"] = True
    with pytest.raises(SimulatedCrash):
        store.open_list(REF).compact()
    store.close()
    assert_recovers(make_store, backend, expected)
    # The recovered state still reads its base and delta after a reopen.
    assert membership(make_store(snapshot_rows=SNAPSHOT_ROWS).open_list(REF)) == expected


CHILD = textwrap.dedent(
    """
    import os, sys
    from pinaudience.pinterest.limits import ListOperation
    from pinaudience.state import ListRef, open_state

    step = sys.argv[2]

    def faults(name):
        if name == step:
            os._exit(137)

    store = open_state(sys.argv[1], faults=faults, snapshot_rows=int(sys.argv[3]))
    store.open_list(ListRef(*sys.argv[4:7])).compact()
    sys.exit(0)
    """
)


@pytest.mark.parametrize("step", COMPACTION_STEPS)
def test_a_killed_compaction_loses_nothing(make_store: MakeStore, backend: Backend, step: str) -> None:
    """A process that dies at a step of compaction, with no cleanup at all, leaves a state the next run reads."""
    store = make_store(snapshot_rows=SNAPSHOT_ROWS)
    expected = prepare(store)
    store.close()
    args = [backend.location, step, str(SNAPSHOT_ROWS), REF.api_base, REF.ad_account_id, REF.customer_list_id]
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 137, done.stderr
    assert_recovers(make_store, backend, expected)


def test_a_crash_while_recording_a_batch_leaves_no_half_batch(make_store: MakeStore) -> None:
    """A crash inside the PENDING write either records the whole batch or nothing of it."""

    def faults(name: str) -> None:
        if name == "batch.begin":
            raise SimulatedCrash(name)

    store = make_store(faults=faults)
    with pytest.raises(SimulatedCrash):
        store.open_list(REF).begin(ListOperation.ADD, [sha(1), sha(2)])
    store.close()
    state = make_store().open_list(REF)
    assert state.pending() == []
    assert membership(state) == ([], [])


@pytest.mark.parametrize("step", COMPACTION_STEPS)
def test_a_killed_delta_compaction_loses_nothing(make_store: MakeStore, backend: Backend, step: str) -> None:
    """A process that dies at a step of a compaction into a delta leaves a state the next run reads."""
    store = make_store(snapshot_rows=SNAPSHOT_ROWS)
    expected = prepare_delta(store)
    store.close()
    args = [backend.location, step, str(SNAPSHOT_ROWS), REF.api_base, REF.ad_account_id, REF.customer_list_id]
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 137, done.stderr
    assert_recovers(make_store, backend, expected)
