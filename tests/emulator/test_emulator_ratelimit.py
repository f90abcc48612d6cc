"""Sliding-window rate limits per (user, app) and category, the 1-second ceiling and per-list write throttling."""

from __future__ import annotations

import math

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import Emulator, EmulatorSettings
from pinaudience.emulator.ratelimit import Limit, SlidingWindows
from pinaudience.pinterest import limits
from tests.emulator.emulator_helpers import assert_pinterest_error, create_list, emails, joined, lists_url, update_list

pytestmark = pytest.mark.anyio


def test_defaults_are_pinterests() -> None:
    """The emulator's default limits are the numbers in pinaudience.pinterest.limits."""
    settings = EmulatorSettings()
    assert settings.ads_write_per_window == limits.STANDARD.ads_write.requests
    assert settings.ads_read_per_window == limits.STANDARD.ads_read.requests
    assert settings.window_s == limits.STANDARD.ads_write.window_s
    assert settings.per_second == limits.STANDARD.per_second
    assert settings.max_body_bytes == limits.MAX_BODY_BYTES
    assert settings.max_records_per_request is None  # Pinterest documents no ceiling
    assert settings.rate_limit_hints == "none"  # Pinterest documents no rate-limit headers


def test_sliding_window_frees_one_slot_at_a_time() -> None:
    """At most N in any window; a slot frees W after the request that held it; refusals use no slot."""
    windows = SlidingWindows()
    limit = [Limit("k", 3, 10.0)]
    assert [windows.acquire(limit, t) for t in (0.0, 4.0, 5.0)] == [0.0, 0.0, 0.0]
    assert windows.acquire(limit, 6.0) == pytest.approx(4.0)
    assert windows.acquire(limit, 9.0) == pytest.approx(1.0)
    assert windows.acquire(limit, 10.0) == 0.0
    assert windows.acquire(limit, 10.0) == pytest.approx(4.0)
    assert windows.acquire(limit, 14.0) == 0.0


def test_admission_needs_every_limit() -> None:
    """A request refused by one limit is recorded in none of them."""
    windows = SlidingWindows()
    small, big = Limit("small", 1, 10.0), Limit("big", 5, 10.0)
    assert windows.acquire([small, big], 0.0) == 0.0
    for _ in range(10):
        assert windows.acquire([small, big], 1.0) > 0
    assert [windows.acquire([big], 1.0) for _ in range(5)] == [0.0, 0.0, 0.0, 0.0, 1.0 * 9]


async def test_write_limit_answers_429_with_headers(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Past the ads_write limit: 429 code 8 (with Retry-After and X-RateLimit-Reset when rate_limit_hints says
    so); reads are not affected."""
    emulator.settings.rate_limit_hints = "retry_after_and_reset_at"
    emulator.settings.ads_write_per_window = 3
    body = {"name": "n", "records": joined(emails(1))}
    for _ in range(3):
        assert (await emulator_client.post(lists_url(), json=body)).status_code == 200
    clock.advance(20)
    refused = await emulator_client.post(lists_url(), json=body)
    assert_pinterest_error(refused, 429, 8)
    assert refused.headers["retry-after"] == "40"
    assert int(refused.headers["x-ratelimit-reset"]) == math.ceil(clock.now() + 40)
    assert (await emulator_client.get(lists_url())).status_code == 200
    clock.advance(40)
    assert (await emulator_client.post(lists_url(), json=body)).status_code == 200


async def test_window_slides(emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """The window slides: a slot frees window_s after each request, not at fixed boundaries (read from the
    Retry-After of rate_limit_hints "retry_after")."""
    emulator.settings.rate_limit_hints = "retry_after"
    emulator.settings.ads_read_per_window = 3
    url = lists_url()
    for gap in (0, 30, 10):
        clock.advance(gap)
        assert (await emulator_client.get(url)).status_code == 200
    clock.advance(10)  # t=50: requests at 0, 30, 40 fill the window
    assert (await emulator_client.get(url)).headers["retry-after"] == "10"
    clock.advance(10)  # t=60: the request at 0 has left
    assert (await emulator_client.get(url)).status_code == 200
    clock.advance(1)  # t=61: 30, 40, 60 fill it until 90
    assert (await emulator_client.get(url)).headers["retry-after"] == "29"


async def test_refused_requests_use_no_slot(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Hammering during a 429 does not push the reset further away."""
    emulator.settings.ads_read_per_window = 2
    statuses = [(await emulator_client.get(lists_url())).status_code for _ in range(12)]
    assert statuses == [200, 200] + [429] * 10
    clock.advance(emulator.settings.window_s)
    assert [(await emulator_client.get(lists_url())).status_code for _ in range(3)] == [200, 200, 429]


async def test_per_second_limit_spans_categories(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """per_second counts reads and writes together over a sliding second (Retry-After: rate_limit_hints)."""
    emulator.settings.rate_limit_hints = "retry_after"
    emulator.settings.per_second = 2
    assert (await emulator_client.get(lists_url())).status_code == 200
    assert (await emulator_client.post(lists_url(), json={"name": "n", "records": "a@example.com"})).is_success
    refused = await emulator_client.get(lists_url())
    assert_pinterest_error(refused, 429, 8)
    assert refused.headers["retry-after"] == "1"
    clock.advance(1)
    assert (await emulator_client.get(lists_url())).status_code == 200


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        ("none", {}),
        ("retry_after", {"retry-after": "60"}),
        ("reset_seconds", {"x-ratelimit-reset": "60"}),
        ("reset_at", {"x-ratelimit-reset": "AT"}),
        ("retry_after_and_reset_at", {"retry-after": "60", "x-ratelimit-reset": "AT"}),
    ],
)
async def test_rate_limit_hint_styles(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock, hints: str, expected: dict[str, str]
) -> None:
    """rate_limit_hints picks the 429's headers: none (the default), Retry-After, a relative or an absolute reset."""
    emulator.settings.ads_read_per_window = 1
    emulator.settings.rate_limit_hints = hints
    await emulator_client.get(lists_url())
    refused = await emulator_client.get(lists_url())
    assert_pinterest_error(refused, 429, 8)
    shown = {name: refused.headers[name] for name in ("retry-after", "x-ratelimit-reset") if name in refused.headers}
    at = str(math.ceil(clock.now() + 60))
    assert shown == {name: at if value == "AT" else value for name, value in expected.items()}


async def test_default_429_has_no_hint(emulator_client: httpx.AsyncClient) -> None:
    """By default a 429, rate limit or scripted, carries no hint header: Pinterest documents none for v5."""
    await emulator_client.put("/_emulator/settings", json={"ads_read_per_window": 1})
    await emulator_client.put(
        "/_emulator/faults", json={"rules": [{"operation": "ad_accounts/get", "calls": [1], "status": 429}]}
    )
    scripted = await emulator_client.get("/v5/ad_accounts/549755885175")
    await emulator_client.get(lists_url())
    limited = await emulator_client.get(lists_url())
    for refused in (scripted, limited):
        assert_pinterest_error(refused, 429, 8)
        assert "retry-after" not in refused.headers
        assert "x-ratelimit-reset" not in refused.headers


async def test_limits_are_per_user(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """Another user's token has its own window."""
    emulator.settings.ads_read_per_window = 1
    await emulator_client.post("/_emulator/users", json={"name": "other", "ad_accounts": {"549755885175": "ADMIN"}})
    other = (await emulator_client.post("/_emulator/tokens", json={"user": "other"})).json()["access_token"]
    assert (await emulator_client.get(lists_url())).status_code == 200
    assert (await emulator_client.get(lists_url())).status_code == 429
    assert (await emulator_client.get(lists_url(), headers={"Authorization": f"Bearer {other}"})).status_code == 200


async def test_unauthenticated_requests_use_no_slot(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """A request refused with 401 does not count against anyone's limit."""
    emulator.settings.ads_read_per_window = 1
    for _ in range(3):
        response = await emulator_client.get(lists_url(), headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401
    assert (await emulator_client.get(lists_url())).status_code == 200


async def test_per_list_write_throttle(
    emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """With list_writes_per_window set, quick writes to one list get 429 while other lists are unaffected
    (Retry-After: rate_limit_hints)."""
    emulator.settings.rate_limit_hints = "retry_after"
    first = await create_list(emulator_client, emails(1), name="first")
    second = await create_list(emulator_client, emails(1), name="second")
    emulator.settings.list_writes_per_window = 1
    emulator.settings.list_write_window_s = 2.0
    assert (await update_list(emulator_client, first["id"], "ADD", emails(1, start=5))).status_code == 200
    refused = await update_list(emulator_client, first["id"], "ADD", emails(1, start=6))
    assert_pinterest_error(refused, 429, 8)
    assert refused.headers["retry-after"] == "2"
    assert (await update_list(emulator_client, second["id"], "ADD", emails(1, start=5))).status_code == 200
    clock.advance(2)
    assert (await update_list(emulator_client, first["id"], "ADD", emails(1, start=6))).status_code == 200


async def test_window_length_scales_time(emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """A short window_s set through the admin API makes the limit free up that much sooner."""
    await emulator_client.put("/_emulator/settings", json={"ads_write_per_window": 2, "window_s": 0.5})
    body = {"name": "n", "records": "a@example.com"}
    assert [(await emulator_client.post(lists_url(), json=body)).status_code for _ in range(3)] == [200, 200, 429]
    clock.advance(0.5)
    assert (await emulator_client.post(lists_url(), json=body)).status_code == 200
