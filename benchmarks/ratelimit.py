"""Several worker processes of one Pinterest user and app: the local limiter overruns, the shared one does not.

    python benchmarks/ratelimit.py                          # 6 processes, 150 calls per 5 s, 12 s each variant
    python benchmarks/ratelimit.py --processes 3 --seconds 6
    python benchmarks/ratelimit.py --redis-url redis://:PASSWORD@HOST:6379/0   # an existing Redis

Each variant starts `--processes` OS processes together; each takes `ads_write` grants as fast as its limiter
lets it, for `--seconds`, and records the time of each (Redis's clock for the shared limiter, the wall clock
for the local one). Variants: `local`, every process its own `LocalRateLimiter` at the full limit (what six
cron jobs with one token do without `rate_limit_url`); `redis`, every process a `RedisRateLimiter` of one scope.

Printed per variant: the grants, the achieved rate (first to last grant) over the ceiling (N / window), the most grants
in any window over N (above 1.0 Pinterest would answer 429), and per process the share of the grants. Without
`--redis-url` a redis-server (from PATH) is started on a free port in a temporary directory and stopped after.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote

from pinaudience.clock import SystemClock
from pinaudience.pinterest.limits import Category, RateLimit
from pinaudience.pinterest.ratelimit import LocalRateLimiter
from pinaudience.pinterest.redis_ratelimit import RedisRateLimiter


def most_in_any_window(times: list[float], window_s: float) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_right(ordered, t + window_s) - i for i, t in enumerate(ordered)), default=0)


async def worker(spec: dict[str, object]) -> list[float]:
    """Grants until the deadline; their times."""
    limit = RateLimit.parse(str(spec["limit"]))
    times: list[float] = []
    clock = SystemClock()
    start_at, seconds = float(str(spec["start_at"])), float(str(spec["seconds"]))
    if spec["variant"] == "redis":
        limiter: LocalRateLimiter | RedisRateLimiter = RedisRateLimiter(
            str(spec["url"]),
            clock,
            {Category.ADS_WRITE: limit},
            None,
            scope=str(spec["scope"]),
            on_grant=lambda _category, at: times.append(at),
        )
    else:
        limiter = LocalRateLimiter(clock, {Category.ADS_WRITE: limit})
    async with limiter:
        late = time.time() - start_at
        if late > 0:
            raise SystemExit(f"a worker was ready {late:.1f} s after the start: the machine is too busy")
        await asyncio.sleep(start_at - time.time())
        while time.time() < start_at + seconds:
            await limiter.acquire(Category.ADS_WRITE)
            if spec["variant"] != "redis":
                times.append(time.time())
    return [t for t in times if t <= start_at + seconds]


def run_variant(variant: str, args: argparse.Namespace, url: str) -> None:
    limit = RateLimit.parse(args.limit)
    start_at = time.time() + 2.0 + args.processes  # every process imported and connected before the first grant
    spec = {
        "variant": variant,
        "url": url,
        "scope": f"bench-{secrets.token_hex(4)}",
        "limit": args.limit,
        "start_at": start_at,
        "seconds": args.seconds,
    }
    workers = [
        subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(spec)], stdout=subprocess.PIPE, text=True)
        for _ in range(args.processes)
    ]
    per_worker = [json.loads(w.communicate(timeout=args.seconds + 60)[0]) for w in workers]
    times = sorted(t for ts in per_worker for t in ts)
    rate = (len(times) - 1) / (times[-1] - times[0])
    fill = most_in_any_window(times, limit.window_s) / limit.requests
    shares = ", ".join(f"{len(ts) / max(len(times), 1):.2f}" for ts in per_worker)
    print(
        f"{variant:6} {args.processes} processes: {len(times):5} grants, rate/ceiling {rate / limit.per_second:.3f}, "
        f"most in any {limit.window_s:g} s window / N {fill:.3f}, shares {shares}"
    )


def start_redis() -> tuple[subprocess.Popen[bytes], str, Path]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server), or give --redis-url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    password = secrets.token_hex(8)
    root = Path(tempfile.mkdtemp(prefix="pinaudience-bench-redis-"))
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root), "--save", ""]
    command += ["--appendonly", "no", "--requirepass", password]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return process, f"redis://:{quote(password)}@127.0.0.1:{port}/0", root
        time.sleep(0.05)
    process.kill()
    raise SystemExit("redis-server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--limit", default="150/5", help="the ads_write limit, N/SECONDS (default 150/5: 30 a second)")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--redis-url")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(worker(json.loads(args.worker)))))
        return
    server = None
    url = args.redis_url
    if url is None:
        server, url, root = start_redis()
    try:
        for variant in ("local", "redis"):
            run_variant(variant, args, url)
    finally:
        if server is not None:
            server.kill()
            server.wait()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
