"""Small builders shared by the emulator's tests (records, lists, URLs)."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

import httpx

from pinaudience.emulator import SEED_AD_ACCOUNT_ID
from tests.helpers import emails as shared_emails

emails = partial(shared_emails, local="user")
"""`emails(n, start=0, domain="example.com")`: the emulator's tests address `user{i}@{domain}`."""


def sha256s(count: int, start: int = 0) -> list[str]:
    return [hashlib.sha256(f"device-{i}".encode()).hexdigest() for i in range(start, start + count)]


def joined(records: list[str]) -> str:
    return ",".join(records)


def lists_url(account: str = SEED_AD_ACCOUNT_ID) -> str:
    return f"/v5/ad_accounts/{account}/customer_lists"


def audiences_url(account: str = SEED_AD_ACCOUNT_ID) -> str:
    return f"/v5/ad_accounts/{account}/audiences"


async def create_list(
    client: httpx.AsyncClient, records: list[str], *, name: str = "segment", list_type: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "records": joined(records)}
    if list_type is not None:
        body["list_type"] = list_type
    response = await client.post(lists_url(), json=body)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def update_list(client: httpx.AsyncClient, list_id: str, operation: str, records: list[str]) -> httpx.Response:
    return await client.patch(
        f"{lists_url()}/{list_id}", json={"operation_type": operation, "records": joined(records)}
    )


async def members(client: httpx.AsyncClient, list_id: str) -> list[str]:
    response = await client.get(f"/_emulator/customer_lists/{list_id}/records")
    assert response.status_code == 200, response.text
    found: list[str] = response.json()["records"]
    return found


async def create_audience(client: httpx.AsyncClient, list_id: str, name: str = "audience") -> httpx.Response:
    return await client.post(
        audiences_url(),
        json={"audience_type": "CUSTOMER_LIST", "name": name, "rule": {"customer_list_id": list_id}},
    )


def assert_pinterest_error(response: httpx.Response, status: int, code: int | None = None) -> dict[str, Any]:
    """The answer is Pinterest's error shape, exactly `{"code": int, "message": str}`, with the given status."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message"}
    assert isinstance(body["code"], int)
    assert isinstance(body["message"], str)
    assert body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


def events_url(account: str = SEED_AD_ACCOUNT_ID) -> str:
    return f"/v5/ad_accounts/{account}/events"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def conversion_event(index: int = 0, *, event_time: Any = 1_767_225_000, **changes: Any) -> dict[str, Any]:
    """A checkout event Pinterest processes: a hashed email, a value; `changes` replace or add top-level fields."""
    event: dict[str, Any] = {
        "event_name": "checkout",
        "action_source": "web",
        "event_time": event_time,
        "event_id": f"order-{index}",
        "user_data": {"em": [sha256(f"user{index}@example.com")]},
        "custom_data": {"currency": "USD", "value": "72.39", "order_id": f"order-{index}"},
    }
    event.update(changes)
    return event
