"""Benchmark the command `pinaudience prepare FILE --json` beside a per-row loop, DuckDB and a floor, on one file.

    python benchmarks/prepare.py --rows 3000000                        # every mode, 3 interleaved rounds
    python benchmarks/prepare.py --rows 20000000 --repeat 2 --keep     # keep the file for later runs
    python benchmarks/prepare.py --input FILE --no-loop                # a file kept earlier, or any customer file

Generates N rows of realistic emails (vectorised with Polars, no Python loop): about 10% upper-case, 5%
padded with spaces or invisible characters, 3% invalid, 10% repeats of an earlier customer, 5% already
SHA-256-hashed and 0.5% with non-ASCII names. Then runs each mode as a whole process (start-up included),
so that its time, CPU and peak RSS (from `wait4`) are its own:

- `command`: `python -m pinaudience prepare FILE --json` (without `--out` it counts the records exactly);
- `duckdb`: `count(DISTINCT sha256(lower(trim(email))))` over `read_csv`, 2 threads;
- `floor`: Polars scan, polars-hash SHA-256 of the column, `n_unique`, nothing else;
- `loop`: the quickest honest per-row script (csv, strip, lower, one regex, hashlib, a set);
- `prepare-lib` (--library): the library call `prepare()`, which builds the record set;
- `reference` (--reference): the documented rules one row at a time (csv, `identifiers.reference`).

Rounds are interleaved (the order turned each round) and the ratios use medians; the load average is
printed before every run, since the machine may be shared (CPU time is the steadier figure then). The
file goes to a temporary directory, deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import polars_hash  # registers .chash; its version is printed

from measure import load, machine
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
    prepared.records.close()
    return {"rows": report.rows_read, "valid": report.rows_valid, "records": report.records}


def run_floor(path: Path) -> dict[str, int]:
    """Read the column, SHA-256 every value (polars-hash) and count the distinct digests: nothing else."""
    sha = pl.col("email").chash.sha2_256()  # type: ignore[attr-defined]
    counts = pl.scan_csv(path, infer_schema=False).select(pl.len().alias("rows"), sha.n_unique().alias("records"))
    rows, records = counts.collect(engine="streaming").row(0)
    return {"rows": rows, "valid": rows, "records": records}


def run_duckdb(path: Path) -> dict[str, int]:
    """DuckDB on two threads: `count(DISTINCT sha256(lower(trim(email))))`, the one-line SQL answer."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    query = (
        "SELECT count(*), count(DISTINCT sha256(lower(trim(email)))) "
        "FROM read_csv(?, header = true, columns = {'email': 'VARCHAR'}, quote = '\"')"
    )
    row = con.execute(query, [str(path)]).fetchone()
    assert row is not None
    return {"rows": int(row[0]), "valid": int(row[0]), "records": int(row[1])}


MODES = {"prepare-lib": run_prepare, "reference": reference, "loop": naive, "floor": run_floor, "duckdb": run_duckdb}


def child(mode: str, path: Path) -> None:
    counts = MODES[mode](path)
    print(json.dumps(counts))


def measure(mode: str, path: Path) -> dict[str, float]:
    """One whole process (start-up included): wall time, CPU and peak RSS from wait4, and the load before it."""
    load = os.getloadavg()[0]
    if mode == "command":
        argv = [sys.executable, "-m", "pinaudience", "prepare", str(path), "--json"]
    else:
        argv = [sys.executable, __file__, "--child", mode, str(path)]
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{mode} failed with exit code {process.returncode}")
    counts = json.loads(output) if mode == "command" else json.loads(output.strip().splitlines()[-1])
    if mode == "command":
        counts = {"rows": counts["rows_read"], "valid": counts["rows_valid"], "records": counts["records"]}
    return {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
        "load": load,
        **counts,
    }


def describe(mode: str, result: dict[str, float]) -> str:
    rate = result["rows"] / result["seconds"]
    return (
        f"{mode:12} {result['seconds']:6.2f} s ({result['cpu']:6.2f} s CPU)  {rate / 1e6:5.2f} M rows/s  "
        f"peak RSS {result['peak_mib']:6,.0f} MiB  load {result['load']:4.1f}  records {result['records']:,.0f}"
    )


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
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of every mode (medians compared)")
    parser.add_argument("--no-loop", action="store_true", help="skip the per-row loop (slow at 20M rows and up)")
    parser.add_argument("--reference", action="store_true", help="also run the documented rules row by row (slow)")
    parser.add_argument("--library", action="store_true", help="also time the library call `prepare()` (records)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return

    print(f"{machine()}, polars-hash {polars_hash.__version__}")
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
        modes = ["command", "duckdb", "floor"]
        if args.library:
            modes.append("prepare-lib")
        if not args.no_loop:
            modes.append("loop")
        if args.reference:
            modes.append("reference")
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        for round_ in range(args.repeat):
            # Interleaved, and the order turned each round, so that a burst of load on a shared machine
            # does not fall on one mode only.
            for mode in modes[round_ % len(modes) :] + modes[: round_ % len(modes)]:
                runs[mode].append(measure(mode, path))
                print(describe(mode, runs[mode][-1]), flush=True)
        results = {mode: median(mode_runs) for mode, mode_runs in runs.items()}
        print(f"medians of {args.repeat} (load now {load()}):")
        for mode in modes:
            print("  " + describe(mode, results[mode]))
        command = results["command"]
        for mode in modes[1:]:
            other = results[mode]
            print(
                f"command vs {mode}: {other['seconds'] / command['seconds']:.2f}x as fast "
                f"({other['cpu'] / command['cpu']:.2f}x the CPU of {mode}), "
                f"peak RSS {command['peak_mib'] / other['peak_mib']:.2f}x"
            )
        if "loop" in results:
            same = "the same" if results["loop"]["records"] == command["records"] else "differ: one regex is looser"
            print(f"records: command {command['records']:,.0f}, loop {results['loop']['records']:,.0f} ({same})")
    finally:
        if workdir is not None:
            if args.keep:
                print(f"kept {path}")
            else:
                path.unlink(missing_ok=True)
                workdir.rmdir()


if __name__ == "__main__":
    main()
