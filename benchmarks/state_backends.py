"""The two state backends side by side: a mirror's state work at scale, embedded (a directory) and PostgreSQL.

    python benchmarks/state_backends.py                     # 20,000,000 records, 5% changed
    python benchmarks/state_backends.py --rows 1000000      # a quick look

For each backend, in one run, on the same generated records (SHA-256 of integers): the confirmed set is
journaled as acknowledged batches of 1,000,000 and compacted into the first snapshot, a mirror is planned
against a desired set in which `--changed` of each side changed (its adds and removes), those changes are
journaled in batches of 10,000 as a sync records them, and compacted again (into a delta beside the reused
base, the nightly case). The PostgreSQL server is started by the benchmark from the installed binaries
(benchmarks/pg_server.py), at PostgreSQL's default durability (`fsync = on`), on the same machine.

Each phase runs in a child process of its own and reports its time, CPU time and peak RSS (`ru_maxrss`);
for PostgreSQL the RSS is the pinaudience process's, not the server's (whose memory is its own
configuration: `shared_buffers` 128 MB by default). The ratios PostgreSQL / embedded are the figures to
read: the two run one after the other in the same run, under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from measure import machine
from pg_server import postgres_server
from pinaudience.config import SyncMode
from pinaudience.pinterest.limits import ListOperation
from pinaudience.plan.planner import plan
from pinaudience.records.recordset import KEY, KEY_BITS, RECORD, SPILL_PARTITION_BITS, RecordSet
from pinaudience.state import ListRef, open_state
from plan import sha256_records

REF = ListRef("https://api.pinterest.com/v5", "549755885175", "2542620905475")
BITS = SPILL_PARTITION_BITS
CHUNK = 5_000_000
LOAD_BATCH = 1_000_000
SYNC_BATCH = 10_000
BACKENDS = ("embedded", "postgresql")


def changed(rows: int) -> int:
    return int(rows * float(os.environ["STATE_BENCH_CHANGED"]))


def desired_files(root: Path) -> list[Path]:
    return [root / "desired" / f"part-{index:05d}.parquet" for index in range(1 << BITS)]


def generate(root: Path, rows: int, location: str) -> dict[str, Any]:
    """The desired set (records c·n .. (1+c)·n) as sorted Parquet partitions, as prepare leaves it."""
    chunks = root / "chunks"
    shift = KEY_BITS - BITS
    first = changed(rows)
    for number, lo in enumerate(range(first, first + rows, CHUNK)):
        frame = sha256_records(lo, min(lo + CHUNK, first + rows))
        parts = frame.with_columns((pl.col(KEY) // (1 << shift)).alias("_part"))
        for (part,), chunk in parts.partition_by("_part", as_dict=True, include_key=False).items():
            folder = chunks / f"{part:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            chunk.write_ipc(folder / f"{number:05d}.arrow", compression="uncompressed")
    for index, path in enumerate(desired_files(root)):
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = chunks / f"{index:05d}"
        frame = pl.concat([pl.read_ipc(p) for p in sorted(folder.glob("*.arrow"))]).sort([KEY, RECORD])
        frame.write_parquet(path, compression="lz4")
        shutil.rmtree(folder)
    return {}


def load(root: Path, rows: int, location: str) -> dict[str, Any]:
    """The confirmed set (records 0 .. n) journaled as acknowledged batches of a million."""
    with open_state(location, workdir=root / "work") as store:
        state = store.open_list(REF)
        for lo in range(0, rows, LOAD_BATCH):
            records = sha256_records(lo, min(lo + LOAD_BATCH, rows)).get_column(RECORD)
            state.acknowledge(state.begin(ListOperation.ADD, records))
    return {}


def compact(root: Path, rows: int, location: str) -> dict[str, Any]:
    with open_state(location, workdir=root / "work") as store:
        result = store.open_list(REF).compact()
    assert result.confirmed == rows, result
    return {}


def plan_phase(root: Path, rows: int, location: str) -> dict[str, Any]:
    desired = RecordSet(partition_files=desired_files(root), partition_bits=BITS, count=rows)
    with (
        open_state(location, workdir=root / "work") as store,
        store.open_list(REF).membership() as membership,
        plan(desired, membership.confirmed, membership.uncertain, SyncMode.MIRROR, workdir=root / "work") as p,
    ):
        assert (p.adds.count, p.removes.count, p.confirmed) == (changed(rows), changed(rows), rows), p
        return {"adds": p.adds.count, "removes": p.removes.count}


def journal(root: Path, rows: int, location: str) -> dict[str, Any]:
    """The plan's changes journaled as a sync records them: pending, then acknowledged, 10,000 at a time."""
    with open_state(location, workdir=root / "work") as store:
        state = store.open_list(REF)
        for operation, lo, hi in (
            (ListOperation.ADD, rows, rows + changed(rows)),
            (ListOperation.REMOVE, 0, changed(rows)),
        ):
            for start in range(lo, hi, SYNC_BATCH):
                records = sha256_records(start, min(start + SYNC_BATCH, hi)).get_column(RECORD)
                state.acknowledge(state.begin(operation, records))
    return {}


def recompact(root: Path, rows: int, location: str) -> dict[str, Any]:
    with open_state(location, workdir=root / "work") as store:
        result = store.open_list(REF).compact()
    assert result.confirmed == rows, result
    return {}


PHASES = {
    "generate": generate,
    "load": load,
    "compact": compact,
    "plan": plan_phase,
    "journal": journal,
    "recompact": recompact,
}
MEASURED = ("load", "compact", "plan", "journal", "recompact")


def run_phase(name: str, root: Path, rows: int, location: str) -> dict[str, Any]:
    """Run one phase in a fresh interpreter and return its figures (the location goes by environment, not argv)."""
    command = [sys.executable, __file__, "--phase", name, "--dir", str(root), "--rows", str(rows)]
    env = {**os.environ, "STATE_BENCH_LOCATION": location}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def child(name: str, root: Path, rows: int) -> None:
    start = time.perf_counter()
    extra = PHASES[name](root, rows, os.environ.get("STATE_BENCH_LOCATION", ""))
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }
    print(json.dumps({"phase": name, **figures, **extra}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000_000, help="desired records, and confirmed records")
    parser.add_argument("--changed", type=float, default=0.05, help="share of each side that changed (0.05)")
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["STATE_BENCH_CHANGED"] = os.environ.get("STATE_BENCH_CHANGED", str(args.changed))
    if args.phase:
        child(args.phase, args.dir, args.rows)
        return

    root = Path(tempfile.mkdtemp(prefix="pinaudience-bench-state-"))
    rows = args.rows
    print(f"state backends: {rows:,} confirmed records, a mirror with {args.changed:.0%} of each side changed")
    print(f"machine: {machine()}")
    try:
        run_phase("generate", root, rows, "")
        figures: dict[str, dict[str, dict[str, Any]]] = {}
        with postgres_server() as url:
            locations = {"embedded": str(root / "state"), "postgresql": url}
            for backend in BACKENDS:
                figures[backend] = {}
                for name in MEASURED:
                    figures[backend][name] = result = run_phase(name, root, rows, locations[backend])
                    print(
                        f"  {backend:<10} {name:<9} {result['seconds']:7.1f} s  (CPU {result['cpu_seconds']:6.1f} s)"
                        f"   peak RSS {result['peak_rss_mb']:7,.0f} MB   load {os.getloadavg()[0]:.1f}"
                    )
                shutil.rmtree(root / "work", ignore_errors=True)
        print("  PostgreSQL / embedded:")
        for name in MEASURED:
            ours, theirs = figures["embedded"][name], figures["postgresql"][name]
            print(
                f"    {name:<9} time x{theirs['seconds'] / ours['seconds']:.2f}   "
                f"peak RSS x{theirs['peak_rss_mb'] / ours['peak_rss_mb']:.2f}"
            )
        goal = ("compact", "plan", "recompact")
        ours_s = sum(figures["embedded"][n]["seconds"] for n in goal)
        theirs_s = sum(figures["postgresql"][n]["seconds"] for n in goal)
        ours_rss = max(figures["embedded"][n]["peak_rss_mb"] for n in goal)
        theirs_rss = max(figures["postgresql"][n]["peak_rss_mb"] for n in goal)
        print(
            f"  planning and compaction (compact + plan + recompact): embedded {ours_s:.1f} s, {ours_rss:,.0f} MB; "
            f"PostgreSQL {theirs_s:.1f} s, {theirs_rss:,.0f} MB: time x{theirs_s / ours_s:.2f} (goal <= 2), "
            f"peak RSS x{theirs_rss / ours_rss:.2f} (goal <= 1)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
