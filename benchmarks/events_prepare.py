"""Benchmark preparing conversion events (`prepare_events`, vectorised) beside a per-row loop of the same rules.

    python benchmarks/events_prepare.py --rows 5000000             # both modes, 1 round
    python benchmarks/events_prepare.py --rows 1000000 --repeat 3  # interleaved rounds, medians compared
    python benchmarks/events_prepare.py --input FILE --keep         # a file kept earlier

Generates N events (vectorised with Polars, no Python loop) into a temporary directory, as the CSV a CDP would
export: email, phone, first and last name, zip and event_time. About 10% of emails are upper-case, 5% padded with
spaces or invisible characters, 5% two addresses in one cell (`a;b`), 5% already SHA-256-hashed (upper-case hex)
and 3% invalid, 0.5% of addresses are not ASCII; names keep their diacritics (Tomáš, Müller); phones come in
four international spellings with 3% invalid; 2% of
zips have letters (refused); 1% of times are in milliseconds (rejected). Then runs each mode as a whole process
(start-up and reading the file included), so that its time, CPU and peak RSS (from `wait4`) are its own:

- `vectorised`: `pl.read_csv` of the file, then `pinaudience.conversions.prepare_events`;
- `loop`: `csv.DictReader`, then `pinaudience.conversions.reference.prepare_event` for each row (the same rules,
  one row at a time, with hashlib): what a careful per-row script does.

Both print their counts and a digest of every event id in row order, which must be equal: the two did the same
work. The load average is printed before every run, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import polars_hash  # noqa: F401 - registers .chash

from measure import load, machine
from pinaudience.conversions import EventOptions, prepare_events, resolve_columns
from pinaudience.conversions.reference import prepare_event

NOW = 1_764_990_000
"""The clock every run is given, so that the generated times fall in the seven-day window on any day."""
OPTIONS = EventOptions(event_name="checkout", action_source="web")
FIRST = ["jan", "Petr", "EVA", "anna", "Tomáš", "lucie", "martin", "jana", "John", "mary", "lee", "olga"]
LAST = ["Novák", "svoboda", "DVOŘÁK", "cerna", "Smith", "jones", "brown", "kowalski", "Müller", "garcia"]
FIRST_ASCII = ["jan", "petr", "eva", "anna", "tomas", "lucie", "martin", "jana", "john", "mary", "lee", "olga"]
LAST_ASCII = ["novak", "svoboda", "dvorak", "cerna", "smith", "jones", "brown", "kowalski", "muller", "garcia"]
DOMAINS = ["gmail.com", "seznam.cz", "email.cz", "centrum.cz", "yahoo.com", "outlook.com", "icloud.com", "firma.co.uk"]


def generate(rows: int, path: Path) -> None:
    """Write `rows` events to a CSV; every choice is a hash of the row number (reproducible)."""

    def pick(values: list[str], index: pl.Expr) -> pl.Expr:
        chosen = pl.lit(values[0])
        for position, value in enumerate(values[1:], start=1):
            chosen = pl.when(index == position).then(pl.lit(value)).otherwise(chosen)
        return chosen

    def share(seed: int, percent: float) -> pl.Expr:
        return (row.hash(seed) % 10_000) < int(percent * 100)

    row = pl.col("row")
    number = row.cast(pl.String)
    first = pick(FIRST, row.hash(3) % len(FIRST))
    last = pick(LAST, row.hash(4) % len(LAST))
    # Names keep their diacritics, as a CDP holds them; mailboxes are ASCII but for 0.5% (internationalised).
    local = pick(FIRST_ASCII, row.hash(3) % len(FIRST)) + "." + pick(LAST_ASCII, row.hash(4) % len(LAST)) + number
    local = pl.when(share(5, 0.5)).then("jürgen." + number).otherwise(local)
    email = local + "@" + pick(DOMAINS, row.hash(6) % len(DOMAINS))
    email = (
        pl.when(share(8, 3))
        .then(pick(["n/a", "{x} at example.com", "x@@example.com", "x@"], row.hash(7) % 4))
        .when(share(9, 5))
        .then(email.chash.sha2_256().str.to_uppercase())  # type: ignore[attr-defined]
        .when(share(10, 10))
        .then(email.str.to_uppercase())
        .when(share(11, 5))
        .then("  " + email + "\u00a0\u200b")
        .when(share(12, 5))
        .then(email + ";work." + email)
        .otherwise(email)
    )
    digits = (row.hash(13) % 900_000_000 + 100_000_000).cast(pl.String)
    phone = pick(["+420 {a} {b} {c}", "00420{a}{b}{c}", "+420-{a}-{b}-{c}", "(+420) {a}{b}{c}"], row.hash(14) % 4)
    phone = (
        phone.str.replace("{a}", digits.str.slice(0, 3), literal=True)
        .str.replace("{b}", digits.str.slice(3, 3), literal=True)
        .str.replace("{c}", digits.str.slice(6, 3), literal=True)
    )
    phone = pl.when(share(15, 3)).then(pl.lit("n/a")).otherwise(phone)
    code = (row.hash(16) % 90_000 + 10_000).cast(pl.String)
    zip_code = pick(["{z}", "{a} {b}", "{z}-1234"], row.hash(17) % 3)
    zip_code = (
        zip_code.str.replace("{z}", code, literal=True)
        .str.replace("{a}", code.str.slice(0, 3), literal=True)
        .str.replace("{b}", code.str.slice(3, 2), literal=True)
    )
    zip_code = pl.when(share(18, 2)).then(pl.lit("SW1A 1AA")).otherwise(zip_code)
    seconds = pl.lit(NOW) - (row.hash(19) % (6 * 86_400)).cast(pl.Int64)
    event_time = pl.when(share(20, 1)).then(seconds * 1000).otherwise(seconds).cast(pl.String)
    frame = pl.LazyFrame({"row": pl.int_range(rows, dtype=pl.UInt64, eager=True)})
    frame.select(
        email=email, phone=phone, first_name=first, last_name=last, zip=zip_code, event_time=event_time
    ).sink_csv(path)


def digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def run_vectorised(path: Path) -> dict[str, Any]:
    frame = pl.read_csv(path, infer_schema=False)
    prepared = prepare_events(frame, now=NOW, options=OPTIONS)
    report = prepared.report
    return {
        "rows": report.rows_read,
        "sent": report.events_ready,
        "rejected": report.rejected_by_reason,
        "invalid": report.invalid_by_field,
        "ids": digest(prepared.events.get_column("event_id").to_list()),
    }


def run_loop(path: Path) -> dict[str, Any]:
    rows = 0
    ids: list[str] = []
    rejected: Counter[str] = Counter()
    invalid: Counter[tuple[str, str]] = Counter()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = resolve_columns(list(reader.fieldnames or []))
        for row in reader:
            rows += 1
            result = prepare_event(
                row, columns, now=NOW, event_name=OPTIONS.event_name, action_source=OPTIONS.action_source
            )
            invalid.update(result.invalid)
            if result.event is None:
                rejected[str(result.reason)] += 1
            else:
                ids.append(result.event["event_id"])
    by_field: dict[str, dict[str, int]] = {}
    for (name, reason), count in sorted(invalid.items()):
        by_field.setdefault(name, {})[reason] = count
    order = [
        name for name in ("em", "hashed_maids", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp") if name in by_field
    ]
    return {
        "rows": rows,
        "sent": len(ids),
        "rejected": dict(sorted(rejected.items())),
        "invalid": {name: by_field[name] for name in order},
        "ids": digest(ids),
    }


MODES = {"vectorised": run_vectorised, "loop": run_loop}


@dataclass(frozen=True)
class Run:
    """One whole process: its wall time, CPU time, peak RSS, the load average before it, and its counts."""

    seconds: float
    cpu: float
    peak_mib: float
    load: float
    counts: dict[str, Any]

    def describe(self, mode: str) -> str:
        rows = self.counts["rows"]
        return (
            f"{mode:10} {self.seconds:8.2f} s ({self.cpu:8.2f} s CPU)  {rows / self.seconds:12,.0f} rows/s  "
            f"peak RSS {self.peak_mib:6,.0f} MiB  load {self.load:4.1f}  "
            f"sent {self.counts['sent']:,}  ids {self.counts['ids']}"
        )


def measure(mode: str, path: Path) -> Run:
    """One whole process (start-up included): wall time, CPU and peak RSS from wait4, and the load before it."""
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    argv = [sys.executable, __file__, "--child", mode, str(path)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} failed")
    counts = json.loads(output.strip().splitlines()[-1])
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, load_before, counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write the generated file (default: a temp dir)"
    )
    parser.add_argument("--input", type=Path, default=None, help="time this file instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds of both modes (medians compared)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(MODES[args.child[0]](Path(args.child[1]))))
        return

    print(f"{machine()}; load {load()}")
    workdir: Path | None = None
    if args.input is not None:
        path = args.input
    else:
        workdir = Path(tempfile.mkdtemp(prefix="pinaudience-events-bench-", dir=args.dir))
        path = workdir / "events.csv"
    try:
        if workdir is not None:
            start = time.perf_counter()
            generate(args.rows, path)
            size = path.stat().st_size / 2**20
            print(f"generated {args.rows:,} events ({size:,.0f} MiB) in {time.perf_counter() - start:.1f} s")
        runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
        modes = list(MODES)
        for round_ in range(args.repeat):
            for mode in modes[round_ % 2 :] + modes[: round_ % 2]:
                runs[mode].append(measure(mode, path))
                print(runs[mode][-1].describe(mode), flush=True)
        vectorised, loop = runs["vectorised"][0].counts, runs["loop"][0].counts
        for key in ("rows", "sent", "rejected", "invalid", "ids"):
            if vectorised[key] != loop[key]:
                raise SystemExit(f"the two modes disagree on {key}: {vectorised[key]} != {loop[key]}")
        print("the same work: rows, events sent, rejects by reason, invalid values by field and every event id agree")
        print(f"rejected by reason: {vectorised['rejected']}")
        print(f"invalid by field: {vectorised['invalid']}")
        wall = {mode: statistics.median(run.seconds for run in runs[mode]) for mode in MODES}
        cpu = {mode: statistics.median(run.cpu for run in runs[mode]) for mode in MODES}
        print(
            f"vectorised vs loop: {wall['loop'] / wall['vectorised']:.1f}x as fast "
            f"({cpu['loop'] / cpu['vectorised']:.1f}x less CPU); load now {load()}"
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
