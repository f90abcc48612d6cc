"""A fleet of `pinaudience sync --audience NAME` workers against one served emulator: how much of the shared
Pinterest ceiling it uses, beside the naive fleet whose workers each pace themselves at the full limit.

    python benchmarks/fleet.py                                   # cases redis,naive: the shared Redis limiter
    python benchmarks/fleet.py --cases share,naive               # before the Redis limiter: local shares
    python benchmarks/fleet.py --postgres --cases redis,naive    # state and tokens in PostgreSQL too
    python benchmarks/fleet.py --audiences 60 --workers 6 --records 500 --kills 2
    python benchmarks/fleet.py --cases share,naive --audiences 18 --records 300 --writes-per-window 100 --window-s 20

The ceiling must be below what the workers can send, or the machine bounds both fleets and the naive one never
overruns it: on a 2-core machine at a load of 15 to 20, six workers sent 8 to 16 writes a second.

The harness is the fleet test's (tests/fleet/fleet_harness.py; docs/fleet.md): a served emulator with
Pinterest's limits (`--writes-per-window` 400 in any `--window-s` 60 s by default: Pinterest's own; shrink the
window to run time faster), audiences spread over three ad accounts of one user, one token pair for one app,
`--workers` processes at a time. Each case runs on a fresh emulator, in this one run:

- `redis`: one rate limiter in Redis at the full limits, shared by every worker (`--rate-limit-url`; a
  redis-server is started for the run). Needs the Redis limiter.
- `share`: each worker's local limiter at 1/workers of the limits: the fleet stays under the ceiling, and
  wastes the share of every worker that is starting, reading or finishing.
- `naive`: each worker's local limiter at the full limits, as six copies of a single-job setup would run:
  it overruns the ceiling, and Pinterest answers 429 (counted by cause).

For each case it prints the wall time, the workers' and the emulator's CPU, the ratio of the writes to the
ceiling over the busy span (`ceiling_ratio`: writes / (per_window x span / window_s)), the busiest window,
the 429s by cause, the token refreshes Pinterest saw (the shared access token expires once 40% of the writes
went through), and whether every audience's membership is exactly its file. It exits 1 when one is not.

Run from the repository's root (it imports the harness from `tests/`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet.fleet_harness import (
    Backends,
    Fleet,
    Scale,
    ceiling_ratio,
    membership_errors,
    per_user_429s,
    seeded_kills,
    served_emulator,
    summary,
)
from tests.servers import PostgresServer, RedisServer, start_postgres, start_redis

CASES = ("redis", "share", "naive")
SEED = 20261206


def backends_for(case: str, root: Path, workers: int, redis: RedisServer | None, pg: PostgresServer | None) -> Backends:
    state = pg.create_database() if pg is not None else str(root / "state")
    token_store = None if pg is not None else root / "tokens" / "tokens.json"
    if case == "redis":
        assert redis is not None
        return Backends(state, rate_limit_url=redis.url(), token_store=token_store)
    share = 1 / workers if case == "share" else 1.0
    return Backends(state, local_share=share, token_store=token_store)


def run_case(
    case: str, args: argparse.Namespace, root: Path, redis: RedisServer | None, pg: PostgresServer | None
) -> dict[str, object]:
    scale = Scale(ads_write_per_window=args.writes_per_window, window_s=args.window_s)
    with served_emulator(root / "emulator-home") as emulator:
        accounts, tokens = emulator.prepare(scale, args.ad_accounts)
        fleet = Fleet(
            root / "fleet",
            emulator,
            backends_for(case, root, args.workers, redis, pg),
            scale=scale,
            accounts=accounts,
            tokens=tokens,
            audiences=args.audiences,
            records=args.records,
            batch_size=args.batch_size,
            workers=args.workers,
        )
        kills = seeded_kills([j.name for j in fleet.jobs], fleet.workers, SEED, args.kills) if args.kills else {}
        run = fleet.run(kill=kills, expire_after_writes=int(fleet.expected_writes * 0.4), deadline_s=args.deadline_s)
        counters = emulator.counters()
        problems = membership_errors(fleet, run)
        print(f"\n== {case} ==")
        print(summary(fleet, run, counters))
        for attempt in run.failures():
            print("  failed: " + attempt.describe())
        print(f"  exact membership for every audience: {'yes' if not problems else 'NO: ' + '; '.join(problems[:5])}")
        ratio = ceiling_ratio(counters["admitted_at"].get("ads_write", []), scale.ads_write_per_window, scale.window_s)
        return {
            "case": case,
            "ratio": ratio.ratio,
            "busiest": ratio.busiest_window,
            "per_user_429s": per_user_429s(counters),
            "refreshes": counters["token_grants"].get("refresh_token", 0),
            "wall_s": run.wall_s,
            "failed": len(run.failures()),
            "exact": not problems,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cases", default="redis,naive", help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--audiences", type=int, default=36)
    parser.add_argument("--ad-accounts", type=int, default=3)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--records", type=int, default=400, help="records per audience")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--window-s", type=float, default=60.0, help="the emulator's window (Pinterest: 60)")
    parser.add_argument(
        "--writes-per-window", type=int, default=400, help="the ads_write ceiling per window (Pinterest: 400)"
    )
    parser.add_argument("--kills", type=int, default=0, help="workers to SIGKILL at seeded moments (then rerun)")
    parser.add_argument("--postgres", action="store_true", help="state and tokens in a PostgreSQL started for the run")
    parser.add_argument("--deadline-s", type=float, default=1800.0)
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    redis = start_redis() if "redis" in cases else None
    pg = start_postgres() if args.postgres else None
    results = []
    try:
        for case in cases:
            with tempfile.TemporaryDirectory(prefix=f"pinaudience-fleet-{case}-") as folder:
                results.append(run_case(case, args, Path(folder), redis, pg))
    finally:
        if redis is not None:
            redis.close()
        if pg is not None:
            pg.close()
    print("\ncase    ratio  busiest window  429s (per user)  refreshes  failed  exact  wall")
    for r in results:
        print(
            f"{r['case']:<7} {r['ratio']:.3f}  {r['busiest']:>14}  {r['per_user_429s']:>15}  {r['refreshes']:>9}  "
            f"{r['failed']:>6}  {'yes' if r['exact'] else 'NO':>5}  {r['wall_s']:.0f} s"
        )
    return 0 if all(r["exact"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
