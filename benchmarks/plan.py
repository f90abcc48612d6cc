"""Mirror planning at scale: our planner against a DuckDB anti-join, on the same Parquet files, in one run.

    python benchmarks/plan.py                 # 20,000,000 desired against a 20,000,000-record snapshot
    python benchmarks/plan.py --rows 1000000  # a quick look
    python benchmarks/plan.py --rows 17700000 --changed 0.05 --skip-duckdb   # a nightly incremental mirror

Inputs are generated (vectorised, SHA-256 of integers) in a temporary directory and deleted afterwards:
the desired set is records cn .. (1+c)n and the confirmed set records 0 .. n, where c is `--changed`
(default 0.5, half of each side changed: cn adds, cn removes). The desired set is written as sorted
Parquet partitions (columns key, record); the confirmed set goes through the state store as it would in
a sync (acknowledged batches, then `compact()`), which leaves it as the store's Parquet snapshot.

Each measured phase runs in a child process of its own and reports its own time and peak RSS
(`ru_maxrss`), so generating the inputs never inflates a figure. The one-minute load average after
each phase is printed too: on a shared machine, compare the ratios, which are measured side by side.

- compact: the store folds an n-record journal into its first snapshot (once per sync, at the end);
- plan: `pinaudience.plan.planner.plan` in mirror mode, reading the snapshot through the store, writing adds
  and removes to spill files;
- duckdb: two anti-joins with `SET memory_limit='1GB'` and 2 threads on the same Parquet files (desired
  partitions and snapshot files), on the hash bytes, writing adds and removes (as hex) to Parquet;
- polars (with `--polars`): `join(how="anti")` both ways on everything in memory, the other anchor;
- recompact (with `--recompact`): the plan's adds and removes acknowledged as batches of 10,000, then the
  store's compaction of that journal over the snapshot (a nightly sync's finishing step).
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
import polars_hash as plh

from measure import machine
from pinaudience.config import SyncMode
from pinaudience.pinterest.limits import ListOperation
from pinaudience.plan.planner import plan
from pinaudience.records.recordset import KEY, KEY_BITS, RECORD, SPILL_PARTITION_BITS, RecordSet
from pinaudience.state import ListRef, StateStore

REF = ListRef("https://api.pinterest.com/v5", "549755885175", "2542620905475")
BITS = SPILL_PARTITION_BITS
CHUNK = 5_000_000
BATCH = 1_000_000


def sha256_records(lo: int, hi: int) -> pl.DataFrame:
    frame = pl.select(pl.int_range(lo, hi, dtype=pl.Int64).alias("i"))
    frame = frame.select(plh.col("i").cast(pl.String).chash.sha2_256().alias(RECORD))  # type: ignore[attr-defined]
    return frame.select(pl.col(RECORD).str.slice(0, 4).str.to_integer(base=16).cast(pl.UInt16).alias(KEY), RECORD)


def desired_files(root: Path) -> list[Path]:
    return [root / "desired" / f"part-{index:05d}.parquet" for index in range(1 << BITS)]


def snapshot_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "state" / "snapshots").glob("*/*/part-*.parquet") if ".partial" not in str(p))


def offset(rows: int) -> int:
    return int(rows * float(os.environ.get("PLAN_BENCH_CHANGED", "0.5")))


def generate(root: Path, rows: int) -> dict[str, Any]:
    """Desired Parquet partitions, and the confirmed records as acknowledged batches in a state store."""
    chunks = root / "chunks"
    shift = KEY_BITS - BITS
    first = offset(rows)
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
    with StateStore(root / "state") as store:
        state = store.open_list(REF)
        for lo in range(0, rows, BATCH):
            records = sha256_records(lo, min(lo + BATCH, rows)).get_column(RECORD)
            state.acknowledge(state.begin(ListOperation.ADD, records))
    return {}


def compact(root: Path, rows: int) -> dict[str, Any]:
    with StateStore(root / "state") as store:
        result = store.open_list(REF).compact()
    assert result.confirmed == rows, result
    return {"snapshot_bytes": sum(p.stat().st_size for p in snapshot_files(root))}


def plan_phase(root: Path, rows: int) -> dict[str, Any]:
    desired = RecordSet(partition_files=desired_files(root), partition_bits=BITS, count=rows)
    with (
        StateStore(root / "state") as store,
        store.open_list(REF).membership() as membership,
        plan(desired, membership.confirmed, membership.uncertain, SyncMode.MIRROR, workdir=root / "work") as p,
    ):
        assert (p.adds.count, p.removes.count, p.confirmed) == (offset(rows), offset(rows), rows), p
        return {"adds": p.adds.count, "removes": p.removes.count, "partitions": p.partitions}


def journal_phase(root: Path, rows: int) -> dict[str, Any]:
    """Acknowledge the plan's changes as a sync would, in batches of 10,000 (not measured as compaction)."""
    with StateStore(root / "state") as store:
        state = store.open_list(REF)
        for operation, lo, hi in (
            (ListOperation.ADD, rows, rows + offset(rows)),
            (ListOperation.REMOVE, 0, offset(rows)),
        ):
            for start in range(lo, hi, 10_000):
                records = sha256_records(start, min(start + 10_000, hi)).get_column(RECORD)
                state.acknowledge(state.begin(operation, records))
    return {}


def recompact(root: Path, rows: int) -> dict[str, Any]:
    def files() -> dict[int, int]:
        return {p.stat().st_ino: p.stat().st_size for p in (root / "state" / "snapshots").glob("*/*/*.parquet")}

    before = files()
    with StateStore(root / "state") as store:
        result = store.open_list(REF).compact()
    assert result.confirmed == rows, result
    return {"written_bytes": sum(size for inode, size in files().items() if inode not in before)}


def duckdb_phase(root: Path, rows: int) -> dict[str, Any]:
    import duckdb

    out = root / "duckdb"
    out.mkdir(exist_ok=True)
    db = duckdb.connect()
    db.execute("SET memory_limit = '1GB'")
    db.execute("SET threads = 2")
    db.execute(f"SET temp_directory = '{out / 'spill'}'")
    # Every path below is one this script generated under its own directory; nothing comes from outside.
    desired = [str(p) for p in desired_files(root)]
    snapshot = [str(p) for p in snapshot_files(root)]
    adds, removes = out / "adds.parquet", out / "removes.parquet"
    db.execute(f"CREATE VIEW d AS SELECT record, unhex(record) AS hash FROM read_parquet({desired!r})")  # noqa: S608
    db.execute(f"CREATE VIEW s AS SELECT hash FROM read_parquet({snapshot!r})")  # noqa: S608
    # Joining on the hash bytes measured about 20% faster than on hex text, so DuckDB gets that. It is
    # exact here because every generated record is a SHA-256; text records would need a second join.
    db.execute(f"COPY (SELECT d.record FROM d ANTI JOIN s ON d.hash = s.hash) TO '{adds}'")  # noqa: S608
    db.execute(f"COPY (SELECT lower(hex(s.hash)) AS record FROM s ANTI JOIN d ON s.hash = d.hash) TO '{removes}'")  # noqa: S608
    counts = db.execute(f"SELECT (SELECT count(*) FROM '{adds}'), (SELECT count(*) FROM '{removes}')").fetchone()  # noqa: S608
    assert counts == (offset(rows), offset(rows)), counts
    return {"adds": counts[0], "removes": counts[1]}


def polars_phase(root: Path, rows: int) -> dict[str, Any]:
    desired = pl.read_parquet(desired_files(root), columns=[RECORD])
    snapshot = pl.read_parquet(snapshot_files(root)).select(
        pl.coalesce(pl.col("hash").bin.encode("hex"), pl.col("text")).alias(RECORD)
    )
    adds = desired.join(snapshot, on=RECORD, how="anti")
    removes = snapshot.join(desired, on=RECORD, how="anti")
    assert (adds.height, removes.height) == (offset(rows), offset(rows))
    return {"adds": adds.height, "removes": removes.height}


PHASES = {
    "generate": generate,
    "compact": compact,
    "plan": plan_phase,
    "duckdb": duckdb_phase,
    "polars": polars_phase,
    "journal": journal_phase,
    "recompact": recompact,
}


def run_phase(name: str, root: Path, rows: int) -> dict[str, Any]:
    """Run one phase in a fresh interpreter and return its figures."""
    changed = os.environ["PLAN_BENCH_CHANGED"]
    command = [sys.executable, __file__, "--phase", name, "--dir", str(root), "--rows", str(rows), "--changed", changed]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def child(name: str, root: Path, rows: int) -> None:
    start = time.perf_counter()
    extra = PHASES[name](root, rows)
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
    parser.add_argument("--rows", type=int, default=20_000_000, help="desired records, and snapshot records")
    parser.add_argument("--dir", type=Path, help="work here instead of a new temporary directory (kept)")
    parser.add_argument("--polars", action="store_true", help="also time an in-memory Polars anti-join")
    parser.add_argument("--skip-duckdb", action="store_true")
    parser.add_argument("--changed", type=float, default=0.5, help="share of each side that changed (0.5)")
    parser.add_argument("--recompact", action="store_true", help="also fold the plan's changes into the snapshot")
    parser.add_argument("--only", help="run only these comma-separated phases (with --dir: on kept inputs)")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["PLAN_BENCH_CHANGED"] = str(args.changed)
    if args.phase:
        child(args.phase, args.dir, args.rows)
        return

    root = args.dir or Path(tempfile.mkdtemp(prefix="pinaudience-bench-plan-"))
    rows = args.rows
    print(f"mirror planning: {rows:,} desired against a {rows:,}-record snapshot, {args.changed:.0%} changed")
    print(f"machine: {machine()}")
    print(f"inputs in {root}")
    try:
        figures: dict[str, dict[str, Any]] = {}
        phases = ["generate", "compact", "plan"]
        if not args.skip_duckdb:
            phases.append("duckdb")
        if args.polars:
            phases.append("polars")
        if args.recompact:
            phases += ["journal", "recompact"]
        if args.only:
            phases = args.only.split(",")
        for name in phases:
            figures[name] = result = run_phase(name, root, rows)
            print(
                f"  {name:<9} {result['seconds']:7.1f} s  (CPU {result['cpu_seconds']:6.1f} s)"
                f"   peak RSS {result['peak_rss_mb']:7,.0f} MB   load {os.getloadavg()[0]:.1f}"
            )
        if "compact" in figures:
            print(f"  snapshot on disk: {figures['compact']['snapshot_bytes'] / 2**20:,.0f} MB")
        if "recompact" in figures:
            print(f"  recompaction wrote {figures['recompact']['written_bytes'] / 2**20:,.0f} MB of new files")
        ours = figures.get("plan", {"seconds": 1.0, "peak_rss_mb": 1.0})
        for anchor in ("duckdb", "polars"):
            if anchor in figures:
                other = figures[anchor]
                print(
                    f"  {anchor} / pinaudience: time x{other['seconds'] / ours['seconds']:.2f}, "
                    f"peak RSS x{other['peak_rss_mb'] / ours['peak_rss_mb']:.2f}"
                )
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
