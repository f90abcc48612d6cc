"""Upload utilisation: how close a sync comes to Pinterest's write limit, against the emulator on a real socket.

    python benchmarks/upload.py                               # 1,200 writes of 500 records, time scaled 10x
    python benchmarks/upload.py --batches 40 --batch-size 50  # a quick look

The emulator runs as `pinaudience emulator serve` in a process of its own (so client and server share no
GIL), with Pinterest's limits scaled in time: every window divided by `--scale` (400 writes per 6 s
instead of per 60 s, 100 x scale requests per second), and the client's `ads_write_limit`,
`ads_read_limit` and `per_second` set to the same. The server applies a latency model to every call
(`latency_ms` plus `latency_per_record_us` per record, given in Pinterest's time and divided by
`--scale` like every other time). Each case is a first mirror sync, in a child process, of a file of
`batches x batch_size` distinct SHA-256 records (generated vectorised), so it needs that many writes:

- `limit`: the server's limit equals the client's, `--writes-in-flight` (default: the engine's) writes
  in flight. Figure: records per minute achieved during the upload phase divided by (write limit x
  batch size); the goal is at least 0.95, with zero 429s.
- `limit+1`: the same with one more write in flight, to show which of the two bounds the first.
- `shared`: the server allows only `--shared` of the client's limit (other tools use the rest of the
  quota) and answers 429 with `Retry-After` and `X-RateLimit-Reset`.
- `bare`: the same, with bare 429s (no headers), as Pinterest documents them.
- `realistic` and `realistic-hints` (issue 11): a storm of 429s under the emulator's `realistic` profile, its
  per-list throttle (one write to a list per second, scaled) with bare 429s, and the same storm with
  `Retry-After`, in the same run; `processing_delay_s` 0 so that the audience is made at once. Figure: the
  extra requests per 1,000 writes (requests sent beyond the writes the sync needed), beside each other.

Every case checks that the emulator's membership equals the file exactly (no loss) and prints the 429s
(the share of requests that drew one), how many writes were ready before their slot and waited for the
limiter (the limit held them back) rather than coming late (their slots in flight still busy), the
CPU time of the client and the server beside the wall time, and from these what bound the upload:
Pinterest's limit, the writes in flight, or a CPU. Exits with status 1 if a sync failed or lost a record.
Inputs go to a temporary directory, deleted afterwards.
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
from pinaudience.pinterest.ratelimit import DEFAULT_HEADROOM
from served import Server, SyncSpec, run_sync, same_records

REAL_WRITE = limits.STANDARD.ads_write
REAL_READ = limits.STANDARD.ads_read
WAITED_S = 0.001
"""A write that waited at least this long for the limiter was ready before its slot: the limit held it back."""
HALF = 0.5
"""When at least this share of the writes waited for their slot, the limit is what bounds the upload."""
BUSY_CORE = 0.9
"""A process busy this share of one core or more bounds the run by its CPU."""


def generate(path: Path, records: int) -> pl.Series:
    """`records` distinct SHA-256 hex records (of the integers 0 .. records-1) in a one-column CSV."""
    frame = pl.select(pl.int_range(records, dtype=pl.Int64).alias("i"))
    frame = frame.select(plh.col("i").cast(pl.String).chash.sha2_256().alias("email"))  # type: ignore[attr-defined]
    frame.write_csv(path)
    return frame.get_column("email").alias("record")


def run_case(
    server: Server,
    args: argparse.Namespace,
    root: Path,
    name: str,
    *,
    server_share: float,
    headers: bool,
    in_flight: int,
    realistic: bool = False,
    expected: pl.Series,
    input_file: Path,
) -> dict[str, Any]:
    scale = args.scale
    window = REAL_WRITE.window_s / scale
    server_writes = max(int(REAL_WRITE.requests * server_share), 1)
    profile: dict[str, Any] = {}
    server.reset()
    if realistic:
        server.call("PUT", "/profile", {"name": "realistic"})
        profile = {"processing_delay_s": 0.0, "list_write_window_s": 1.0 / scale, "list_writes_per_window": 1}
    server.call(
        "PUT",
        "/settings",
        dict(
            profile,
            ads_write_per_window=server_writes,
            ads_read_per_window=REAL_READ.requests,
            window_s=window,
            per_second=round(limits.STANDARD.per_second * scale),
            rate_limit_hints=("retry_after" if realistic else "retry_after_and_reset_at") if headers else "none",
            latency_ms=args.latency_ms / scale,
            latency_per_record_us=args.latency_per_record_us / scale,
        ),
    )
    state = root / f"state-{name.replace(' ', '-').replace(',', '')}"
    spec = SyncSpec(
        api_base=server.api_base,
        access_token=server.access_token,
        ad_account_id=server.ad_account_id,
        input=str(input_file),
        list_name=f"upload benchmark: {name}",
        state_dir=str(state),
        batch_size=args.batch_size,
        write_limit=(REAL_WRITE.requests, window),
        read_limit=(REAL_READ.requests, window),
        per_second=round(limits.STANDARD.per_second * scale),
        writes_in_flight=in_flight,
        max_attempts=args.max_attempts,
    )
    server_cpu = server.cpu_seconds()
    result = run_sync(spec, root)
    result["server_cpu_seconds"] = server.cpu_seconds() - server_cpu
    report = result["report"]
    if report["status"] != "ok":
        raise RuntimeError(f"{name}: the sync failed: {report['error']}")
    calls = [c for c in server.requests() if c["operation"] != "oauth/token"]
    result["calls"] = len(calls)
    result["calls_429"] = sum(1 for c in calls if c["status"] == 429)
    writes = [c for c in calls if c["operation"] == "customer_lists/update"]
    result["writes_sent"] = len(writes)
    result["writes_needed"] = sum(1 for c in writes if c["status"] != 429)
    result["no_loss"] = same_records(server.members(report["customer_list_id"]), expected)
    result["server_writes_per_window"] = server_writes
    result["window_s"] = window
    result["in_flight"] = in_flight
    return result


def round_trip_s(result: dict[str, Any]) -> float | None:
    """Mean time from an ADD/REMOVE request leaving to its batch being journaled as acknowledged.

    Sum of acknowledgements minus sum of sends over the batches, so no request needs matching to its
    answer (Little's law); only meaningful without retries. The first acknowledgement of a new list is
    the batch that went with the create call, not an update: left out.
    """
    sent = result["updates_sent_at"]
    acks = result["acknowledged_at"][1:] if result["report"]["list_created"] else result["acknowledged_at"]
    if not sent or len(sent) != len(acks):
        return None
    return float((sum(acks) - sum(sent)) / len(sent))


def summarise(name: str, result: dict[str, Any], args: argparse.Namespace) -> None:
    report = result["report"]
    phases = {p["phase"]: p for p in result["phases"]}
    upload = phases["uploading"]
    window = result["window_s"]
    records = report["added"] + report["removed"]
    interval = window / REAL_WRITE.requests
    ceiling = args.batch_size / interval  # records/s that the write limit allows
    achieved = records / upload["seconds"]
    ratio = achieved / ceiling
    server_writes = result["server_writes_per_window"]
    share = result["calls_429"] / max(result["calls"], 1)
    print(
        f"\n{name}: the server allows {server_writes} writes per {window:g} s, "
        f"the client paces for {REAL_WRITE.requests} per {window:g} s"
    )
    print(
        f"  upload phase: {records:,} records in {report['batches']:,} writes, {upload['seconds']:.2f} s "
        f"(whole sync {result['seconds']:.2f} s, {report['requests']:,} requests)"
    )
    print(
        f"  records per minute: {achieved * 60:,.0f} achieved / {ceiling * 60:,.0f} (write limit x batch size) "
        f"= ratio {ratio:.3f}"
    )
    if server_writes != REAL_WRITE.requests:
        server_ceiling = server_writes / window * args.batch_size
        print(f"  against the server's own, shared, limit: ratio {achieved / server_ceiling:.3f}")
    print(
        f"  429s: {report['rate_limited']} seen by the client, {result['calls_429']} of {result['calls']:,} "
        f"requests in the emulator's log ({share:.1%}); {report['retries']} retries"
    )
    needed = max(result["writes_needed"], 1)
    print(
        f"  extra requests: {result['writes_sent'] - result['writes_needed']} beyond the {result['writes_needed']:,} "
        f"writes needed = {(result['writes_sent'] - result['writes_needed']) / needed * 1000:.1f} per 1,000 writes"
    )
    waits = result["write_waits"]
    waited = sum(1 for w in waits if w >= WAITED_S) / max(len(waits), 1)
    trip = round_trip_s(result)
    print(
        f"  {waited:.0%} of the writes were ready before their slot and waited for the limiter "
        f"(mean wait {sum(waits) / max(len(waits), 1) * 1e3:.1f} ms); the others came late, their "
        f"{result['in_flight']} slots in flight still busy"
        + (f" (mean round trip, request sent to batch journaled: {trip * 1e3:.1f} ms)" if trip else "")
    )
    print(
        f"  CPU during the upload phase: client {upload['cpu_seconds']:.1f} s "
        f"({upload['cpu_seconds'] / upload['seconds']:.0%} of one core); server {result['server_cpu_seconds']:.1f} s "
        f"over the whole sync ({result['server_cpu_seconds'] / result['seconds']:.0%} of one core); "
        f"client peak RSS while uploading {upload['peak_rss_mib']:,.0f} MiB"
    )
    print(f"  no loss (the emulator's membership equals the file exactly): {'yes' if result['no_loss'] else 'NO'}")
    print(f"  bound by: {bound_by(result, upload, waited)}")


def bound_by(result: dict[str, Any], upload: dict[str, Any], waited: float) -> str:
    """What held the upload back, from the CPU shares, the 429s and how many writes waited for their slot."""
    client_cpu = upload["cpu_seconds"] / upload["seconds"]
    server_cpu = result["server_cpu_seconds"] / result["seconds"]
    if max(client_cpu, server_cpu) > BUSY_CORE:
        return f"the CPU of the {'client' if client_cpu >= server_cpu else 'server'}"
    in_flight = f"the {result['in_flight']} writes in flight (a write's cycle outlasts {result['in_flight']} intervals)"
    if result["server_writes_per_window"] != REAL_WRITE.requests and result["calls_429"]:
        return "the server's shared limit (it answered 429)" + (f", and {in_flight}" if waited < HALF else "")
    if waited >= HALF:
        return "Pinterest's write limit: most writes were ready before their slot (not the CPU)"
    return in_flight + ", before Pinterest's limit (not the CPU)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=1_200, help="writes the sync needs (default 1,200)")
    parser.add_argument("--batch-size", type=int, default=500, help="records per write (default 500)")
    parser.add_argument("--scale", type=float, default=10.0, help="time compression of every window and latency")
    parser.add_argument("--latency-ms", type=float, default=150.0, help="per request, before scaling (150)")
    parser.add_argument("--latency-per-record-us", type=float, default=10.0, help="per record, before scaling (10)")
    parser.add_argument("--writes-in-flight", type=int, default=limits.DEFAULT_WRITES_IN_FLIGHT)
    parser.add_argument("--shared", type=float, default=0.75, help="share of the limit the server grants (0.75)")
    parser.add_argument("--max-attempts", type=int, default=10)
    parser.add_argument(
        "--cases",
        default="limit,limit+1,shared,bare,realistic,realistic-hints",
        help="comma-separated, of: limit, limit+1 (one more write in flight), shared, bare, realistic, "
        "realistic-hints (default: all)",
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pinaudience-bench-upload-"))
    records = args.batches * args.batch_size
    window = REAL_WRITE.window_s / args.scale
    latency = (args.latency_ms / 1e3 + args.latency_per_record_us * args.batch_size / 1e6) / args.scale
    print(f"upload utilisation: {args.batches:,} writes of {args.batch_size:,} records ({records:,} records)")
    print(f"machine: {machine()}; load average {load()}")
    print(
        f"time scaled {args.scale:g}x: {REAL_WRITE.requests} writes per {window:g} s, "
        f"{limits.STANDARD.per_second * args.scale:g} requests per second; modelled latency "
        f"{latency * 1e3:.1f} ms per write ({args.latency_ms:g} ms + {args.latency_per_record_us:g} us per record, "
        f"/ {args.scale:g}); {args.writes_in_flight} writes in flight allow at most "
        f"{args.writes_in_flight / latency if latency else float('inf'):,.0f} writes/s against the limit's "
        f"{REAL_WRITE.requests / window:,.1f}"
    )
    steps = REAL_WRITE.requests - 1
    print(
        f"the client's limiter paces writes {window / steps * (1 + DEFAULT_HEADROOM) * 1e3:.2f} ms apart, so "
        f"it allows at most a ratio of {steps / REAL_WRITE.requests / (1 + DEFAULT_HEADROOM):.3f} "
        f"({DEFAULT_HEADROOM:.0%} headroom, N - 1 intervals per window)"
    )
    try:
        start = time.perf_counter()
        input_file = root / "customers.csv"
        expected = generate(input_file, records)
        print(f"generated {records:,} records in {time.perf_counter() - start:.1f} s")
        more = args.writes_in_flight + 1
        cases = {
            "limit": (f"at the limit, {args.writes_in_flight} writes in flight", 1.0, True, args.writes_in_flight),
            "limit+1": (f"at the limit, {more} writes in flight", 1.0, True, more),
            "shared": ("shared quota, Retry-After", args.shared, True, args.writes_in_flight),
            "bare": ("shared quota, bare 429", args.shared, False, args.writes_in_flight),
            "realistic": ("realistic profile, per-list throttle, bare 429", 1.0, False, args.writes_in_flight),
            "realistic-hints": ("realistic profile, per-list throttle, Retry-After", 1.0, True, args.writes_in_flight),
        }
        lost = False
        with Server() as server:
            for key in args.cases.split(","):
                name, share, headers, in_flight = cases[key.strip()]
                realistic = key.strip().startswith("realistic")
                result = run_case(
                    server,
                    args,
                    root,
                    name,
                    server_share=share,
                    headers=headers,
                    in_flight=in_flight,
                    realistic=realistic,
                    expected=expected,
                    input_file=input_file,
                )
                summarise(name, result, args)
                lost = lost or not result["no_loss"]
            print(f"\nserver peak RSS {server.peak_rss_mib():,.0f} MiB; load average {load()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
