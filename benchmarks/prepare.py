"""Benchmark `pinaudience.input.prepare` against naive per-row loops (csv + re + hashlib), on one generated file.

    python benchmarks/prepare.py                             # 5,000,000 rows
    python benchmarks/prepare.py --repeat 5 --keep           # prepare and floor five times each, keep the file
    python benchmarks/prepare.py --input FILE --no-naive     # a file kept earlier, or any customer file
    python benchmarks/prepare.py --rows 20000000 --no-naive  # the peak-RSS figure of docs/benchmarks.md

Generates N rows of realistic emails (vectorised with Polars, no Python loop): about 10% upper-case, 5%
padded with spaces or invisible characters, 3% invalid, 10% repeats of an earlier customer, 5% already
SHA-256-hashed and 0.5% with non-ASCII names. Then runs, each in a fresh child process so that its peak
RSS is its own:

- `prepare`: read, normalise, validate, hash, dedupe into a RecordSet;
- `reference`: the same rules one row at a time (csv, then pinaudience.identifiers.reference: re, hashlib);
- `naive`: the quickest honest per-row script (csv, strip, lower, one regex, hashlib, a set);
- `floor`: read the column and SHA-256 every value, nothing else (what bounds prepare).

Prints wall and CPU time, rows/s, peak RSS and the ratios, and the load average before each run (the
machine may be shared: CPU time is the steadier figure then). With --repeat N, prepare and floor run N
times, alternating, and the ratios use their medians. The file goes to a temporary directory, deleted
afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import polars_hash  # registers .chash; its version is printed

from measure import cpu_seconds, peak_rss_mib
from pinaudience import HashAlgorithm, IdType, prepare
from pinaudience.identifiers import TRIM_CHARS
from pinaudience.identifiers.reference import prepare_value

FIRST = ["jan", "petr", "eva", "anna", "tomas", "lucie", "martin", "jana", "john", "mary", "lee", "olga"]
LAST = ["novak", "svoboda", "dvorak", "cerna", "smith", "jones", "brown", "kowalski", "muller", "garcia"]
DOMAINS = ["gmail.com", "seznam.cz", "email.cz", "centrum.cz", "yahoo.com", "outlook.com", "icloud.com", "firma.co.uk"]
INVALID = ["", "n/a", "{name} at {domain}", "{name}@@{domain}", "{name}@", "@{domain}"]


def generate(rows: int, path: Path) -> None:
    """Write `rows` emails to a one-column CSV; every choice is a hash of the row number (reproducible).

    A lazy query sunk to CSV, so Polars' streaming engine builds the rows on every core in bounded memory.
    """

    def pick(values: list[str], index: pl.Expr) -> pl.Expr:
        chosen = pl.lit(values[0])
        for position, value in enumerate(values[1:], start=1):
            chosen = pl.when(index == position).then(pl.lit(value)).otherwise(chosen)
        return chosen

    def share(seed: int, percent: float) -> pl.Expr:
        return (row.hash(seed) % 10_000) < int(percent * 100)

    row = pl.col("row")
    customer = pl.when(share(1, 10)).then(row.hash(2) % rows).otherwise(row)
    number = customer.cast(pl.String)
    name = pick(FIRST, customer.hash(3) % len(FIRST)) + "." + pick(LAST, customer.hash(4) % len(LAST)) + number
    name = pl.when(share(5, 0.5)).then("jürgen.dvořák" + number).otherwise(name)
    domain = pick(DOMAINS, customer.hash(6) % len(DOMAINS))
    email = name + "@" + domain
    invalid = pick(INVALID, row.hash(7) % len(INVALID)).str.replace("{name}", name, literal=True)
    invalid = invalid.str.replace("{domain}", domain, literal=True)
    value = (
        pl.when(share(8, 3))
        .then(invalid)
        .when(share(9, 5))
        .then(email.chash.sha2_256())  # type: ignore[attr-defined]
        .when(share(10, 10))
        .then(email.str.to_uppercase())
        .when(share(11, 5))
        .then("  " + email + "\u00a0\u200b")
        .otherwise(email)
    )
    frame = pl.LazyFrame({"row": pl.int_range(rows, dtype=pl.UInt64, eager=True)})
    frame.select(email=value).sink_csv(path)


def naive(path: Path) -> dict[str, int]:
    """What a careful per-row script does: csv, strip, lower, a regex or two, hashlib, a set."""
    email = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
    hexed = re.compile(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}")
    seen: set[str] = set()
    rows = valid = 0
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for fields in reader:
            rows += 1
            value = fields[0].strip(TRIM_CHARS).lower() if fields else ""
            if hexed.fullmatch(value):
                record = value
            elif email.fullmatch(value):
                record = hashlib.sha256(value.encode()).hexdigest()
            else:
                continue
            valid += 1
            seen.add(record)
    return {"rows": rows, "valid": valid, "records": len(seen)}


def reference(path: Path) -> dict[str, int]:
    """The documented rules one row at a time: csv, then `pinaudience.identifiers.reference` (re, hashlib)."""
    seen: set[str] = set()
    rows = valid = 0
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for fields in reader:
            rows += 1
            record = prepare_value(fields[0] if fields else None, IdType.EMAIL, HashAlgorithm.SHA256).record
            if record is not None:
                valid += 1
                seen.add(record)
    return {"rows": rows, "valid": valid, "records": len(seen)}


def run_prepare(path: Path) -> dict[str, int]:
    prepared = prepare(path)
    report = prepared.report
    return {"rows": report.rows_read, "valid": report.rows_valid, "records": report.records}


def run_floor(path: Path) -> dict[str, int]:
    rows = 0
    query = pl.scan_csv(path, infer_schema=False).select(pl.col("email").chash.sha2_256())  # type: ignore[attr-defined]
    for batch in query.collect_batches():
        rows += batch.height
    return {"rows": rows, "valid": rows, "records": 0}


MODES = {"prepare": run_prepare, "reference": reference, "naive": naive, "floor": run_floor}


def child(mode: str, path: Path) -> None:
    start, cpu_start = time.perf_counter(), cpu_seconds()
    counts = MODES[mode](path)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mib": peak_rss_mib(), **counts}))


def measure(mode: str, path: Path) -> dict[str, float]:
    load = os.getloadavg()[0]
    output = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    result["load"] = load
    return result


def describe(mode: str, result: dict[str, float]) -> str:
    rate = result["rows"] / result["seconds"]
    line = (
        f"{mode:9} {result['seconds']:6.2f} s ({result['cpu']:6.2f} s CPU)  {rate / 1e6:5.2f} M rows/s  "
        f"peak RSS {result['peak_mib']:6,.0f} MiB  load {result['load']:4.1f}"
    )
    if not mode.startswith("floor"):
        line += f"  valid {result['valid']:,.0f}  records {result['records']:,.0f}"
    return line


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write the generated file (default: a temp dir)"
    )
    parser.add_argument("--input", type=Path, default=None, help="time this file instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument("--repeat", type=int, default=1, help="runs of prepare and floor (medians are compared)")
    parser.add_argument("--no-naive", action="store_true", help="skip the per-row loops (slow at 20M rows)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Polars {pl.__version__}, polars-hash {polars_hash.__version__}"
    )
    workdir: Path | None = None
    if args.input is not None:
        path = args.input
        print(f"input {path} ({path.stat().st_size / 2**20:,.0f} MiB)")
    else:
        workdir = Path(tempfile.mkdtemp(prefix="pinaudience-bench-", dir=args.dir))
        path = workdir / "customers.csv"
    try:
        if workdir is not None:
            start = time.perf_counter()
            generate(args.rows, path)
            print(
                f"generated {args.rows:,} rows ({path.stat().st_size / 2**20:,.0f} MiB) in "
                f"{time.perf_counter() - start:.1f} s"
            )
        runs: dict[str, list[dict[str, float]]] = {"floor": [], "prepare": []}
        for _ in range(args.repeat):
            for mode in runs:
                runs[mode].append(measure(mode, path))
                print(describe(mode, runs[mode][-1]), flush=True)
        if not args.no_naive:
            for mode in ("reference", "naive"):
                runs[mode] = [measure(mode, path)]
                print(describe(mode, runs[mode][-1]), flush=True)
        results = {mode: median(mode_runs) for mode, mode_runs in runs.items()}
        if args.repeat > 1:
            for mode in ("floor", "prepare"):
                print(describe(f"{mode}~", results[mode]) + "  (medians)")
        fast = results["prepare"]
        floor = results["floor"]
        print(
            f"prepare vs floor (read + SHA-256 only): {fast['seconds'] / floor['seconds']:.2f}x the time, "
            f"{fast['cpu'] / floor['cpu']:.2f}x the CPU"
        )
        for mode in ("reference", "naive"):
            if mode not in results:
                continue
            slow = results[mode]
            same = (slow["valid"], slow["records"]) == (fast["valid"], fast["records"])
            print(
                f"prepare vs {mode}: {slow['seconds'] / fast['seconds']:.1f}x faster "
                f"({slow['cpu'] / fast['cpu']:.1f}x less CPU); same valid rows and records: {'yes' if same else 'NO'}"
            )
    finally:
        if workdir is not None:
            if args.keep:
                print(f"kept {path}")
            else:
                path.unlink(missing_ok=True)
                workdir.rmdir()


if __name__ == "__main__":
    main()
