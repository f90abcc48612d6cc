"""End to end: a first sync and an incremental sync of a 1,000,000-row customers file, against the emulator
served in its own process, timed phase by phase.

    python benchmarks/e2e.py                # 1,000,000 rows
    python benchmarks/e2e.py --rows 20000   # a quick look
    python benchmarks/e2e.py --rows 20000000  # 17.7 million records (about 10 minutes, 4 GB in /tmp)

Two files are generated (vectorised with Polars, no Python loop) in a temporary directory, each with the
records it should produce, worked out from the generated customers rather than by the code under test:

- `customers.csv`: realistic emails, about 10% repeats of another row's customer, 10% upper-case, 5%
  padded with spaces, a no-break space and a zero-width space, 3% invalid (empty, `n/a`, no `@`, two
  `@`, no domain, no local part), 5% already SHA-256-hashed (a fifth of those in upper-case hex) and
  0.5% with non-ASCII names;
- `customers-next.csv`: the same rows with `--changed` (5%) of the customers replaced by new ones, so
  the incremental mirror removes about 5% of the members and adds as many.

`pinaudience emulator serve` runs in a subprocess (in-memory store, `track_sends` off: its defaults), with
Pinterest's limits scaled in time by `--scale` for the first sync (default 2: 400 writes per 30 s) and by
`--incremental-scale` for the incremental one (default 1: Pinterest's own limit, so that sync runs as it
would every night), and no modelled latency. The scales leave the served emulator headroom: it spends
about 48 ms of CPU on an ADD of 10,000 records and 68 ms on a REMOVE (parsing, validating, matching,
SQLite), so at a scale of 10 (15 ms a write) the emulator, not the client's limit, bounded the upload,
and at 2 (75 ms a write) it was still 89% busy during the incremental upload. The script prints, beside
each upload, the floor the limit alone imposes, the server's CPU share of the upload's wall time, and the
upload's wall time over the floor: an upload near its floor with the server well below one core is
bounded by the client's limit.
Each sync runs in a child process of its own (`served.run_sync`), which notes at every
`PhaseStarted` event its wall time, its CPU time, the server's CPU time and its own peak RSS for that
phase. After each sync the emulator's membership (through its admin API) must equal the expected set
exactly; the script exits with status 1 if it does not.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import polars_hash as plh

from measure import load, machine
from pinaudience.pinterest import limits
from served import Server, SyncSpec, run_sync, same_records

FIRST = ["jan", "petr", "eva", "anna", "tomas", "lucie", "martin", "jana", "john", "mary", "lee", "olga"]
LAST = ["novak", "svoboda", "dvorak", "cerna", "smith", "jones", "brown", "kowalski", "muller", "garcia"]
DOMAINS = ["gmail.com", "seznam.cz", "email.cz", "centrum.cz", "yahoo.com", "outlook.com", "icloud.com", "firma.co.uk"]
INVALID = ["", "n/a", "{name} at {domain}", "{name}@@{domain}", "{name}@", "@{domain}"]
LIST_NAME = "e2e benchmark customers"


def generate(rows: int, path: Path, *, changed: float = 0.0) -> pl.Series:
    """Write `rows` customer emails to a one-column CSV; return the distinct records Pinterest should hold.

    Every choice is a hash of the row or customer number, so the two files differ only where
    `changed` (a share of the customers) says: those customers are replaced by new ones.
    """

    def pick(values: list[str], index: pl.Expr) -> pl.Expr:
        chosen = pl.lit(values[0])
        for position, value in enumerate(values[1:], start=1):
            chosen = pl.when(index == position).then(pl.lit(value)).otherwise(chosen)
        return chosen

    def share(expr: pl.Expr, seed: int, percent: float) -> pl.Expr:
        return (expr.hash(seed) % 10_000) < int(percent * 100)

    row = pl.col("row")
    customer = pl.when(share(row, 1, 10)).then(row.hash(2) % rows).otherwise(row)
    customer = pl.when(share(customer, 20, changed * 100)).then(customer + rows).otherwise(customer)
    number = customer.cast(pl.String)
    name = pick(FIRST, customer.hash(3) % len(FIRST)) + "." + pick(LAST, customer.hash(4) % len(LAST)) + number
    name = pl.when(share(customer, 5, 0.5)).then("jürgen.dvořák" + number).otherwise(name)
    domain = pick(DOMAINS, customer.hash(6) % len(DOMAINS))
    email = name + "@" + domain
    digest = plh.col("_email").chash.sha2_256()
    invalid = pick(INVALID, row.hash(7) % len(INVALID)).str.replace("{name}", name, literal=True)
    invalid = invalid.str.replace("{domain}", domain, literal=True)
    is_invalid = share(row, 8, 3)
    value = (
        pl.when(is_invalid)
        .then(invalid)
        .when(share(row, 9, 5))
        .then(pl.when(share(row, 12, 20)).then(digest.str.to_uppercase()).otherwise(digest))
        .when(share(row, 10, 10))
        .then(pl.col("_email").str.to_uppercase())
        .when(share(row, 11, 5))
        .then("  " + pl.col("_email") + "\u00a0\u200b")
        .otherwise(pl.col("_email"))
    )
    frame = pl.LazyFrame({"row": pl.int_range(rows, dtype=pl.UInt64, eager=True)})
    frame = frame.with_columns(email.alias("_email"), is_invalid.alias("_invalid"))
    frame = frame.with_columns(value.alias("email"), pl.when(~pl.col("_invalid")).then(digest).alias("expected"))
    collected = frame.select("email", "expected").collect()
    collected.select("email").write_csv(path)
    return collected.get_column("expected").drop_nulls().unique().alias("record")


def serve_at(server: Server, scale: float) -> None:
    """Pinterest's limits, scaled in time by `scale`, on the served emulator (its lists stay)."""
    window = limits.STANDARD.ads_write.window_s / scale
    server.call(
        "PUT",
        "/settings",
        {
            "ads_write_per_window": limits.STANDARD.ads_write.requests,
            "ads_read_per_window": limits.STANDARD.ads_read.requests,
            "window_s": window,
            "per_second": round(limits.STANDARD.per_second * scale),
        },
    )


def sync_once(server: Server, args: argparse.Namespace, root: Path, input_file: Path) -> dict[str, Any]:
    window = limits.STANDARD.ads_write.window_s / args.scale
    spec = SyncSpec(
        api_base=server.api_base,
        access_token=server.access_token,
        ad_account_id=server.ad_account_id,
        input=str(input_file),
        list_name=LIST_NAME,
        state_dir=str(root / "state"),
        batch_size=args.batch_size,
        write_limit=(limits.STANDARD.ads_write.requests, window),
        read_limit=(limits.STANDARD.ads_read.requests, window),
        per_second=round(limits.STANDARD.per_second * args.scale),
        writes_in_flight=args.writes_in_flight,
        server_pid=server.process.pid,
    )
    return run_sync(spec, root)


def show(title: str, result: dict[str, Any], args: argparse.Namespace, exact: bool) -> None:
    report = result["report"]
    print(f"\n{title}: {result['seconds']:.2f} s, client CPU {result['cpu_seconds']:.1f} s, status {report['status']}")
    print(
        f"  rows {report['rows_read']:,} (valid {report['rows_valid']:,}, invalid {report['rows_invalid']:,}, "
        f"duplicates {report['duplicates']:,}, pre-hashed {sum(report['prehashed_by_algorithm'].values()):,}); "
        f"records {report['records']:,}"
    )
    print(
        f"  planned +{report['planned_adds']:,} -{report['planned_removes']:,}; sent +{report['added']:,} "
        f"-{report['removed']:,} in {report['batches']} writes; {report['requests']} requests, "
        f"{report['retries']} retries, {report['rate_limited']} answered 429; list created "
        f"{report['list_created']}, audience created {report['audience_created']} "
        f"({report['audience_status']}, size {report['audience_size']:,})"
    )
    print(f"  {'phase':<10} {'wall':>8} {'CPU':>8} {'server CPU':>11} {'peak RSS':>10}")
    for phase in result["phases"]:
        print(
            f"  {phase['phase']:<10} {phase['seconds']:7.2f}s {phase['cpu_seconds']:7.2f}s "
            f"{phase['server_cpu_seconds']:10.2f}s {phase['peak_rss_mib']:7,.0f} MiB"
        )
    peak = max([result["startup_peak_rss_mib"]] + [p["peak_rss_mib"] for p in result["phases"]])
    upload = next(p for p in result["phases"] if p["phase"] == "uploading")
    window = limits.STANDARD.ads_write.window_s / args.scale
    floor = max(report["batches"] - 1, 0) * window / (limits.STANDARD.ads_write.requests - 1)
    print(
        f"  peak RSS {peak:,.0f} MiB; the write limit alone would make the upload take at least {floor:.2f} s "
        f"(it took {upload['seconds']:.2f} s); at Pinterest's own limit: at least {floor * args.scale:.1f} s"
    )
    busy = upload["server_cpu_seconds"] / upload["seconds"] if upload["seconds"] else 0.0
    over = upload["seconds"] / floor if floor else float("nan")
    print(
        f"  the upload: {over:.2f}x the limit's floor, the server busy {busy:.0%} of it "
        f"({'bounded by the limit' if busy < 0.8 else 'the server may be the bound'})"
    )
    ours = result["seconds"] - upload["seconds"]
    real = floor * args.scale
    if real:
        print(
            f"  our own time (all but the upload) {ours:.2f} s; at Pinterest's own limit this sync would take "
            f"at least {ours + real:.1f} s, {(ours + real) / real:.2f}x the {real:.1f} s Pinterest alone imposes"
        )
    print(f"  the emulator's membership equals the desired set exactly: {'yes' if exact else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.05, help="share of customers replaced (0.05)")
    parser.add_argument("--scale", type=float, default=2.0, help="time compression of the first sync's limits (2)")
    parser.add_argument(
        "--incremental-scale", type=float, default=1.0, help="time compression of the incremental sync's limits (1)"
    )
    parser.add_argument("--batch-size", type=int, default=limits.DEFAULT_BATCH_SIZE)
    parser.add_argument("--writes-in-flight", type=int, default=limits.DEFAULT_WRITES_IN_FLIGHT)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pinaudience-bench-e2e-"))
    window = limits.STANDARD.ads_write.window_s / args.scale
    print(f"end to end: {args.rows:,} rows, then {args.changed:.0%} of the customers changed")
    print(f"machine: {machine()}; load average {load()}")
    print(
        f"limits scaled {args.scale:g}x for the first sync ({limits.STANDARD.ads_write.requests} writes per "
        f"{window:g} s), {args.incremental_scale:g}x for the incremental one; no modelled latency; "
        f"batches of {args.batch_size:,}, {args.writes_in_flight} writes in flight"
    )
    exact = True
    try:
        start = time.perf_counter()
        first_file, next_file = root / "customers.csv", root / "customers-next.csv"
        first_expected = generate(args.rows, first_file)
        next_expected = generate(args.rows, next_file, changed=args.changed)
        print(
            f"generated 2 x {args.rows:,} rows ({first_file.stat().st_size / 2**20:,.0f} MiB each) in "
            f"{time.perf_counter() - start:.1f} s: {first_expected.len():,} distinct records, then "
            f"{next_expected.len():,} ({first_expected.is_in(next_expected.implode()).not_().sum():,} gone, "
            f"{next_expected.is_in(first_expected.implode()).not_().sum():,} new)"
        )
        with Server() as server:
            server.reset()
            for title, input_file, expected, scale in (
                ("first sync (creates the list and the audience)", first_file, first_expected, args.scale),
                (f"incremental sync ({args.changed:.0%} changed)", next_file, next_expected, args.incremental_scale),
            ):
                args.scale = scale
                serve_at(server, scale)
                print(f"\nstarting the {title.split(' (')[0]}: limits scaled {scale:g}x; load average {load()}")
                result = sync_once(server, args, root, input_file)
                report = result["report"]
                same = report["status"] == "ok" and same_records(server.members(report["customer_list_id"]), expected)
                show(title, result, args, same)
                exact = exact and same
            print(f"\nserver peak RSS {server.peak_rss_mib():,.0f} MiB; load average {load()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
