"""Scripted and seeded faults, the latency model, and what a dropped connection looks like in process."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import SEED_AD_ACCOUNT_ID, SEED_APP_ID, SEED_APP_SECRET, Emulator
from pinaudience.emulator.faults import FaultPlan
from tests.emulator.emulator_helpers import assert_pinterest_error, create_list, emails, joined, lists_url
from tests.helpers import emulator_http

pytestmark = pytest.mark.anyio

ACCOUNT_URL = f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}"


async def set_faults(client: httpx.AsyncClient, plan: dict[str, Any]) -> None:
    response = await client.put("/_emulator/faults", json=plan)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("status", "code"), [(429, 8), (500, 500), (502, 502), (503, 503)])
async def test_scripted_statuses_hit_the_named_calls(
    emulator_client: httpx.AsyncClient, status: int, code: int
) -> None:
    """Calls 2 and 3 of the operation get the scripted status in Pinterest's error shape; others pass."""
    await emulator_client.get(ACCOUNT_URL)  # before the plan: not counted
    await set_faults(emulator_client, {"rules": [{"operation": "ad_accounts/get", "calls": [2, 3], "status": status}]})
    statuses = [(await emulator_client.get(ACCOUNT_URL)).status_code for _ in range(4)]
    assert statuses == [200, status, status, 200]
    await set_faults(emulator_client, {"rules": [{"operation": "ad_accounts/get", "calls": [1], "status": status}]})
    assert_pinterest_error(await emulator_client.get(ACCOUNT_URL), status, code)


async def test_calls_are_counted_per_operation(emulator_client: httpx.AsyncClient) -> None:
    """Other operations do not advance an operation's call count."""
    await set_faults(emulator_client, {"rules": [{"operation": "customer_lists/list", "calls": [2], "status": 503}]})
    assert (await emulator_client.get(lists_url())).status_code == 200
    assert (await emulator_client.get(ACCOUNT_URL)).status_code == 200
    assert (await emulator_client.get(lists_url())).status_code == 503


async def test_scripted_429_has_retry_after(emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """A scripted 429 carries the rule's retry_after (default 1 s) and the matching reset time, in the style of
    rate_limit_hints."""
    await emulator_client.put("/_emulator/settings", json={"rate_limit_hints": "retry_after_and_reset_at"})
    rule = {"operation": "ad_accounts/get", "calls": [1], "status": 429, "retry_after": 7}
    await set_faults(emulator_client, {"rules": [rule]})
    refused = await emulator_client.get(ACCOUNT_URL)
    assert refused.headers["retry-after"] == "7"
    assert int(refused.headers["x-ratelimit-reset"]) == int(clock.now()) + 7


async def test_delay_sleeps_on_the_clock(emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """A delay fault takes its seconds of (fake) time, then answers normally."""
    await set_faults(emulator_client, {"rules": [{"operation": "ad_accounts/get", "calls": [1], "delay": 12.5}]})
    before = clock.now()
    assert (await emulator_client.get(ACCOUNT_URL)).status_code == 200
    assert clock.now() - before == pytest.approx(12.5)


async def test_drop_before_applies_nothing(emulator_client: httpx.AsyncClient) -> None:
    """A drop (before) raises httpx.RemoteProtocolError in process and the write never happened."""
    await set_faults(emulator_client, {"rules": [{"operation": "customer_lists/create", "calls": [1], "drop": True}]})
    with pytest.raises(httpx.RemoteProtocolError):
        await emulator_client.post(lists_url(), json={"name": "n", "records": joined(emails(3))})
    assert (await emulator_client.get(lists_url())).json()["items"] == []


async def test_drop_after_applies_the_write(emulator_client: httpx.AsyncClient) -> None:
    """A drop (after) loses the answer of a write that did happen: the client cannot tell which it was."""
    await set_faults(
        emulator_client, {"rules": [{"operation": "customer_lists/create", "calls": [1], "drop": "after"}]}
    )
    with pytest.raises(httpx.RemoteProtocolError):
        await emulator_client.post(lists_url(), json={"name": "n", "records": joined(emails(3))})
    assert len((await emulator_client.get(lists_url())).json()["items"]) == 1


async def test_revoke_fault(emulator_client: httpx.AsyncClient) -> None:
    """A revoke fault revokes the caller's access token and answers 401 code 2; the refresh token still works."""
    await set_faults(emulator_client, {"rules": [{"operation": "customer_lists/list", "calls": [1], "revoke": True}]})
    assert_pinterest_error(await emulator_client.get(lists_url()), 401, 2)
    assert_pinterest_error(await emulator_client.get(ACCOUNT_URL), 401, 2)
    refreshed = await emulator_client.post(
        "/v5/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "pinr_emulator_refresh"},
        auth=(SEED_APP_ID, SEED_APP_SECRET),
    )
    token = refreshed.json()["access_token"]
    assert (await emulator_client.get(lists_url(), headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_clearing_faults(emulator_client: httpx.AsyncClient) -> None:
    """DELETE /_emulator/faults removes every rule."""
    await set_faults(emulator_client, {"rules": [{"operation": "ad_accounts/get", "calls": [1, 2], "status": 500}]})
    assert (await emulator_client.delete("/_emulator/faults")).status_code == 204
    assert (await emulator_client.get(ACCOUNT_URL)).status_code == 200


async def outcomes(emulator: Emulator, plan: dict[str, Any], calls: int) -> list[str]:
    emulator.settings.update({"per_second": 10_000, "ads_read_per_window": 10_000})
    async with emulator_http(emulator) as client:
        await set_faults(client, plan)
        seen = []
        for _ in range(calls):
            try:
                seen.append(str((await client.get(ACCOUNT_URL)).status_code))
            except httpx.RemoteProtocolError:
                seen.append("drop")
        return seen


async def test_random_mode_is_seeded(clock: FakeClock) -> None:
    """The same seed gives the same faults on the same calls; another seed gives others; rates are about right."""
    plan = {"random": {"seed": 7, "rates": {"503": 0.2, "drop": 0.1}}}
    first = await outcomes(Emulator(clock=clock), plan, 300)
    again = await outcomes(Emulator(clock=clock), plan, 300)
    other = await outcomes(Emulator(clock=clock), {"random": {**plan["random"], "seed": 8}}, 300)
    assert first == again
    assert first != other
    assert set(first) == {"200", "503", "drop"}
    assert 0.12 < first.count("503") / 300 < 0.28
    assert 0.04 < first.count("drop") / 300 < 0.16


async def test_random_mode_can_be_limited_to_operations(emulator: Emulator) -> None:
    """With `operations`, the random mode leaves other operations alone."""
    plan = {"random": {"seed": 1, "rates": {"500": 1.0}, "operations": ["customer_lists/update"]}}
    assert set(await outcomes(emulator, plan, 20)) == {"200"}


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"rules": [{"operation": "pins/create", "calls": [1], "status": 500}]}, "operation"),
        ({"rules": [{"operation": "ad_accounts/get", "calls": [0], "status": 500}]}, "calls"),
        ({"rules": [{"operation": "ad_accounts/get", "calls": [1], "status": 404}]}, "status"),
        ({"rules": [{"operation": "ad_accounts/get", "calls": [1]}]}, "rules[0]"),
        ({"rules": [{"operation": "ad_accounts/get", "calls": [1], "status": 500, "drop": True}]}, "rules[0]"),
        ({"random": {"seed": 1, "rates": {"404": 0.1}}}, "random.rates"),
        ({"random": {"seed": 1, "rates": {"503": 0.8, "drop": 0.5}}}, "random.rates"),
        ({"random": {"rates": {"503": 0.1}}}, "random.seed"),
        ({"chaos": True}, "chaos"),
    ],
)
async def test_bad_plans_are_refused(emulator_client: httpx.AsyncClient, plan: dict[str, Any], field: str) -> None:
    """A plan that cannot be followed is 400 code 1 naming the field, and the old plan stays."""
    await set_faults(emulator_client, {"rules": [{"operation": "ad_accounts/get", "calls": [1], "status": 502}]})
    response = await emulator_client.put("/_emulator/faults", json=plan)
    assert field in assert_pinterest_error(response, 400, 1)["message"]
    assert (await emulator_client.get(ACCOUNT_URL)).status_code == 502


def test_fault_plan_lists_its_rules() -> None:
    """A plan reports its rules and the calls counted so far."""
    plan = FaultPlan({"rules": [{"operation": "ad_accounts/get", "calls": 2, "status": 503}]})
    assert plan.next("ad_accounts/get") is None
    fault = plan.next("ad_accounts/get")
    assert fault is not None
    assert fault.status == 503
    assert plan.to_dict()["calls"] == {"ad_accounts/get": 2}


async def test_faults_are_logged(emulator_client: httpx.AsyncClient) -> None:
    """The request log names the fault a call got (a drop has no status)."""
    rules = [
        {"operation": "ad_accounts/get", "calls": [1], "status": 503},
        {"operation": "ad_accounts/get", "calls": [2], "drop": True},
    ]
    await set_faults(emulator_client, {"rules": rules})
    await emulator_client.get(ACCOUNT_URL)
    with pytest.raises(httpx.RemoteProtocolError):
        await emulator_client.get(ACCOUNT_URL)
    log = (await emulator_client.get("/_emulator/requests")).json()["requests"]
    assert [(e["status"], e["fault"]) for e in log] == [(503, "503"), (None, "drop")]


async def test_latency_model(emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Each request takes latency_ms plus latency_per_record_us per record, on the clock."""
    emulator.settings.latency_ms = 250
    emulator.settings.latency_per_record_us = 100
    before = clock.now()
    await emulator_client.get(ACCOUNT_URL)
    assert clock.now() - before == pytest.approx(0.25)
    before = clock.now()
    await create_list(emulator_client, emails(1000))
    assert clock.now() - before == pytest.approx(0.25 + 0.1)
