"""Pinterest's official Python SDK (`pinterest-api-sdk`) drives the emulator on a loopback socket.

The SDK deserialises every answer into its generated models (types, patterns, nested objects), so an answer
of the wrong shape fails here even where the OpenAPI contract tests would pass it. The SDK speaks urllib3,
hence a real socket (`serving`), not the in-process transport.

The SDK is a counter-example of design (STYLE.md): it loads `.env` and any `config.json` it finds around the
working directory into the environment when imported, and keeps a global default client. So it is imported
once from an empty directory with the environment restored afterwards, every call is given its own client,
and each test checks that the global default was never set or used.

Every test runs in both profiles, `default` and `realistic`; `settle` moves the emulator's clock past the
matching delay and the per-object write window (settings `processing_delay_s`, `list_write_window_s`) where a
test writes to one object twice or needs a list matched.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pinaudience.emulator import PROFILE_NAMES, RID_HEADER, SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, Emulator, serving
from pinaudience.emulator.records import is_matched
from pinaudience.pinterest.limits import MIN_AUDIENCE_RECORDS
from tests.emulator.emulator_helpers import emails, sha256, sha256s

pytestmark = [
    # The SDK pins urllib3 1.26 and calls its deprecated `getheader(s)`; that warning is the SDK's, not ours.
    pytest.mark.filterwarnings(r"ignore:HTTPResponse\.getheader:DeprecationWarning"),
]


@dataclass(frozen=True)
class Sdk:
    """The parts of Pinterest's SDK the tests use."""

    client_module: Any  # the SDK's `pinterest.client` module: untyped, and its global default client is set below
    PinterestSDKClient: Any
    Configuration: Any
    ApiException: type[Exception]
    CustomerList: Any
    Audience: Any
    AdAccount: Any
    AudiencesApi: Any
    AudienceUpdateRequest: Any
    AudienceUpdateOperationType: Any
    Conversion: Any


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Sdk:
    """The SDK, imported from an empty directory with no PINTEREST_* variables; the environment is then restored."""
    pytest.importorskip("pinterest", reason="pinterest-api-sdk is in the `test` extra")
    saved_env = dict(os.environ)
    saved_cwd = Path.cwd()
    # It searches the parent of the working directory for config.json: make that parent hold nothing else.
    empty = tmp_path_factory.mktemp("sdk-import") / "cwd"
    empty.mkdir()
    for name in [n for n in os.environ if n.startswith("PINTEREST_")]:
        del os.environ[name]
    os.chdir(empty)
    try:
        modules = {
            name: importlib.import_module(name)
            for name in (
                "pinterest.client",
                "pinterest.ads.customer_lists",
                "pinterest.ads.audiences",
                "pinterest.ads.ad_accounts",
                "pinterest.ads.conversion_events",
                "openapi_generated.pinterest_client.configuration",
                "openapi_generated.pinterest_client.exceptions",
                "openapi_generated.pinterest_client.api.audiences_api",
                "openapi_generated.pinterest_client.model.audience_update_request",
                "openapi_generated.pinterest_client.model.audience_update_operation_type",
            )
        }
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Sdk(
        client_module=modules["pinterest.client"],
        PinterestSDKClient=modules["pinterest.client"].PinterestSDKClient,
        Configuration=modules["openapi_generated.pinterest_client.configuration"].Configuration,
        ApiException=modules["openapi_generated.pinterest_client.exceptions"].ApiException,
        CustomerList=modules["pinterest.ads.customer_lists"].CustomerList,
        Audience=modules["pinterest.ads.audiences"].Audience,
        AdAccount=modules["pinterest.ads.ad_accounts"].AdAccount,
        AudiencesApi=modules["openapi_generated.pinterest_client.api.audiences_api"].AudiencesApi,
        AudienceUpdateRequest=modules[
            "openapi_generated.pinterest_client.model.audience_update_request"
        ].AudienceUpdateRequest,
        AudienceUpdateOperationType=modules[
            "openapi_generated.pinterest_client.model.audience_update_operation_type"
        ].AudienceUpdateOperationType,
        Conversion=modules["pinterest.ads.conversion_events"].Conversion,
    )


@dataclass
class Served:
    """The emulator on a loopback port, an SDK client of it and a plain client for the admin API."""

    url: str
    client: Any
    admin: httpx.Client
    emulator: Emulator


@pytest.fixture(params=PROFILE_NAMES)
def served(sdk: Sdk, request: pytest.FixtureRequest) -> Iterator[Served]:
    """A fresh emulator in each profile served on loopback, with an SDK client holding the seed token and every
    client-side check on."""
    module = sdk.client_module
    saved_default = module.default_sdk_client
    module.default_sdk_client = None
    emulator = Emulator(profile=request.param)
    with serving(emulator) as url, httpx.Client(base_url=url) as admin:
        # A configuration of our own: the SDK's helpers would take the host from import-time globals and turn off
        # its pattern and length checks, which are exactly what should judge the emulator's answers.
        configuration = sdk.Configuration(host=url + "/v5", access_token=SEED_ACCESS_TOKEN)
        client = sdk.PinterestSDKClient(configuration=configuration)
        try:
            yield Served(url=url, client=client, admin=admin, emulator=emulator)
        finally:
            client.close()
            client.rest_client.pool_manager.clear()
    emulator.close()
    leaked = module.default_sdk_client
    module.default_sdk_client = saved_default
    assert leaked is None, "an SDK call fell back to the global default client"


def settle(served: Served) -> None:
    """Let the emulator's time pass the matching delay and the per-object write window."""
    settings = served.emulator.settings
    served.emulator.advance(settings.processing_delay_s + settings.list_write_window_s)


def _error_keys(served: Served) -> set[str]:
    """The keys of a Pinterest error body: code and message, and more with the setting `error_extra_keys`."""
    extra = {"status", "host", "generated_at", "data"} if served.emulator.settings.error_extra_keys else set()
    return {"code", "message"} | extra


def _members(served: Served, list_id: str) -> list[str]:
    response = served.admin.get(f"/_emulator/customer_lists/{list_id}/records")
    assert response.status_code == 200, response.text
    found: list[str] = response.json()["records"]
    return found


def _matched_records(served: Served, matched: int, unmatched: int) -> list[str]:
    """Emails of which exactly `matched` are Pinterest users at the emulator's current `match_rate`."""
    rate = served.admin.get("/_emulator/settings").json()["match_rate"]
    chosen_matched: list[str] = []
    chosen_other: list[str] = []
    index = 0
    while len(chosen_matched) < matched or len(chosen_other) < unmatched:
        record = f"sdk-user{index}@example.com"
        index += 1
        if is_matched(record, rate):
            if len(chosen_matched) < matched:
                chosen_matched.append(record)
        elif len(chosen_other) < unmatched:
            chosen_other.append(record)
    return chosen_matched + chosen_other


def _all_pages(first: tuple[list[Any], Any]) -> list[list[str]]:
    """Ids page by page, following the SDK's bookmarks to the end."""
    items, bookmark = first
    pages = [[item.id for item in items]]
    while bookmark is not None:
        items, bookmark = bookmark.get_next()
        pages.append([item.id for item in items])
    return pages


def _error_body(sdk: Sdk, call: Callable[[], object]) -> tuple[int, dict[str, Any], Any]:
    with pytest.raises(sdk.ApiException) as raised:
        call()
    error: Any = raised.value
    return error.status, json.loads(error.body), error.headers


def test_sdk_creates_updates_and_reads_a_list(sdk: Sdk, served: Served) -> None:
    """Create, ADD, REMOVE and get through the SDK: its models hold Pinterest's counters and the membership follows."""
    created = sdk.CustomerList.create(SEED_AD_ACCOUNT_ID, "SDK newsletter", ",".join(emails(150)), client=served.client)
    assert created.id.isdigit()
    assert created.name == "SDK newsletter"
    assert created.ad_account_id == SEED_AD_ACCOUNT_ID
    assert created.type == "customerlist"
    assert created.num_batches == 1
    assert created.num_uploaded_user_records == 150
    assert created.status in {"PROCESSING", "READY", "TOO_SMALL"}
    assert created.exceptions == {}

    settle(served)
    assert created.add_record(",".join(emails(10, start=145))) is True
    assert created.num_batches == 2
    assert created.num_uploaded_user_records == 160
    settle(served)
    assert created.remove_record(",".join(emails(20))) is True
    assert created.num_batches == 3
    assert created.num_removed_user_records == 20

    fetched = sdk.CustomerList(SEED_AD_ACCOUNT_ID, created.id, client=served.client)
    assert (fetched.num_batches, fetched.num_uploaded_user_records, fetched.num_removed_user_records) == (3, 160, 20)
    assert fetched.updated_time >= fetched.created_time
    assert sorted(_members(served, created.id)) == sorted(emails(135, start=20))


def test_sdk_creates_lists_of_hashed_device_ids(sdk: Sdk, served: Served) -> None:
    """A MAID list of SHA-256 hashes created through the SDK is accepted and counted."""
    created = sdk.CustomerList.create(
        SEED_AD_ACCOUNT_ID, "SDK devices", ",".join(sha256s(30)), list_type="MAID", client=served.client
    )
    assert created.num_uploaded_user_records == 30
    assert sorted(_members(served, created.id)) == sorted(sha256s(30))


def test_sdk_creates_updates_and_removes_an_audience(sdk: Sdk, served: Served) -> None:
    """An audience on a list with enough matched members has their count as size; REMOVE makes it a 404, or
    REMOVED with the setting `removed_audiences` "listed"."""
    records = _matched_records(served, matched=MIN_AUDIENCE_RECORDS + 20, unmatched=40)
    customer_list = sdk.CustomerList.create(SEED_AD_ACCOUNT_ID, "SDK buyers", ",".join(records), client=served.client)
    settle(served)
    assert sdk.CustomerList(SEED_AD_ACCOUNT_ID, customer_list.id, client=served.client).status == "READY"

    audience = sdk.Audience.create(
        SEED_AD_ACCOUNT_ID,
        "SDK buyers audience",
        {"customer_list_id": customer_list.id},
        "CUSTOMER_LIST",
        description="from the SDK",
        client=served.client,
    )
    assert audience.id.isdigit()
    assert audience.audience_type == "CUSTOMER_LIST"
    assert audience.size == MIN_AUDIENCE_RECORDS + 20
    assert audience.status == "READY"
    assert audience.rule.customer_list_id == customer_list.id
    assert audience.description == "from the SDK"
    assert audience.type == "audience"

    assert audience.update_fields(client=served.client, name="SDK renamed") is True
    assert audience.name == "SDK renamed"

    settle(served)
    api = sdk.AudiencesApi(served.client)
    removed = api.audiences_update(
        SEED_AD_ACCOUNT_ID,
        audience.id,
        audience_update_request=sdk.AudienceUpdateRequest(operation_type=sdk.AudienceUpdateOperationType("REMOVE")),
    )
    assert removed.id == audience.id
    if served.emulator.settings.removed_audiences == "listed":
        assert sdk.Audience(SEED_AD_ACCOUNT_ID, audience.id, client=served.client).status == "REMOVED"
        return
    status, body, headers = _error_body(
        sdk, lambda: sdk.Audience(SEED_AD_ACCOUNT_ID, audience.id, client=served.client)
    )
    assert status == 404
    assert set(body) == _error_keys(served)
    assert headers[RID_HEADER]


def test_sdk_pages_through_lists_and_audiences(sdk: Sdk, served: Served) -> None:
    """The SDK's bookmarks walk every list and audience, several pages each, in both orders."""
    records = ",".join(_matched_records(served, matched=MIN_AUDIENCE_RECORDS, unmatched=0))
    list_ids = [
        sdk.CustomerList.create(SEED_AD_ACCOUNT_ID, f"SDK list {i}", records, client=served.client).id for i in range(5)
    ]
    settle(served)
    audience_ids = [
        sdk.Audience.create(
            SEED_AD_ACCOUNT_ID, f"SDK audience {i}", {"customer_list_id": list_id}, "CUSTOMER_LIST",
            client=served.client,
        ).id
        for i, list_id in enumerate(list_ids[:3])
    ]  # fmt: skip

    list_pages = _all_pages(sdk.CustomerList.get_all(SEED_AD_ACCOUNT_ID, page_size=2, client=served.client))
    assert list_pages == [list_ids[0:2], list_ids[2:4], list_ids[4:5]]
    newest_first = _all_pages(
        sdk.CustomerList.get_all(SEED_AD_ACCOUNT_ID, page_size=3, order="DESCENDING", client=served.client)
    )
    assert newest_first == [list_ids[::-1][0:3], list_ids[::-1][3:5]]

    audience_pages = _all_pages(sdk.Audience.get_all(SEED_AD_ACCOUNT_ID, page_size=2, client=served.client))
    assert audience_pages == [audience_ids[0:2], audience_ids[2:3]]
    listed, _ = sdk.Audience.get_all(SEED_AD_ACCOUNT_ID, page_size=1, client=served.client)
    assert listed[0].size == MIN_AUDIENCE_RECORDS
    assert listed[0].rule.customer_list_id == list_ids[0]


def test_sdk_reads_the_ad_account(sdk: Sdk, served: Served) -> None:
    """The seed ad account reads into the SDK's AdAccount model, owner and permissions included."""
    account = sdk.AdAccount(SEED_AD_ACCOUNT_ID, client=served.client)
    assert account.id == SEED_AD_ACCOUNT_ID
    assert account.name
    assert account.owner.username == "emulator-user"
    assert [str(permission) for permission in account.permissions] == ["OWNER"]


def test_sdk_surfaces_pinterest_errors(sdk: Sdk, served: Served) -> None:
    """Refusals reach the SDK as ApiException with Pinterest's error body and request id (a bad record is refused
    with the setting `strict_records`)."""
    served.admin.put("/_emulator/settings", json={"strict_records": True}).raise_for_status()
    status, body, headers = _error_body(
        sdk, lambda: sdk.CustomerList.create(SEED_AD_ACCOUNT_ID, "bad", "NOT-AN-EMAIL", client=served.client)
    )
    assert (status, body["code"]) == (400, 1)
    assert "records" in body["message"]
    assert headers[RID_HEADER]

    status, body, _ = _error_body(sdk, lambda: sdk.CustomerList(SEED_AD_ACCOUNT_ID, "123", client=served.client))
    assert status == 404
    assert set(body) == _error_keys(served)

    small = sdk.CustomerList.create(SEED_AD_ACCOUNT_ID, "small", ",".join(emails(5)), client=served.client)
    status, body, _ = _error_body(
        sdk,
        lambda: sdk.Audience.create(
            SEED_AD_ACCOUNT_ID, "too small", {"customer_list_id": small.id}, "CUSTOMER_LIST", client=served.client
        ),
    )
    assert (status, body["code"]) == (400, 1)

    unauthorised = sdk.PinterestSDKClient(
        configuration=sdk.Configuration(host=served.url + "/v5", access_token="pina_not_a_token")
    )
    status, body, _ = _error_body(sdk, lambda: sdk.AdAccount(SEED_AD_ACCOUNT_ID, client=unauthorised))
    unauthorised.rest_client.pool_manager.clear()
    assert (status, body["code"]) == (401, 2)


# the Conversions API ----------------------------------------------------------------------------------------------


def _conversion_client(sdk: Sdk, served: Served) -> Any:
    """An SDK client holding a conversion access token, minted through the admin API (the emulator's Ads Manager)."""
    minted = served.admin.post(f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/conversion_tokens", json={})
    minted.raise_for_status()
    configuration = sdk.Configuration(host=served.url + "/v5", access_token=minted.json()["access_token"])
    return sdk.PinterestSDKClient(configuration=configuration)


def _sdk_events(sdk: Sdk, served: Served, em: str, count: int = 2) -> list[Any]:
    """Events built by the SDK's `Conversion.create_conversion_event`, as Pinterest's SDK tests build them."""
    return [
        sdk.Conversion.create_conversion_event(
            event_name="add_to_cart",
            action_source="app_ios",
            event_time=int(served.emulator.now()),
            event_id=f"sdk-event-{index}",
            user_data={"em": [em], "hashed_maids": [sha256(f"device-{index}")]},
            custom_data={"currency": "USD", "value": "14.99", "content_ids": ["product-1"], "num_items": 1},
            event_source_url="https://shop.example/cart",
            partner_name="ss-pinaudience",
        )
        for index in range(count)
    ]


def test_sdk_sends_conversion_events(sdk: Sdk, served: Served) -> None:
    """With a conversion access token, the SDK's Conversion sends events: its ConversionApiResponse model reads the
    counts and per-event statuses, the admin API holds the events, and test mode records nothing."""
    client = _conversion_client(sdk, served)
    try:
        events = _sdk_events(sdk, served, sha256("sdk-user@example.com"))
        response = sdk.Conversion.send_conversion_events(SEED_AD_ACCOUNT_ID, events, client=client)
        assert (response.num_events_received, response.num_events_processed) == (2, 2)
        assert [event.status for event in response.events] == ["processed", "processed"]
        assert [event.error_message for event in response.events] == ["", ""]
        tested = sdk.Conversion.send_conversion_events(SEED_AD_ACCOUNT_ID, events, test=True, client=client)
        assert tested.num_events_processed == 2
    finally:
        client.rest_client.pool_manager.clear()
    found = served.admin.get(f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/events").json()
    assert [item["event"]["event_id"] for item in found["events"]] == ["sdk-event-0", "sdk-event-1"]
    assert found["events"][0]["event"]["user_data"]["em"] == [sha256("sdk-user@example.com")]
    assert (found["test_requests"], found["test_events"]) == (1, 2)


def test_sdk_sends_conversion_events_with_an_oauth_token(sdk: Sdk, served: Served) -> None:
    """An OAuth access token with ads:write sends events as well (the spec's other security scheme)."""
    events = _sdk_events(sdk, served, sha256("sdk-user@example.com"), count=1)
    response = sdk.Conversion.send_conversion_events(SEED_AD_ACCOUNT_ID, events, client=served.client)
    assert response.num_events_processed == 1


def test_sdk_sees_422_for_a_plain_email(sdk: Sdk, served: Served) -> None:
    """An `em` that is a plain email reaches the SDK as ApiException 422 (what Pinterest's own SDK tests see), its
    body the spec's DetailedError with each event's answer under `details`."""
    client = _conversion_client(sdk, served)
    try:
        events = _sdk_events(sdk, served, "test_non_hashed_email@pinterest.com")
        status, body, headers = _error_body(
            sdk, lambda: sdk.Conversion.send_conversion_events(SEED_AD_ACCOUNT_ID, events, test=True, client=client)
        )
    finally:
        client.rest_client.pool_manager.clear()
    assert status == 422
    assert {"code", "message", "details"} <= set(body)
    assert [event["status"] for event in body["details"]["events"]] == ["failed", "failed"]
    assert headers[RID_HEADER]
