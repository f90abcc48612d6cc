"""The planner: adds and removes per mode equal the set formulas, whatever the inputs and however they are stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinaudience.config import SyncMode
from pinaudience.pinterest.limits import ListOperation
from pinaudience.plan.planner import fingerprint, plan, plan_partition, shared
from pinaudience.records.recordset import RecordSet, RecordSetBuilder
from pinaudience.state import ListRef, StateStore


def sha(i: int | str) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


# Records that share a fingerprint without being equal: a common 16-digit prefix, or digits that parse alike.
COLLIDING = ["0123456789abcdef" + sha(i)[16:] for i in range(4)] + ["f", "+f", "0f", "000f", "0123456789abcdef"]
pool = st.one_of(
    st.integers(0, 60).map(sha),
    st.integers(0, 20).map(lambda i: hashlib.md5(str(i).encode()).hexdigest()),
    st.sampled_from(COLLIDING),
    st.integers(0, 15).map(lambda i: f"user{i}@example.com"),
    st.text(min_size=1, max_size=6),
)
sets = st.frozensets(pool, max_size=40)


def reference(mode: SyncMode, full: bool, d: set[str], c: set[str], u: set[str]) -> tuple[set[str], set[str]]:
    """The issue's formulas on plain Python sets."""
    if mode is SyncMode.REMOVE:
        return set(), set(d)
    if mode is SyncMode.ADD:
        return (set(d) if full else (d - c) | (u & d)), set()
    return (d - c) | (u & d), (c - d) | (u - d)


def frame(records: set[str]) -> pl.DataFrame:
    return RecordSet.from_records(records).partition_frame(0, 0)


def ordered(records: set[str]) -> list[str]:
    return RecordSet.from_records(records).to_list()


modes = st.sampled_from(
    [(SyncMode.MIRROR, False), (SyncMode.ADD, False), (SyncMode.ADD, True), (SyncMode.REMOVE, False)]
)


@given(sets, sets, sets, modes)
@settings(max_examples=300, deadline=None)
def test_a_partition_plan_matches_the_set_formulas(
    d: frozenset[str], c: frozenset[str], u: frozenset[str], mode_full: tuple[SyncMode, bool]
) -> None:
    """Adds and removes of one partition are the reference sets, in (key, record) order, and never overlap."""
    mode, full = mode_full
    part = plan_partition(frame(set(d)), frame(set(c)), frame(set(u)), mode, full=full)
    adds, removes = reference(mode, full, set(d), set(c), set(u))
    assert part.adds.get_column("record").to_list() == ordered(adds)
    assert part.removes.get_column("record").to_list() == ordered(removes)
    assert not adds & removes
    if mode is SyncMode.MIRROR:
        assert part.unchanged == len(d & c - u)


@given(sets, sets)
@settings(max_examples=300, deadline=None)
def test_shared_membership_is_exact_despite_fingerprint_collisions(a: frozenset[str], b: frozenset[str]) -> None:
    """Which records each side shares with the other is exact, collisions or not."""
    left, right = frame(set(a)).get_column("record"), frame(set(b)).get_column("record")
    left_in, right_in = shared(left, right)
    assert left.filter(left_in).to_list() == ordered(set(a) & set(b))
    assert right.filter(right_in).to_list() == ordered(set(a) & set(b))


def test_fingerprints_collide_where_the_tests_expect() -> None:
    """The colliding corpus really collides, so the exact fallback is exercised."""
    prints = fingerprint(pl.Series(COLLIDING)).to_list()
    assert len(set(prints)) < len(COLLIDING)
    assert fingerprint(pl.Series([sha(1)])).item() == int(sha(1)[:16], 16)


@pytest.mark.parametrize(
    ("mode", "full"), [(SyncMode.MIRROR, False), (SyncMode.ADD, False), (SyncMode.ADD, True), (SyncMode.REMOVE, False)]
)
def test_spilled_inputs_and_outputs_give_the_same_plan(tmp_path: Path, mode: SyncMode, full: bool) -> None:
    """Planning spilled sets partition by partition, with spilled outputs, equals the in-memory reference."""
    d = {sha(i) for i in range(0, 3000)} | {f"user{i}@example.com" for i in range(50)}
    c = {sha(i) for i in range(1500, 4500)} | {f"user{i}@example.com" for i in range(25, 75)}
    u = {sha(i) for i in range(1400, 1600)} | {sha(i) for i in range(4400, 4600)} | {"user60@example.com"}

    def spilled(records: set[str]) -> RecordSet:
        builder = RecordSetBuilder(tmp_path / "spill", spill_rows=500)
        builder.add(pl.Series(sorted(records)))
        return builder.finish()

    with plan(spilled(d), spilled(c), spilled(u), mode, full=full, workdir=tmp_path / "plan", memory_rows=100) as p:
        adds, removes = reference(mode, full, d, c, u)
        assert p.adds.to_list() == ordered(adds)
        assert p.removes.to_list() == ordered(removes)
        assert (p.adds.count, p.removes.count, p.desired) == (len(adds), len(removes), len(d))
        assert p.partitions > 1
        if adds or removes:
            assert not (p.adds.in_memory and p.removes.in_memory)
        assert p.confirmed == (len(c) if mode is SyncMode.MIRROR or (mode is SyncMode.ADD and not full) else None)
    assert not any((tmp_path / "plan").iterdir())


def test_the_plan_reads_confirmed_and_uncertain_records_from_the_store(tmp_path: Path) -> None:
    """A mirror against the store's membership re-adds wanted uncertain records and removes the rest."""
    ref = ListRef("http://127.0.0.1:8710/v5", "1", "2")
    with StateStore(tmp_path / "state", snapshot_rows=100) as store:
        state = store.open_list(ref)
        state.acknowledge(state.begin(ListOperation.ADD, [sha(i) for i in range(400)]))
        state.compact()
        state.acknowledge(state.begin(ListOperation.REMOVE, [sha(i) for i in range(10)]))
        state.begin(ListOperation.ADD, [sha(i) for i in range(400, 420)])
        desired = {sha(i) for i in range(200, 410)}
        with (
            state.membership() as membership,
            plan(RecordSet.from_records(desired), membership.confirmed, membership.uncertain, SyncMode.MIRROR) as p,
        ):
            c = {sha(i) for i in range(10, 400)}
            u = {sha(i) for i in range(400, 420)}
            adds, removes = reference(SyncMode.MIRROR, False, desired, c, u)
            assert (p.adds.to_list(), p.removes.to_list()) == (ordered(adds), ordered(removes))
            assert (p.confirmed, p.uncertain, p.unchanged) == (390, 20, 200)


def test_mirror_and_add_refuse_to_plan_without_the_confirmed_set() -> None:
    """Only remove and add --full may plan without reading the state."""
    empty = RecordSet.empty()
    with pytest.raises(ValueError, match="needs the confirmed set"):
        plan(empty, None, empty, SyncMode.MIRROR)
    with plan(RecordSet.from_records([sha(1)]), None, empty, SyncMode.REMOVE) as p:
        assert (p.removes.to_list(), p.confirmed) == ([sha(1)], None)


def test_a_first_plan_hands_over_the_desired_set_without_copying_it(tmp_path: Path) -> None:
    """Nothing confirmed or uncertain: the adds are the desired set itself, and closing the plan keeps it open."""
    builder = RecordSetBuilder(tmp_path / "spill", spill_rows=100)
    builder.add(pl.Series([sha(i) for i in range(1000)]))
    desired = builder.finish()
    with plan(desired, RecordSet.empty(), RecordSet.empty(), SyncMode.MIRROR) as p:
        assert p.adds is desired
        assert (p.adds.count, p.removes.count, p.confirmed, p.unchanged) == (1000, 0, 0, 0)
    assert desired.to_list() == ordered({sha(i) for i in range(1000)})


def test_in_memory_outputs_do_not_hold_their_input_partitions() -> None:
    """A few adds kept in memory own their strings instead of sharing the buffers of whole desired partitions."""
    records = [sha(i) for i in range(20_000)]
    desired = RecordSet.from_records(records)
    confirmed = RecordSet.from_records(records[:19_990])
    with plan(desired, confirmed, RecordSet.empty(), SyncMode.MIRROR) as p:
        assert p.adds.in_memory
        assert p.adds.count == 10
        (frame,) = list(p.adds.iter_frames())
        assert frame.estimated_size() < desired.partition_frame(0, 0).estimated_size() / 100
