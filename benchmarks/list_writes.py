"""Writes to one customer list under a per-list throttle: what `writes_in_flight_per_list` and spacing cost.

    python benchmarks/list_writes.py                    # 1,000 writes of 100 records, each variant
    python benchmarks/list_writes.py --writes 200       # a quick look

In process, on a `FakeClock` (no real waiting; times are the emulator's), one first mirror sync through the
engine of a file that needs `--writes` updates of one list, against the emulator's `realistic` profile
(one write per list per second, bare 429s) with a latency model (`--latency-ms` per request plus
`--latency-per-record-us` per record, on the fake clock), and `processing_delay_s` 0 so that the audience is
made at once. Variants: 1, 2 and 3 writes in flight per list (the total `writes_in_flight` is 3, so it never
binds first), each with the client's learnt spacing (every 429 on a list doubles the spacing of its writes,
0.3 s to 2.4 s) and without it (spacing stays 0). Also once against the `default` profile (no per-list
throttle) with 1, 2 and 3, to show what the per-list bound costs where Pinterest does not throttle.

Printed per variant: the updates Pinterest needed, the requests sent, the 429s, the extra requests per
1,000 writes, and the upload's time in emulator seconds (a FakeClock does not overlap every concurrent
wait, so times are rough where writes overlap; the counts are exact). A sync that fails (429s past the
retry budget) is marked; one that loses a record stops the run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import tempfile
from pathlib import Path

from pinaudience.clock import FakeClock
from pinaudience.config import AudienceSettings, Credentials, PinterestSettings, Secret, Settings
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, Emulator, EmulatorSettings
from pinaudience.engine.events import PhaseStarted, SyncEvent
from pinaudience.engine.sync import sync_async
from pinaudience.pinterest import ratelimit

API_BASE = "http://emulator.test/v5"


async def run_variant(
    root: Path, records: list[str], *, profile: str, per_list: int, learn: bool, args: argparse.Namespace
) -> dict[str, float]:
    clock = FakeClock()
    emulator = Emulator(
        EmulatorSettings.from_profile(
            profile,
            processing_delay_s=0.0,
            latency_ms=args.latency_ms,
            latency_per_record_us=args.latency_per_record_us,
        ),
        clock=clock,
    )
    saved = ratelimit.LIST_SPACING_MAX_S
    ratelimit.LIST_SPACING_MAX_S = saved if learn else 0.0
    name = f"{profile}-{per_list}-{learn}"
    csv = root / f"{name}.csv"
    csv.write_text("email\n" + "\n".join(records) + "\n")
    settings = Settings(
        pinterest=PinterestSettings(
            ad_account_id=SEED_AD_ACCOUNT_ID,
            credentials=Credentials(access_token=Secret(SEED_ACCESS_TOKEN)),
            api_base=API_BASE,
            writes_in_flight=3,
            writes_in_flight_per_list=per_list,
        ),
        audiences=(AudienceSettings(input=csv, list_name=name, batch_size=args.batch_size),),
        state_dir=root / f"state-{name}",
    )
    phases: dict[str, float] = {}

    def observe(event: SyncEvent) -> None:
        if isinstance(event, PhaseStarted):
            phases[event.phase] = clock.monotonic()

    try:
        report = await sync_async(settings, transport=emulator.transport(), clock=clock, observer=observe)
        audience = report.audiences[0]
        failed = report.status != "ok" or audience.customer_list_id is None
        if not failed:
            assert audience.customer_list_id is not None
            members = list(emulator.store.members(int(audience.customer_list_id)))
            if sorted(members) != sorted(records):
                raise RuntimeError(f"{name}: the list does not hold exactly the file's records")
        updates = [r for r in emulator.requests if r["operation"] == "customer_lists/update"]
    finally:
        ratelimit.LIST_SPACING_MAX_S = saved
        emulator.close()
    needed = args.writes
    refused = sum(1 for r in updates if r["status"] == 429)
    return {
        "failed": float(failed),
        "needed": needed,
        "sent": len(updates),
        "refused": refused,
        "extra_per_1000": (len(updates) - needed) / needed * 1000,
        "upload_s": phases.get("finishing", clock.monotonic()) - phases.get("uploading", 0.0),
    }


async def main_async(args: argparse.Namespace) -> None:
    total = (args.writes + 1) * args.batch_size
    records = [hashlib.sha256(f"customer-{i}".encode()).hexdigest() for i in range(total)]
    root = Path(tempfile.mkdtemp(prefix="pinaudience-bench-list-writes-"))
    print(
        f"one list, {args.writes:,} updates of {args.batch_size} records ({total:,} records with the create); "
        f"latency {args.latency_ms:g} ms + {args.latency_per_record_us:g} us per record; FakeClock, in process"
    )
    print(
        f"{'profile':<10} {'per list':>8} {'spacing':>8} {'updates':>8} {'sent':>6} {'429s':>6} "
        f"{'extra/1000':>10} {'upload s':>9}"
    )
    variants = [("realistic", n, learn) for n in (1, 2, 3) for learn in (False, True)] + [
        ("default", n, True) for n in (1, 2, 3)
    ]
    try:
        for profile, per_list, learn in variants:
            r = await run_variant(root, records, profile=profile, per_list=per_list, learn=learn, args=args)
            print(
                f"{profile:<10} {per_list:>8} {'learnt' if learn else 'none':>8} {r['needed']:>8.0f} "
                f"{r['sent']:>6.0f} {r['refused']:>6.0f} {r['extra_per_1000']:>10.1f} {r['upload_s']:>9.1f}"
                + ("  FAILED: rate_limited after every retry" if r["failed"] else "")
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=1_000, help="updates the sync needs (default 1,000)")
    parser.add_argument("--batch-size", type=int, default=100, help="records per update (default 100)")
    parser.add_argument("--latency-ms", type=float, default=150.0, help="per request (150)")
    parser.add_argument("--latency-per-record-us", type=float, default=10.0, help="per record (10)")
    args = parser.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
