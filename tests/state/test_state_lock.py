"""The advisory lock: one holder at a time across processes, released on exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pinaudience.errors import StateLocked

from .conftest import Backend, MakeStore

HOLDER = textwrap.dedent(
    """
    import sys
    from pinaudience.state import open_state

    with open_state(sys.argv[1]) as store, store.lock(sys.argv[2]):
        print("locked", flush=True)
        sys.stdin.read()
    """
)


def test_a_second_process_cannot_take_a_held_lock(make_store: MakeStore, backend: Backend) -> None:
    """While another process holds "list:42", taking it fails with StateLocked; once it exits, it succeeds."""
    store = make_store()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, backend.location, "list:42"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StateLocked, match="list:42") as raised:
            store.lock("list:42")
        assert raised.value.kind == "state_locked"
        with store.lock("name:Newsletter") as other:
            assert other.held
    finally:
        holder.communicate(input="", timeout=60)
    with store.lock("list:42") as lock:
        assert lock.held
    assert not lock.held


def test_a_released_lock_can_be_taken_again(make_store: MakeStore) -> None:
    """Release, by hand or by leaving the block, frees the lock for the next holder."""
    store = make_store()
    first = store.lock("list:7")
    with pytest.raises(StateLocked):
        store.lock("list:7")
    first.release()
    with store.lock("list:7"):
        pass
    store.lock("list:7").release()
