"""Tokens, scopes, Business Access permissions and Pinterest's OAuth endpoints."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import (
    SEED_ACCESS_TOKEN,
    SEED_AD_ACCOUNT_ID,
    SEED_APP_ID,
    SEED_APP_SECRET,
    SEED_REFRESH_TOKEN,
)
from pinaudience.pinterest import limits
from tests.emulator.emulator_helpers import assert_pinterest_error, emails, joined, lists_url

pytestmark = pytest.mark.anyio

ACCOUNT_URL = f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}"
BASIC = (SEED_APP_ID, SEED_APP_SECRET)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_tokens(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/_emulator/tokens", json={"user": "emulator-user", **fields})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def token_call(client: httpx.AsyncClient, data: dict[str, str], auth: Any = BASIC) -> httpx.Response:
    return await client.post("/v5/oauth/token", data=data, auth=auth, headers={"Authorization": ""} if not auth else {})


@pytest.mark.parametrize("header", [None, "Bearer unknown-token", f"Bearer {SEED_REFRESH_TOKEN}", "Basic abc"])
async def test_bad_tokens_are_401_code_2(emulator_client: httpx.AsyncClient, header: str | None) -> None:
    """No token, an unknown one, a refresh token or another scheme: 401 code 2."""
    headers = {"Authorization": header or ""}
    response = await emulator_client.get(ACCOUNT_URL, headers=headers)
    assert_pinterest_error(response, 401, 2)


async def test_access_token_expires(emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """An access token works until its expiry, then answers 401 code 2."""
    tokens = await new_tokens(emulator_client, access_ttl_s=60)
    assert tokens["expires_in"] == 60
    clock.advance(59)
    assert (await emulator_client.get(ACCOUNT_URL, headers=bearer(tokens["access_token"]))).status_code == 200
    clock.advance(1)
    assert_pinterest_error(await emulator_client.get(ACCOUNT_URL, headers=bearer(tokens["access_token"])), 401, 2)


async def test_emulator_clock_advance_expires_tokens(emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Advancing the emulator's clock expires tokens while the shared clock stays put."""
    before = clock.now()
    response = await emulator_client.post("/_emulator/clock/advance", json={"seconds": limits.ACCESS_TOKEN_TTL_S})
    assert response.json()["now"] == pytest.approx(before + limits.ACCESS_TOKEN_TTL_S)
    assert clock.now() == before
    assert_pinterest_error(await emulator_client.get(ACCOUNT_URL), 401, 2)


async def test_revoked_token(emulator_client: httpx.AsyncClient) -> None:
    """A revoked access token answers 401 code 2."""
    response = await emulator_client.post("/_emulator/tokens/revoke", json={"token": SEED_ACCESS_TOKEN})
    assert response.json() == {"revoked": True}
    assert_pinterest_error(await emulator_client.get(ACCOUNT_URL), 401, 2)


async def test_missing_scope_is_401_code_3(emulator_client: httpx.AsyncClient) -> None:
    """A token without ads:write reads but cannot write: 401 code 3."""
    tokens = await new_tokens(emulator_client, scopes=["ads:read"])
    headers = bearer(tokens["access_token"])
    assert (await emulator_client.get(lists_url(), headers=headers)).status_code == 200
    response = await emulator_client.post(lists_url(), json={"name": "n", "records": "a@example.com"}, headers=headers)
    assert_pinterest_error(response, 401, 3)


async def test_business_access_roles(emulator_client: httpx.AsyncClient) -> None:
    """No access is 403 code 29; ANALYST reads only; AUDIENCE_MANAGER writes."""
    create_body = {"name": "n", "records": joined(emails(3))}
    for name, role in (("stranger", None), ("analyst", "ANALYST"), ("manager", "AUDIENCE_MANAGER")):
        grant = {SEED_AD_ACCOUNT_ID: role} if role else {}
        assert (await emulator_client.post("/_emulator/users", json={"name": name, "ad_accounts": grant})).is_success
        headers = bearer((await new_tokens(emulator_client, user=name))["access_token"])
        read = await emulator_client.get(lists_url(), headers=headers)
        write = await emulator_client.post(lists_url(), json=create_body, headers=headers)
        if role is None:
            assert_pinterest_error(read, 403, 29)
            assert_pinterest_error(await emulator_client.get(ACCOUNT_URL, headers=headers), 403, 29)
        else:
            assert read.status_code == 200
        if role == "AUDIENCE_MANAGER":
            assert write.status_code == 200
        else:
            assert_pinterest_error(write, 403, 29)


async def test_ad_accounts_of_other_owners(emulator_client: httpx.AsyncClient) -> None:
    """An ad account owned by someone else is 403 code 29 to the seed user, and open to its owner."""
    response = await emulator_client.post("/_emulator/ad_accounts", json={"id": "777", "name": "Other", "owner": "bob"})
    assert response.json()["id"] == "777"
    assert_pinterest_error(await emulator_client.get("/v5/ad_accounts/777"), 403, 29)
    headers = bearer((await new_tokens(emulator_client, user="bob"))["access_token"])
    account = (await emulator_client.get("/v5/ad_accounts/777", headers=headers)).json()
    assert account["owner"]["username"] == "bob"
    assert account["permissions"] == ["OWNER"]


async def test_authorization_code_flow(emulator_client: httpx.AsyncClient) -> None:
    """The authorize page redirects with code and state; the code buys a working token pair, once."""
    redirect_uri = "http://localhost:8085/callback"
    page = await emulator_client.get(
        "/oauth/",
        params={
            "client_id": SEED_APP_ID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "ads:read,ads:write",
            "state": "s-123",
        },
    )
    assert page.status_code == 302
    location = urlsplit(page.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["s-123"]
    code = query["code"][0]

    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    response = await token_call(emulator_client, data)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["access_token"].startswith("pina")
    assert tokens["refresh_token"].startswith("pinr")
    assert tokens["expires_in"] == limits.ACCESS_TOKEN_TTL_S
    assert tokens["refresh_token_expires_in"] == limits.REFRESH_TOKEN_TTL_S
    assert tokens["scope"] == "ads:read,ads:write"
    assert tokens["token_type"] == "bearer"
    assert (await emulator_client.get(ACCOUNT_URL, headers=bearer(tokens["access_token"]))).status_code == 200
    assert_pinterest_error(await token_call(emulator_client, data), 401, 283)


async def test_code_is_bound_to_redirect_uri(emulator_client: httpx.AsyncClient) -> None:
    """A code exchanged with another redirect_uri is refused with 401 code 283."""
    params = {
        "client_id": SEED_APP_ID,
        "redirect_uri": "http://localhost/a",
        "response_type": "code",
        "scope": "ads:read",
    }
    code = parse_qs(urlsplit((await emulator_client.get("/oauth/", params=params)).headers["location"]).query)["code"][
        0
    ]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/b"}
    assert_pinterest_error(await token_call(emulator_client, data), 401, 283)


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "999", "redirect_uri": "http://localhost/cb", "response_type": "code"},
        {"client_id": SEED_APP_ID, "redirect_uri": "not a url", "response_type": "code"},
        {"client_id": SEED_APP_ID, "redirect_uri": "http://localhost/cb", "response_type": "token"},
        {"client_id": SEED_APP_ID, "redirect_uri": "http://localhost/cb", "response_type": "code", "scope": "x:y"},
    ],
)
async def test_authorize_page_refuses_bad_requests(emulator_client: httpx.AsyncClient, params: dict[str, str]) -> None:
    """An unknown app, a bad redirect_uri, response_type or scope shows an error page instead of redirecting."""
    page = await emulator_client.get("/oauth/", params=params)
    assert page.status_code == 400
    assert "location" not in page.headers


async def test_refresh_rotates_the_refresh_token(emulator_client: httpx.AsyncClient) -> None:
    """A refresh returns a new refresh token; the old one stops working at once, the new one works."""
    first = await token_call(emulator_client, {"grant_type": "refresh_token", "refresh_token": SEED_REFRESH_TOKEN})
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert tokens["refresh_token"] != SEED_REFRESH_TOKEN
    assert tokens["response_type"] == "refresh_token"
    assert {"refresh_token_expires_in", "refresh_token_expires_at", "expires_in", "scope"} <= set(tokens)
    assert (await emulator_client.get(ACCOUNT_URL, headers=bearer(tokens["access_token"]))).status_code == 200
    reuse = await token_call(emulator_client, {"grant_type": "refresh_token", "refresh_token": SEED_REFRESH_TOKEN})
    assert_pinterest_error(reuse, 401, 283)
    second = await token_call(
        emulator_client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert second.status_code == 200


async def test_refresh_keeps_the_pair_lifetimes(emulator_client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Refreshed tokens keep the lifetimes of their pair; an expired refresh token is refused."""
    tokens = await new_tokens(emulator_client, access_ttl_s=60, refresh_ttl_s=600)
    refreshed = await token_call(
        emulator_client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.json()["expires_in"] == 60
    assert refreshed.json()["refresh_token_expires_in"] == 600
    assert refreshed.json()["refresh_token_expires_at"] == int(clock.now() + 600)
    clock.advance(600)
    late = await token_call(
        emulator_client, {"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]}
    )
    assert_pinterest_error(late, 401, 283)


async def test_refresh_scope_can_narrow_not_widen(emulator_client: httpx.AsyncClient) -> None:
    """A refresh may ask for fewer scopes, never for more."""
    tokens = await new_tokens(emulator_client, scopes=["ads:read"])
    wider = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "ads:read,ads:write"}
    assert "scope" in assert_pinterest_error(await token_call(emulator_client, wider), 400, 1)["message"]
    narrower = {"grant_type": "refresh_token", "refresh_token": SEED_REFRESH_TOKEN, "scope": "ads:read"}
    response = await token_call(emulator_client, narrower)
    assert response.json()["scope"] == "ads:read"


async def test_client_credentials(emulator_client: httpx.AsyncClient) -> None:
    """client_credentials gives an access token (no refresh token) acting for the app's owner."""
    missing = await token_call(emulator_client, {"grant_type": "client_credentials"})
    assert "scope" in assert_pinterest_error(missing, 400, 1)["message"]
    response = await token_call(emulator_client, {"grant_type": "client_credentials", "scope": "ads:read"})
    tokens = response.json()
    assert "refresh_token" not in tokens
    assert tokens["response_type"] == "client_credentials"
    assert (await emulator_client.get(ACCOUNT_URL, headers=bearer(tokens["access_token"]))).status_code == 200


@pytest.mark.parametrize("auth", [None, (SEED_APP_ID, "wrong-secret"), ("42", SEED_APP_SECRET)])
async def test_token_endpoint_needs_the_app_secret(emulator_client: httpx.AsyncClient, auth: Any) -> None:
    """Without HTTP Basic app id and secret, or with wrong ones: 401 code 2."""
    data = {"grant_type": "refresh_token", "refresh_token": SEED_REFRESH_TOKEN}
    assert_pinterest_error(await token_call(emulator_client, data, auth=auth), 401, 2)


@pytest.mark.parametrize("data", [{}, {"grant_type": "password"}])
async def test_token_endpoint_grant_type(emulator_client: httpx.AsyncClient, data: dict[str, str]) -> None:
    """A missing or unknown grant_type is 400 code 1 naming grant_type."""
    assert "grant_type" in assert_pinterest_error(await token_call(emulator_client, data), 400, 1)["message"]


async def test_authorize_page_survives_a_broken_redirect_uri(emulator_client: httpx.AsyncClient) -> None:
    """A redirect_uri that does not even parse gets the error page."""
    params = {"client_id": SEED_APP_ID, "redirect_uri": "http://[::1", "response_type": "code"}
    assert (await emulator_client.get("/oauth/", params=params)).status_code == 400
