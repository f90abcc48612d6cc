"""Customer lists and audiences: counters, membership, matching, status, pagination and validation."""

from __future__ import annotations

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import RID_HEADER, Emulator
from pinaudience.emulator.records import is_matched
from tests.emulator.emulator_helpers import (
    assert_pinterest_error,
    audiences_url,
    create_audience,
    create_list,
    emails,
    joined,
    lists_url,
    members,
    sha256s,
    update_list,
)

pytestmark = pytest.mark.anyio


async def test_create_returns_pinterest_list(emulator_client: httpx.AsyncClient, ad_account_id: str) -> None:
    """A new list counts one batch and every record uploaded, with Pinterest's field names."""
    created = await create_list(emulator_client, emails(250), name="Newsletter")
    assert created["id"].isdigit()
    assert created["ad_account_id"] == ad_account_id
    assert created["name"] == "Newsletter"
    assert created["type"] == "customerlist"
    assert created["num_batches"] == 1
    assert created["num_uploaded_user_records"] == 250
    assert created["num_removed_user_records"] == 0
    assert created["exceptions"] == {}
    assert created["status"] in {"READY", "TOO_SMALL"}
    assert "list_type" not in created
    assert sorted(await members(emulator_client, created["id"])) == sorted(emails(250))


async def test_add_and_remove_are_idempotent_on_membership(emulator_client: httpx.AsyncClient) -> None:
    """Adding present records or removing absent ones leaves membership alone but still counts them."""
    created = await create_list(emulator_client, emails(10))
    list_id = created["id"]
    again = (await update_list(emulator_client, list_id, "ADD", emails(10))).json()
    assert again["num_uploaded_user_records"] == 20
    assert again["num_batches"] == 2
    assert sorted(await members(emulator_client, list_id)) == sorted(emails(10))

    absent = (await update_list(emulator_client, list_id, "REMOVE", emails(5, start=100))).json()
    assert absent["num_removed_user_records"] == 5
    assert absent["num_batches"] == 3
    assert sorted(await members(emulator_client, list_id)) == sorted(emails(10))


async def test_membership_follows_adds_and_removes(emulator_client: httpx.AsyncClient) -> None:
    """After a mix of overlapping adds and removes the list holds exactly the set they describe."""
    created = await create_list(emulator_client, emails(50))
    expected = set(emails(50))
    steps = [("ADD", emails(40, start=30)), ("REMOVE", emails(25, start=10)), ("ADD", emails(5, start=12))]
    for operation, batch in steps:
        response = await update_list(emulator_client, created["id"], operation, batch)
        assert response.status_code == 200
        expected = expected | set(batch) if operation == "ADD" else expected - set(batch)
    assert sorted(await members(emulator_client, created["id"])) == sorted(expected)


async def test_duplicates_in_one_request_count_once_in_membership(emulator_client: httpx.AsyncClient) -> None:
    """A record sent twice in one request is one member, though both count as uploaded."""
    created = await create_list(emulator_client, ["a@example.com", "a@example.com", "b@example.com"])
    assert created["num_uploaded_user_records"] == 3
    assert sorted(await members(emulator_client, created["id"])) == ["a@example.com", "b@example.com"]


async def test_matching_is_a_fixed_function_of_the_record(emulator_client: httpx.AsyncClient) -> None:
    """The same records give the same audience size in two lists, close to the match rate."""
    records = sha256s(2000)
    sizes = []
    for name in ("first", "second"):
        created = await create_list(emulator_client, records, name=name, list_type="MAID")
        response = await create_audience(emulator_client, created["id"], name=name)
        sizes.append(response.json()["size"])
    assert sizes[0] == sizes[1]
    assert sizes[0] == sum(is_matched(r, 0.6) for r in records)
    assert 0.55 * 2000 < sizes[0] < 0.65 * 2000


@pytest.mark.parametrize(("match_rate", "expected_share"), [(0.0, 0.0), (1.0, 1.0)])
async def test_match_rate_bounds(
    emulator: Emulator, emulator_client: httpx.AsyncClient, match_rate: float, expected_share: float
) -> None:
    """A match rate of 0 matches nobody and 1 matches everybody."""
    emulator.settings.match_rate = match_rate
    created = await create_list(emulator_client, emails(200))
    assert created["status"] == ("READY" if expected_share else "TOO_SMALL")
    response = await create_audience(emulator_client, created["id"])
    if expected_share:
        assert response.json()["size"] == 200
    else:
        assert_pinterest_error(response, 400, 1)


async def test_status_follows_matched_members(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """A list is TOO_SMALL under 100 matched members and READY from 100."""
    emulator.settings.match_rate = 1.0
    created = await create_list(emulator_client, emails(99))
    assert created["status"] == "TOO_SMALL"
    grown = (await update_list(emulator_client, created["id"], "ADD", emails(1, start=99))).json()
    assert grown["status"] == "READY"
    shrunk = (await update_list(emulator_client, created["id"], "REMOVE", emails(1))).json()
    assert shrunk["status"] == "TOO_SMALL"


async def test_processing_delay(emulator: Emulator, emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """A list shows PROCESSING for processing_delay_s after each change, then its final status."""
    emulator.settings.processing_delay_s = 30
    emulator.settings.match_rate = 1.0
    created = await create_list(emulator_client, emails(150))
    assert created["status"] == "PROCESSING"
    url = f"{lists_url()}/{created['id']}"
    clock.advance(29)
    assert (await emulator_client.get(url)).json()["status"] == "PROCESSING"
    clock.advance(1)
    assert (await emulator_client.get(url)).json()["status"] == "READY"
    updated = (await update_list(emulator_client, created["id"], "ADD", emails(1, start=500))).json()
    assert updated["status"] == "PROCESSING"


async def test_audience_size_follows_its_list(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """An audience's size is its list's matched members and its status READY or TOO_SMALL."""
    emulator.settings.match_rate = 1.0
    created = await create_list(emulator_client, emails(120))
    audience = (await create_audience(emulator_client, created["id"])).json()
    assert audience["size"] == 120
    assert audience["status"] == "READY"
    assert audience["audience_type"] == "CUSTOMER_LIST"
    assert audience["rule"] == {"customer_list_id": created["id"]}
    assert audience["type"] == "audience"
    await update_list(emulator_client, created["id"], "REMOVE", emails(30))
    now = (await emulator_client.get(f"{audiences_url()}/{audience['id']}")).json()
    assert now["size"] == 90
    assert now["status"] == "TOO_SMALL"


async def test_audience_needs_100_matched_members(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """Creating an audience on a list with fewer than 100 matched members is 400 code 1, naming the rule."""
    emulator.settings.match_rate = 1.0
    created = await create_list(emulator_client, emails(99))
    body = assert_pinterest_error(await create_audience(emulator_client, created["id"]), 400, 1)
    assert "customer_list_id" in body["message"]


async def test_audience_on_unknown_list(emulator_client: httpx.AsyncClient) -> None:
    """An audience on a list that is not in the account is refused with 400 code 1."""
    assert_pinterest_error(await create_audience(emulator_client, "123"), 400, 1)


async def test_removed_audience_disappears(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """An audience removed with REMOVE is gone from listings and gets 404."""
    emulator.settings.match_rate = 1.0
    created = await create_list(emulator_client, emails(100))
    keep = (await create_audience(emulator_client, created["id"], name="keep")).json()
    gone = (await create_audience(emulator_client, created["id"], name="gone")).json()
    response = await emulator_client.patch(f"{audiences_url()}/{gone['id']}", json={"operation_type": "REMOVE"})
    assert response.status_code == 200
    listed = (await emulator_client.get(audiences_url())).json()
    assert [a["id"] for a in listed["items"]] == [keep["id"]]
    assert_pinterest_error(await emulator_client.get(f"{audiences_url()}/{gone['id']}"), 404)
    again = await emulator_client.patch(f"{audiences_url()}/{gone['id']}", json={"operation_type": "REMOVE"})
    assert_pinterest_error(again, 404)


async def test_audience_update_renames_but_keeps_its_list(
    emulator: Emulator, emulator_client: httpx.AsyncClient
) -> None:
    """UPDATE changes the name and description; a different customer_list_id is refused."""
    emulator.settings.match_rate = 1.0
    created = await create_list(emulator_client, emails(100))
    audience = (await create_audience(emulator_client, created["id"])).json()
    url = f"{audiences_url()}/{audience['id']}"
    renamed = (await emulator_client.patch(url, json={"name": "renamed", "description": "d"})).json()
    assert renamed["name"] == "renamed"
    assert renamed["description"] == "d"
    moved = await emulator_client.patch(url, json={"rule": {"customer_list_id": "1"}})
    assert "customer_list_id" in assert_pinterest_error(moved, 400, 1)["message"]


async def test_list_pagination(emulator_client: httpx.AsyncClient) -> None:
    """Pages of page_size by id, a bookmark to the next, null at the end; DESCENDING reverses."""
    created = [(await create_list(emulator_client, emails(1), name=f"l{i}"))["id"] for i in range(7)]
    for order, expected in (("ASCENDING", created), ("DESCENDING", created[::-1])):
        seen: list[str] = []
        params: dict[str, str | int] = {"page_size": 3, "order": order}
        pages = 0
        while True:
            page = (await emulator_client.get(lists_url(), params=params)).json()
            pages += 1
            seen += [item["id"] for item in page["items"]]
            if page["bookmark"] is None:
                break
            params["bookmark"] = page["bookmark"]
        assert seen == expected
        assert pages == 3


async def test_audience_pagination_and_ownership(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """Audiences page the same way; RECEIVED audiences are none."""
    emulator.settings.match_rate = 1.0
    created = await create_list(emulator_client, emails(100))
    ids = [(await create_audience(emulator_client, created["id"], name=f"a{i}")).json()["id"] for i in range(3)]
    first = (await emulator_client.get(audiences_url(), params={"page_size": 2})).json()
    second = (await emulator_client.get(audiences_url(), params={"page_size": 2, "bookmark": first["bookmark"]})).json()
    assert [a["id"] for a in first["items"] + second["items"]] == ids
    assert second["bookmark"] is None
    received = (await emulator_client.get(audiences_url(), params={"ownership_type": "RECEIVED"})).json()
    assert received == {"items": [], "bookmark": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 251}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"order": "UP"}, "order"),
        ({"bookmark": "not-a-bookmark"}, "bookmark"),
    ],
)
async def test_bad_listing_parameters(
    emulator_client: httpx.AsyncClient, params: dict[str, str | int], field: str
) -> None:
    """A bad page_size, order or bookmark is 400 code 1 naming the parameter."""
    for url in (lists_url(), audiences_url()):
        body = assert_pinterest_error(await emulator_client.get(url, params=params), 400, 1)
        assert field in body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"records": "a@example.com"}, "name"),
        ({"name": "n"}, "records"),
        ({"name": "n", "records": ["a@example.com"]}, "records"),
        ({"name": "n", "records": "a@example.com", "list_type": "PHONE"}, "list_type"),
        ({"name": "n", "records": "Upper@Example.com"}, "lowercase"),
        ({"name": "n", "records": "not-an-email"}, "records"),
        ({"name": "n", "records": "a@example.com", "list_type": "MAID"}, "MAID"),
        ({"name": "n", "records": "ABCDEF0123456789ABCDEF0123456789", "list_type": "IDFA"}, "IDFA"),
        ({"name": "n", "records": ",,"}, "records"),
        ({"name": 5, "records": "a@example.com"}, "name"),
    ],
)
async def test_create_validation(
    emulator: Emulator, emulator_client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    """A bad create body is 400 code 1 with a message naming the field, and creates nothing (bad records only with
    the setting `strict_records`)."""
    emulator.settings.strict_records = True
    response = await emulator_client.post(lists_url(), json=body)
    assert field in assert_pinterest_error(response, 400, 1)["message"]
    assert (await emulator_client.get(lists_url())).json()["items"] == []


async def test_update_validation_applies_nothing(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """A bad update (bad operation, or one bad record with the setting `strict_records`) changes neither membership
    nor counters."""
    emulator.settings.strict_records = True
    created = await create_list(emulator_client, emails(3))
    url = f"{lists_url()}/{created['id']}"
    replace = await emulator_client.patch(url, json={"operation_type": "REPLACE", "records": "x@example.com"})
    assert "operation_type" in assert_pinterest_error(replace, 400, 1)["message"]
    secret_record = "Secret.Person@Example.com"
    bad = await update_list(emulator_client, created["id"], "ADD", ["ok@example.com", secret_record])
    message = assert_pinterest_error(bad, 400, 1)["message"]
    assert "record 2" in message
    assert secret_record not in message
    assert secret_record.lower() not in message
    after = (await emulator_client.get(url)).json()
    assert after["num_batches"] == 1
    assert after["num_uploaded_user_records"] == 3
    assert sorted(await members(emulator_client, created["id"])) == sorted(emails(3))


async def test_hashed_records_are_accepted_per_list_type(emulator_client: httpx.AsyncClient) -> None:
    """Emails may be plain or hashed (MD5, SHA1, SHA256); MAIDs and IDFAs must be hashes."""
    mixed = ["plain@example.com", "0" * 32, "1" * 40, sha256s(1)[0]]
    email_list = await create_list(emulator_client, mixed)
    assert sorted(await members(emulator_client, email_list["id"])) == sorted(mixed)
    for list_type in ("MAID", "IDFA"):
        created = await create_list(emulator_client, sha256s(3), list_type=list_type)
        assert created["num_uploaded_user_records"] == 3


async def test_record_and_body_ceilings(emulator: Emulator, emulator_client: httpx.AsyncClient) -> None:
    """More records than max_records_per_request (when set) is 400; a body over max_body_bytes is 413 in Pinterest's
    JSON shape while `gateway_html` is off."""
    emulator.settings.max_records_per_request = 10
    too_many = await emulator_client.post(lists_url(), json={"name": "n", "records": joined(emails(11))})
    assert "records" in assert_pinterest_error(too_many, 400, 1)["message"]
    assert (await emulator_client.post(lists_url(), json={"name": "n", "records": joined(emails(10))})).is_success
    emulator.settings.max_body_bytes = 200
    too_big = await emulator_client.post(lists_url(), json={"name": "n", "records": joined(emails(10))})
    assert_pinterest_error(too_big, 413)


async def test_malformed_bodies(emulator_client: httpx.AsyncClient) -> None:
    """A body that is not JSON, or not an object, is 400 code 1."""
    not_json = await emulator_client.post(lists_url(), content=b"{nope", headers={"content-type": "application/json"})
    assert_pinterest_error(not_json, 400, 1)
    assert_pinterest_error(await emulator_client.post(lists_url(), json=["a"]), 400, 1)
    assert_pinterest_error(await emulator_client.post(lists_url()), 400, 1)


@pytest.mark.parametrize("bad_id", ["abc", "1234567890123456789", "-1"])
async def test_ids_are_checked(emulator_client: httpx.AsyncClient, bad_id: str) -> None:
    """Ids must match ^\\d{1,18}$: anything else is 400 code 1 naming the id."""
    response = await emulator_client.get(f"/v5/ad_accounts/{bad_id}")
    assert "ad_account_id" in assert_pinterest_error(response, 400, 1)["message"]
    response = await emulator_client.get(f"{lists_url()}/{bad_id}")
    assert "customer_list_id" in assert_pinterest_error(response, 400, 1)["message"]
    response = await emulator_client.get(f"{audiences_url()}/{bad_id}")
    assert "audience_id" in assert_pinterest_error(response, 400, 1)["message"]


async def test_unknown_objects_are_404(emulator_client: httpx.AsyncClient) -> None:
    """Unknown ad accounts, lists and audiences answer 404 in Pinterest's error shape."""
    assert_pinterest_error(await emulator_client.get("/v5/ad_accounts/1"), 404)
    assert_pinterest_error(await emulator_client.get(f"{lists_url()}/42"), 404)
    assert_pinterest_error(await emulator_client.get(f"{audiences_url()}/42"), 404)
    assert_pinterest_error(await update_list(emulator_client, "42", "ADD", emails(1)), 404)
    assert_pinterest_error(await emulator_client.get("/v5/no/such/endpoint"), 404)


async def test_every_response_has_a_request_id(emulator_client: httpx.AsyncClient) -> None:
    """Success, error, unknown route and admin answers all carry x-pinterest-rid, each a new one."""
    responses = [
        await emulator_client.get("/v5/ad_accounts/549755885175"),
        await emulator_client.get("/v5/ad_accounts/1"),
        await emulator_client.get("/nowhere"),
        await emulator_client.get("/_emulator/settings"),
        await emulator_client.get("/v5/ad_accounts/549755885175", headers={"Authorization": "Bearer nope"}),
    ]
    rids = [r.headers.get(RID_HEADER) for r in responses]
    assert all(rids)
    assert len(set(rids)) == len(rids)


async def test_ad_account_get(emulator_client: httpx.AsyncClient, ad_account_id: str) -> None:
    """The seed ad account shows its owner and the caller's permissions."""
    account = (await emulator_client.get(f"/v5/ad_accounts/{ad_account_id}")).json()
    assert account["id"] == ad_account_id
    assert account["owner"]["username"] == "emulator-user"
    assert account["permissions"] == ["OWNER"]


@pytest.mark.parametrize(
    ("method", "url", "content"),
    [
        ("POST", lists_url(), b'{"name": "\\ud800", "records": "a@example.com"}'),
        ("POST", lists_url(), b'{"name": "n", "records": "a@example.com,\\udfff@example.com"}'),
        ("POST", lists_url(), b"[" * 100_000 + b"]" * 100_000),
        ("POST", lists_url(), b"\xff\xfe not utf-8"),
        ("GET", "/v5/ad_accounts/%D9%A1%D9%A2%D9%A3", b""),
        ("GET", lists_url() + "?page_size=%C2%B2", b""),
        ("GET", lists_url() + "?bookmark=%F0%9F%92%A5", b""),
    ],
)
async def test_odd_inputs_are_400_not_500(
    emulator_client: httpx.AsyncClient, method: str, url: str, content: bytes
) -> None:
    """Lone surrogates, deep nesting, bad UTF-8 and non-ASCII digits are refused as invalid parameters."""
    response = await emulator_client.request(method, url, content=content, headers={"content-type": "application/json"})
    assert_pinterest_error(response, 400, 1)
