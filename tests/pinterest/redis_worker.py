"""One worker process of the shared-limiter tests and benchmark: `python -m tests.pinterest.redis_worker SPEC`.

SPEC is JSON: `url`, `scope`, `calls`, `start_at` (Unix seconds to wait for, so that every worker starts
contending at once), `limit` ([N, window_s]) and `per_second`. The worker takes `calls` grants of `ads_write`
from a `RedisRateLimiter` and prints the Redis time of each as one JSON list.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from pinaudience.clock import SystemClock
from pinaudience.pinterest.limits import Category, RateLimit
from pinaudience.pinterest.redis_ratelimit import RedisRateLimiter


async def work(spec: dict[str, object]) -> list[float]:
    times: list[float] = []
    limit = spec["limit"]
    assert isinstance(limit, list)
    per_second = spec.get("per_second")
    limiter = RedisRateLimiter(
        str(spec["url"]),
        SystemClock(),
        {Category.ADS_WRITE: RateLimit(int(limit[0]), float(limit[1]))},
        int(per_second) if isinstance(per_second, int) else None,
        scope=str(spec["scope"]),
        on_grant=lambda _category, at: times.append(at),
    )
    async with limiter:
        start_at = spec["start_at"]
        assert isinstance(start_at, int | float)
        await asyncio.sleep(max(start_at - time.time(), 0.0))
        calls = spec["calls"]
        assert isinstance(calls, int)
        for _ in range(calls):
            await limiter.acquire(Category.ADS_WRITE)
    return times


if __name__ == "__main__":
    print(json.dumps(asyncio.run(work(json.loads(sys.argv[1])))))
