"""Every emulator answer for the operations it serves validates against Pinterest's own OpenAPI spec.

A response hook on the client checks each `/v5` answer with openapi-core (requests are mapped onto Pinterest's
server URL, https://api.pinterest.com/v5), so the scenario below only has to reach every operation and every
kind of answer: success, pagination, validation errors, auth errors, permissions, not found, rate limits.
Every test runs in both profiles, `default` and `realistic`; what differs between them is named by setting.
An HTML page is not Pinterest's answer but a gateway's (setting `gateway_html`): it is checked to be one, and
nothing else may be HTML.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from werkzeug.datastructures import Headers, ImmutableMultiDict

from pinaudience.clock import FakeClock
from pinaudience.emulator import (
    PROFILE_NAMES,
    SEED_AD_ACCOUNT_ID,
    SEED_APP_ID,
    SEED_APP_SECRET,
    Emulator,
)
from pinaudience.emulator.conversions import EVENTS_SCHEMA
from pinaudience.pinterest.limits import OPERATIONS
from tests.emulator.emulator_helpers import (
    audiences_url,
    conversion_event,
    create_audience,
    create_list,
    emails,
    events_url,
    lists_url,
    sha256,
    update_list,
)
from tests.helpers import emulator_http

pytestmark = pytest.mark.anyio

PINTEREST_HOST = "https://api.pinterest.com"


class SpecRequest:
    """An httpx request as openapi-core reads it, placed on Pinterest's host."""

    def __init__(self, request: httpx.Request) -> None:
        from openapi_core.datatypes import RequestParameters

        self.host_url = PINTEREST_HOST
        self.path = request.url.path
        self.method = request.method.lower()
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(request.url.query.decode())),
            header=Headers(dict(request.headers)),
        )


class SpecResponse:
    """An httpx response as openapi-core reads it."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(dict(response.headers))
        self.data: bytes | None = response.content


class Validated:
    """The (operation, status) pairs whose answers passed validation."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()
        self.html: set[tuple[str, int]] = set()
        """Gateway pages (setting `gateway_html`), which Pinterest's spec does not describe."""

    def operations(self) -> set[str]:
        return {operation for operation, _ in self.seen}


@pytest.fixture(params=PROFILE_NAMES)
def emulator(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Emulator]:
    """The emulator in each profile, on the test's clock."""
    emu = Emulator(profile=request.param, clock=clock)
    yield emu
    emu.close()


@pytest.fixture
async def contract(emulator: Emulator, pinterest_openapi: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Validated]]:
    """A client whose every /v5 answer is validated against Pinterest's spec as it arrives."""
    validated = Validated()

    async def check(response: httpx.Response) -> None:
        if not response.request.url.path.startswith("/v5/"):
            return
        await response.aread()
        operation = next(
            (op.operation_id for op in OPERATIONS.values() if _matches(op.method, op.path, response.request)), "?"
        )
        if response.headers.get("content-type", "").startswith("text/html"):
            assert emulator.settings.gateway_html
            assert response.status_code in (413, 502, 504)
            validated.html.add((operation, response.status_code))
            return
        pinterest_openapi.validate_response(SpecRequest(response.request), SpecResponse(response))
        validated.seen.add((operation, response.status_code))

    async with emulator_http(emulator, event_hooks={"response": [check]}) as client:
        yield client, validated


def _matches(method: str, template: str, request: httpx.Request) -> bool:
    parts = request.url.path.removeprefix("/v5").strip("/").split("/")
    pattern = template.strip("/").split("/")
    return (
        request.method == method
        and len(parts) == len(pattern)
        and all(p.startswith("{") or p == part for p, part in zip(pattern, parts, strict=True))
    )


async def test_every_operation_answers_per_spec(
    emulator: Emulator, contract: tuple[httpx.AsyncClient, Validated], clock: FakeClock
) -> None:
    """Successes, pages and errors of all ten operations validate against Pinterest's spec."""
    client, validated = contract
    emulator.settings.match_rate = 1.0
    account = f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}"
    settle = emulator.settings.processing_delay_s + emulator.settings.list_write_window_s

    assert (await client.get(account)).status_code == 200
    assert (await client.get("/v5/ad_accounts/1")).status_code == 404
    assert (await client.get(account, headers={"Authorization": "Bearer nope"})).status_code == 401

    created = await create_list(client, emails(150), name="spec")
    await create_list(client, emails(2), name="small")
    assert (await update_list(client, created["id"], "ADD", emails(10, start=500))).status_code == 200
    clock.advance(settle)
    assert (await update_list(client, created["id"], "REMOVE", emails(5))).status_code == 200
    clock.advance(settle)
    assert (await update_list(client, created["id"], "REPLACE", emails(5))).status_code == 400
    assert (await client.post(lists_url(), json={"name": "bad", "records": "UPPER@EXAMPLE.COM"})).status_code == 200
    emulator.settings.strict_records = True
    assert (await client.post(lists_url(), json={"name": "bad", "records": "UPPER@EXAMPLE.COM"})).status_code == 400
    first = (await client.get(lists_url(), params={"page_size": 2})).json()
    assert first["bookmark"]
    last = await client.get(lists_url(), params={"page_size": 2, "bookmark": first["bookmark"]})
    assert last.json()["bookmark"] is None
    assert (await client.get(lists_url(), params={"page_size": 0})).status_code == 400
    assert (await client.get(f"{lists_url()}/{created['id']}")).status_code == 200
    assert (await client.get(f"{lists_url()}/7")).status_code == 404

    audience = (await create_audience(client, created["id"])).json()
    assert (await create_audience(client, "7")).status_code == 400
    assert (await client.get(audiences_url(), params={"page_size": 1})).status_code == 200
    assert (await client.get(audiences_url(), params={"order": "SIDEWAYS"})).status_code == 400
    assert (await client.get(f"{audiences_url()}/{audience['id']}")).status_code == 200
    assert (await client.patch(f"{audiences_url()}/{audience['id']}", json={"name": "renamed"})).status_code == 200
    clock.advance(settle)
    removal = await client.patch(f"{audiences_url()}/{audience['id']}", json={"operation_type": "REMOVE"})
    assert removal.status_code == 200
    removed_shown = emulator.settings.removed_audiences == "listed"
    assert (await client.get(f"{audiences_url()}/{audience['id']}")).status_code == (200 if removed_shown else 404)

    await client.post("/_emulator/users", json={"name": "stranger"})
    stranger = (await client.post("/_emulator/tokens", json={"user": "stranger"})).json()["access_token"]
    assert (await client.get(lists_url(), headers={"Authorization": f"Bearer {stranger}"})).status_code == 403

    basic = (SEED_APP_ID, SEED_APP_SECRET)
    refresh = {"grant_type": "refresh_token", "refresh_token": "pinr_emulator_refresh"}
    assert (await client.post("/v5/oauth/token", data=refresh, auth=basic)).status_code == 200
    reused = await client.post("/v5/oauth/token", data=refresh, auth=basic)
    assert reused.status_code == (401 if emulator.settings.rotate_refresh_token else 200)
    bad_refresh = {"grant_type": "refresh_token", "refresh_token": "pinr_unknown"}
    assert (await client.post("/v5/oauth/token", data=bad_refresh, auth=basic)).status_code == 401
    credentials = {"grant_type": "client_credentials", "scope": "ads:read"}
    assert (await client.post("/v5/oauth/token", data=credentials, auth=basic)).status_code == 200
    page = await client.get(
        "/oauth/",
        params={"client_id": SEED_APP_ID, "redirect_uri": "http://localhost/cb", "response_type": "code"},
    )
    code = parse_qs(page.headers["location"].split("?", 1)[1])["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/cb"}
    assert (await client.post("/v5/oauth/token", data=exchange, auth=basic)).status_code == 200

    emulator.settings.ads_read_per_window = 1
    emulator.settings.per_second = 1_000
    await client.post("/_emulator/clock/advance", json={"seconds": 3600})
    token = (await client.post("/_emulator/tokens", json={"user": "emulator-user"})).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(account, headers=headers)).status_code == 200
    assert (await client.get(account, headers=headers)).status_code == 429

    assert (await client.post(events_url(), json={"data": [conversion_event()]})).status_code == 200

    assert validated.operations() == set(OPERATIONS)
    assert {status for _, status in validated.seen} >= {200, 400, 401, 403, 404, 429}


async def test_scripted_faults_answer_per_spec(
    emulator: Emulator, contract: tuple[httpx.AsyncClient, Validated]
) -> None:
    """Scripted 429/500/502/503/504 answers are Pinterest errors the spec accepts, or gateway pages (502, 504)
    with the setting `gateway_html`."""
    client, validated = contract
    statuses = (429, 500, 502, 503, 504)
    rules = [{"operation": "customer_lists/list", "calls": [n], "status": s} for n, s in enumerate(statuses, 1)]
    await client.put("/_emulator/faults", json={"rules": rules})
    for _ in rules:
        await client.get(lists_url())
    gateway = {502, 504} if emulator.settings.gateway_html else set()
    assert {status for _, status in validated.seen} == set(statuses) - gateway
    assert {status for _, status in validated.html} == gateway


@pytest.mark.parametrize(
    "body",
    [
        {"id": "1", "status": "DONE"},
        {"id": "1", "num_batches": "two"},
        {"code": "1", "message": "error with a text code"},
    ],
)
def test_the_check_can_fail(pinterest_openapi: Any, body: dict[str, Any]) -> None:
    """The validator refuses a list with an unknown status, a counter as text, or a malformed error."""
    from openapi_core.validation.response.exceptions import ResponseValidationError

    request = httpx.Request("GET", f"http://emulator.test{lists_url()}/1")
    status = 400 if "code" in body else 200
    response = httpx.Response(status, json=body, request=request)
    with pytest.raises(ResponseValidationError):
        pinterest_openapi.validate_response(SpecRequest(request), SpecResponse(response))


# the Conversions API ----------------------------------------------------------------------------------------------


async def test_conversion_answers_per_spec(emulator: Emulator, contract: tuple[httpx.AsyncClient, Validated]) -> None:
    """events/create answers 200 (test mode too), 400 code 4196, 401, 403, 422 DetailedError, 429 and the scripted
    503 code 4197 in the shapes of Pinterest's spec."""
    client, validated = contract
    events = {"data": [conversion_event(0), conversion_event(1)]}
    plain = {"data": [conversion_event(2, user_data={"em": ["test_non_hashed_email@pinterest.com"]})]}
    assert (await client.post(events_url(), json=events)).status_code == 200
    assert (await client.post(events_url(), json=events, params={"test": "true"})).status_code == 200
    assert (await client.post(events_url(), json={"data": []})).status_code == 400
    assert (await client.post(events_url(), json=plain)).status_code == 422
    assert (await client.post(events_url(), json=events, headers={"Authorization": "Bearer no"})).status_code == 401
    await client.post("/_emulator/ad_accounts", json={"id": "42", "owner": "someone-else"})
    assert (await client.post(events_url("42"), json=events)).status_code == 403
    rules = [{"operation": "events/create", "calls": [n], "status": s} for n, s in ((1, 429), (2, 503))]
    await client.put("/_emulator/faults", json={"rules": rules})
    assert (await client.post(events_url(), json=events)).status_code == 429
    assert (await client.post(events_url(), json=events)).status_code == 503
    await client.delete("/_emulator/faults")
    emulator.settings.ads_conversions_per_window = 1
    emulator.advance(emulator.settings.window_s)
    assert (await client.post(events_url(), json=events)).status_code == 200
    assert (await client.post(events_url(), json=events)).status_code == 429
    seen = {status for operation, status in validated.seen if operation == "events/create"}
    assert seen == {200, 400, 401, 403, 422, 429, 503}


_DROPPED = {"description", "example", "examples", "title", "format"}


def _normalised(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A spec schema with its `$ref`s resolved (siblings of a `$ref` merged in) and the words left out."""
    if "$ref" in schema:
        target: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            result[key] = {name: _normalised(spec, sub) for name, sub in value.items()}
        elif key == "items":
            result[key] = _normalised(spec, value)
        elif key == "anyOf":
            result[key] = [_normalised(spec, option) for option in value]
        else:
            result[key] = value
    return result


def test_the_event_schema_is_the_specs(pinterest_spec: dict[str, Any]) -> None:
    """The schema the emulator checks bodies against is the spec's `ConversionEvents`, field for field."""
    spec_schema = _normalised(pinterest_spec, pinterest_spec["components"]["schemas"]["ConversionEvents"])
    assert spec_schema == EVENTS_SCHEMA


_BODIES: list[Any] = [
    {"data": [conversion_event()]},
    {"data": [conversion_event(event_time=1767225000.0)]},
    {"data": [conversion_event(user_data={"hashed_maids": [sha256("d")], "unknown": 1})]},
    {"data": [conversion_event(user_data={"client_ip_address": "1.2.3.4", "client_user_agent": "UA"})]},
    {"data": [conversion_event(custom_data={"order_id": None, "contents": [{"id": "1", "quantity": 2}]})]},
    {"data": [conversion_event(event_name="not_listed", action_source="nowhere")]},
    {"data": [conversion_event(user_data={"em": ["plain@example.com"]})]},
    {"data": []},
    {"data": [conversion_event(i) for i in range(1_001)]},
    {"data": [conversion_event()], "extra": True},
    {"data": [conversion_event(event_time=1.5)]},
    {"data": [conversion_event(event_time="1")]},
    {"data": [conversion_event(event_id=None)]},
    {"data": [conversion_event(user_data={"ph": [sha256("1")]})]},
    {"data": [conversion_event(user_data={"client_ip_address": "1.2.3.4"})]},
    {"data": [conversion_event(user_data={"em": [sha256("a")], "click_id": None, "client_ip_address": None})]},
    {"data": [conversion_event(custom_data={"value": 1})]},
    {"data": [conversion_event(custom_data={"contents": [{"price": "1"}]})]},
    {"data": [conversion_event(device_info={"screen_width": 30721})]},
    {"data": [conversion_event(device_info={"languages": ["en"] * 101})]},
    {"data": [conversion_event(app_info={"app_store": "x" * 101})]},
    {"data": [conversion_event(opt_out=None)]},
    {"data": [{k: v for k, v in conversion_event().items() if k != "user_data"}]},
    [conversion_event()],
]
"""Bodies the spec's schema accepts or refuses, some of each kind of rule."""


@pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")  # openapi-core on the bearer scheme
async def test_the_emulator_refuses_what_the_spec_refuses(emulator: Emulator, pinterest_openapi: Any) -> None:
    """For each body, the emulator answers 400 exactly when openapi-core finds it breaks the spec's schema."""
    from openapi_core.validation.request.exceptions import RequestValidationError

    emulator.settings.ads_conversions_per_window = 10**6
    async with emulator_http(emulator) as client:
        for body in _BODIES:
            response = await client.post(events_url(), json=body)
            try:
                pinterest_openapi.validate_request(SpecRequest(response.request))
                spec_accepts = True
            except RequestValidationError:
                spec_accepts = False
            assert (response.status_code != 400) == spec_accepts, (str(body)[:200], response.text[:300])
