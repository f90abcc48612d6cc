"""Compaction by delta: the base files are reused, only what changed is written, and membership is unchanged."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pinaudience.pinterest.limits import ListOperation
from pinaudience.records.recordset import RecordSet
from pinaudience.state import SCHEMA_VERSION, ListState, StateStore, encoding, open_state
from pinaudience.state.compaction import choose_layout, fold_partition
from pinaudience.state.snapshot import ADD

from .conftest import REF, Backend, MakeStore, sha

SNAPSHOT_ROWS = 200


def confirmed_of(state: ListState) -> list[str]:
    with state.membership() as membership:
        return membership.confirmed.to_list()


def ordered(records: set[str]) -> list[str]:
    return RecordSet.from_records(records).to_list()


def test_a_small_journal_is_folded_into_a_delta_beside_the_same_base_files(
    make_store: MakeStore, backend: Backend
) -> None:
    """A few changes on a large snapshot reuse every base file (same inode, or same blob) and write only delta files."""
    state = make_store(snapshot_rows=SNAPSHOT_ROWS).open_list(REF)
    members = {sha(i) for i in range(1000)} | {"plain@example.com"}
    state.acknowledge(state.begin(ListOperation.ADD, sorted(members)))
    state.compact()
    base = backend.files()
    assert base
    assert all(name.startswith("part-") for name in base)
    state.acknowledge(state.begin(ListOperation.REMOVE, [sha(i) for i in range(0, 100, 2)] + ["plain@example.com"]))
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(1000, 1030)] + ["new@example.com"]))
    result = state.compact()
    members -= {sha(i) for i in range(0, 100, 2)} | {"plain@example.com"}
    members |= {sha(i) for i in range(1000, 1030)} | {"new@example.com"}
    after = backend.files()
    assert {name: inode for name, inode in after.items() if name.startswith("part-")} == base
    assert sorted(name for name in after if name.startswith("delta-")) == sorted(
        n.replace("part", "delta") for n in base
    )
    assert backend.delta_rows() == 50 + 1 + 30 + 1
    assert result.confirmed == len(members) == state.info().snapshot_count
    assert confirmed_of(state) == ordered(members)


def test_deltas_are_folded_into_a_new_base_past_their_share(make_store: MakeStore, backend: Backend) -> None:
    """A delta that would pass the share of the membership becomes a new base with no delta files."""
    state = make_store(snapshot_rows=SNAPSHOT_ROWS, delta_share=0.1).open_list(REF)
    members = {sha(i) for i in range(1000)}
    state.acknowledge(state.begin(ListOperation.ADD, sorted(members)))
    state.compact()
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(1000, 1060)]))
    state.compact()
    assert backend.delta_rows() == 60
    state.acknowledge(state.begin(ListOperation.REMOVE, [sha(i) for i in range(60)]))
    state.compact()
    assert backend.delta_rows() == 0
    assert not any(name.startswith("delta-") for name in backend.files())
    assert confirmed_of(state) == ordered({sha(i) for i in range(60, 1060)})


def test_a_change_undone_leaves_nothing_in_the_delta(make_store: MakeStore, backend: Backend) -> None:
    """A record added then removed again, or removed then added back, is no longer a difference from the base."""
    state = make_store(snapshot_rows=SNAPSHOT_ROWS).open_list(REF)
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(1000)]))
    state.compact()
    state.acknowledge(state.begin(ListOperation.ADD, [sha(5000), "x@example.com"]))
    state.acknowledge(state.begin(ListOperation.REMOVE, [sha(1), sha(2)]))
    state.compact()
    assert backend.delta_rows() == 4
    state.acknowledge(state.begin(ListOperation.REMOVE, [sha(5000), "x@example.com"]))
    state.acknowledge(state.begin(ListOperation.ADD, [sha(1), sha(2)]))
    assert state.compact().confirmed == 1000
    assert backend.delta_rows() == 0
    assert confirmed_of(state) == ordered({sha(i) for i in range(1000)})


def test_fold_partition_keeps_only_differences_from_the_base() -> None:
    """Per partition: the journal wins over the old delta, and rows equal to the base drop out of the new delta."""

    def rows(records: list[str], add: bool | None = None) -> pl.DataFrame:
        frame = encoding.encode_records(records)
        return frame if add is None else frame.with_columns(pl.lit(add).alias(ADD))

    base = rows([sha(1), sha(2), "a@example.com"])
    old = encoding.merge_encoded(rows([sha(3)], True), rows([sha(2)], False))
    effect = encoding.merge_encoded(rows([sha(3), "a@example.com"], False), rows([sha(2), "b@example.com"], True))
    delta, count = fold_partition(base, old, effect)
    assert encoding.decode(delta).get_column("record").to_list() == ordered({"a@example.com", "b@example.com"})
    assert delta.get_column(ADD).to_list() == [
        record == "b@example.com" for record in ordered({"a@example.com", "b@example.com"})
    ]
    assert count == 3  # sha(1), sha(2), b@example.com


def test_the_layout_is_a_delta_only_on_a_base_of_the_right_split() -> None:
    """No base, a split that no longer fits, or too large a delta: a new base; otherwise a delta."""
    common: dict[str, Any] = {"rows_per_file": 100, "delta_share": 0.25}
    assert choose_layout(has_base=False, base_bits=0, confirmed=0, delta_rows=0, acknowledged_rows=50, **common).full
    assert not choose_layout(
        has_base=True, base_bits=6, confirmed=1000, delta_rows=100, acknowledged_rows=100, **common
    ).full
    assert choose_layout(
        has_base=True, base_bits=6, confirmed=1000, delta_rows=200, acknowledged_rows=100, **common
    ).full
    assert choose_layout(has_base=True, base_bits=0, confirmed=1000, delta_rows=0, acknowledged_rows=20, **common).full
    layout = choose_layout(has_base=True, base_bits=0, confirmed=90, delta_rows=0, acknowledged_rows=2, **common)
    assert (layout.full, layout.bits) == (False, 0)


def test_a_version_2_store_opens_with_its_snapshot_and_no_delta(
    make_embedded_store: Callable[..., StateStore], tmp_path: Path
) -> None:
    """A store written at schema version 2 is migrated: its snapshot reads the same and then compacts by delta."""
    make_store = make_embedded_store
    backend = Backend("embedded", str(tmp_path / "state"), tmp_path / "state")
    state = make_store(snapshot_rows=SNAPSHOT_ROWS).open_list(REF)
    state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(1000)]))
    state.compact()
    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as db:
        db.execute("ALTER TABLE lists DROP COLUMN snapshot_delta_rows")
        db.execute("DROP TABLE event_acks")
        db.execute("PRAGMA user_version = 2")
    state = make_store(snapshot_rows=SNAPSHOT_ROWS).open_list(REF)
    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert confirmed_of(state) == ordered({sha(i) for i in range(1000)})
    state.acknowledge(state.begin(ListOperation.REMOVE, [sha(0)]))
    assert state.compact().confirmed == 999
    assert backend.delta_rows() == 1


journals = st.lists(
    st.tuples(
        st.sampled_from(["ADD", "REMOVE"]),
        st.lists(st.integers(0, 60), min_size=1, max_size=15),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


@given(journals)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_delta_compactions_agree_with_a_model(
    backend: Backend, tmp_path: Path, steps: list[tuple[str, list[int], bool]]
) -> None:
    """Any sequence of acknowledged batches and compactions, folded into deltas, gives the model's membership."""
    location, ref = backend.fresh(tmp_path)
    confirmed = {sha(i) for i in range(0, 60, 3)}
    with open_state(location, snapshot_rows=8, delta_share=10.0) as store:
        state = store.open_list(ref)
        state.acknowledge(state.begin(ListOperation.ADD, sorted(confirmed)))
        state.compact()
        for operation, ids, compact in steps:
            records = [sha(i) if i % 7 else f"user{i}@example.com" for i in ids]
            state.acknowledge(state.begin(ListOperation(operation), records))
            if operation == "ADD":
                confirmed.update(records)
            else:
                confirmed.difference_update(records)
            if compact:
                assert state.compact().confirmed == len(confirmed)
            assert confirmed_of(state) == ordered(confirmed)
        assert state.compact().confirmed == len(confirmed) == state.info().snapshot_count
        assert confirmed_of(state) == ordered(confirmed)
