"""The admin API under `/_emulator/` (JSON, not Pinterest's): seed, inspect and script the emulator.

It needs no token and is never rate-limited, faulted or logged. Errors use Pinterest's shape too
(`{"code": 1, "message": ...}` with 400), so one parser reads every answer.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pinaudience.emulator.conversions import CONVERSION_ROLES, CONVERSION_TOKEN_TTL_S, event_counts_json
from pinaudience.emulator.faults import FaultPlan, FaultPlanError
from pinaudience.emulator.http import ApiError, invalid
from pinaudience.emulator.pinterest_api import ACCOUNT_STATES, ad_account_json, is_id, list_status
from pinaudience.emulator.seed import SEED_APP_ID
from pinaudience.emulator.settings import EmulatorSettings, SettingsError
from pinaudience.emulator.store import AdAccount
from pinaudience.pinterest import limits
from pinaudience.pinterest.limits import OPERATIONS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pinaudience.emulator.app import Emulator

BUSINESS_ACCESS_ROLES = frozenset(
    {
        "OWNER", "ADMIN", "ANALYST", "SOS_READER", "FINANCE_MANAGER", "FINANCE_VIEW", "FINANCE_EDIT",
        "AUDIENCE_MANAGER", "CAMPAIGN_MANAGER", "CATALOGS_MANAGER", "RESTRICTED_OWNER", "PROFILE_MANAGER",
        "PROFILE_PUBLISHER", "RESOURCE_PINNER_LIST_OWNER", "RESOURCE_PINNER_LIST_READER", "BIZ_PINNER_LIST_SHARER",
        "RESOURCE_CONVERSION_TAGS_READER",
    }
)  # fmt: skip
"""Pinterest's `BusinessAccessRole` enum."""


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise invalid("expected a JSON object") from None
    if not isinstance(body, dict):
        raise invalid("expected a JSON object")
    return body


def _name(body: dict[str, Any], field: str, default: str | None = None) -> str:
    value = body.get(field, default)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{field} must be a non-empty string")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise invalid(f"{field} must be valid Unicode text") from None
    return value


def _code(body: dict[str, Any], field: str, default: str, length: int) -> str:
    value = _name(body, field, default)
    if len(value) != length or not value.isascii() or not value.isupper():
        raise invalid(f"{field} must be {length} capital letters, as in Pinterest's {field} codes")
    return value


async def reset(emu: Emulator, request: Request) -> Response:
    emu.reset()
    return Response(status_code=204)


async def create_ad_account(emu: Emulator, request: Request) -> Response:
    body = await _json_body(request)
    account_id = _name(body, "id")
    if not is_id(account_id):
        raise invalid("id must be a string of 1 to 18 digits")
    if emu.store.get_ad_account(account_id) is not None:
        raise ApiError(409, 409, f"ad account {account_id} already exists")
    account = AdAccount(
        id=account_id,
        name=_name(body, "name", f"Ad account {account_id}"),
        owner=_name(body, "owner"),
        country=_code(body, "country", "US", 2),
        currency=_code(body, "currency", "USD", 3),
        created_time=emu.now(),
    )
    emu.store.add_ad_account(account)
    return JSONResponse(ad_account_json(emu, account, {"OWNER"}))


async def create_user(emu: Emulator, request: Request) -> Response:
    body = await _json_body(request)
    name = _name(body, "name")
    roles = body.get("ad_accounts", {})
    if not isinstance(roles, dict):
        raise invalid("ad_accounts must map ad account ids to Business Access roles")
    for account_id, role in roles.items():
        if emu.store.get_ad_account(account_id) is None:
            raise invalid(f"ad_accounts: no ad account {account_id}")
        if role not in BUSINESS_ACCESS_ROLES:
            raise invalid(f"ad_accounts.{account_id}: role must be one of {', '.join(sorted(BUSINESS_ACCESS_ROLES))}")
    user_id = emu.store.grant(name, roles)
    return JSONResponse({"name": name, "id": user_id, "ad_accounts": roles})


def _ttl(body: dict[str, Any], field: str, default: float) -> float:
    value = body.get(field, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise invalid(f"{field} must be a positive number of seconds")
    return float(value)


async def create_tokens(emu: Emulator, request: Request) -> Response:
    body = await _json_body(request)
    user = _name(body, "user")
    app_id = _name(body, "app_id", SEED_APP_ID)
    if emu.store.get_app(app_id) is None:
        raise invalid(f"app_id: no app {app_id}")
    scopes = body.get("scopes", list(limits.REQUIRED_SCOPES))
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s and "," not in s for s in scopes):
        raise invalid("scopes must be a list of scope names")
    access_ttl = _ttl(body, "access_ttl_s", limits.ACCESS_TOKEN_TTL_S)
    refresh_ttl = _ttl(body, "refresh_ttl_s", limits.REFRESH_TOKEN_TTL_S)
    pair = emu.store.create_token_pair(
        user=user, app_id=app_id, scopes=scopes, now=emu.now(), access_ttl_s=access_ttl, refresh_ttl_s=refresh_ttl
    )
    return JSONResponse(
        {
            "access_token": pair.access.token,
            "refresh_token": pair.refresh.token,
            "expires_in": int(access_ttl),
            "refresh_token_expires_in": int(refresh_ttl),
        }
    )


async def revoke_token(emu: Emulator, request: Request) -> Response:
    body = await _json_body(request)
    return JSONResponse({"revoked": emu.store.revoke_token(_name(body, "token"))})


async def expire_token(emu: Emulator, request: Request) -> Response:
    body = await _json_body(request)
    in_s = body.get("in_s", 0)
    if not isinstance(in_s, int | float) or isinstance(in_s, bool) or not math.isfinite(in_s) or in_s < 0:
        raise invalid("in_s must be a number of seconds >= 0")
    expires_at = emu.now() + float(in_s)
    return JSONResponse({"expired": emu.store.expire_token(_name(body, "token"), expires_at), "expires_at": expires_at})


def _admin_list_id(emu: Emulator, request: Request) -> int:
    list_id = request.path_params["customer_list_id"]
    if not is_id(list_id) or emu.store.get_list(int(list_id)) is None:
        raise ApiError(404, 404, "Customer list not found.")
    return int(list_id)


async def list_stats(emu: Emulator, request: Request) -> Response:
    """Counts only: members, matched members, and the records received that break Pinterest's record rules."""
    found = emu.store.get_list(_admin_list_id(emu, request))
    assert found is not None
    return JSONResponse(
        {
            "id": str(found.id),
            "list_type": found.list_type,
            "status": list_status(emu, found),
            "members": found.size,
            "matched": found.matched,
            "visible_matched": found.visible_matched(emu.now()),
            "processing_until": found.processing_until,
            "invalid_records_received": found.invalid_received,
        }
    )


async def stats(emu: Emulator, request: Request) -> Response:
    """Records received that break Pinterest's record rules, in all and per customer list."""
    per_list = {str(c.id): c.invalid_received for c in emu.store.all_lists()}
    return JSONResponse({"invalid_records_received": sum(per_list.values()), "by_customer_list": per_list})


async def set_account_state(emu: Emulator, request: Request) -> Response:
    account_id = request.path_params["ad_account_id"]
    if not is_id(account_id) or emu.store.get_ad_account(account_id) is None:
        raise ApiError(404, 404, "Ad account not found.")
    state = (await _json_body(request)).get("state")
    states = ("ACTIVE", *ACCOUNT_STATES)
    if state not in states:
        raise invalid(f"state must be one of {', '.join(states)}")
    if state == "ACTIVE":
        emu.account_states.pop(account_id, None)
    else:
        emu.account_states[account_id] = str(state)
    return JSONResponse({"id": account_id, "state": state})


async def put_profile(emu: Emulator, request: Request) -> Response:
    name = (await _json_body(request)).get("name")
    try:
        emu.settings.update(EmulatorSettings.from_profile(str(name)).to_dict())
    except SettingsError as err:
        raise invalid(str(err)) from None
    return JSONResponse(emu.settings.to_dict())


async def list_records(emu: Emulator, request: Request) -> Response:
    return JSONResponse({"records": sorted(emu.store.members(_admin_list_id(emu, request)))})


async def get_settings(emu: Emulator, request: Request) -> Response:
    return JSONResponse(emu.settings.to_dict())


async def put_settings(emu: Emulator, request: Request) -> Response:
    try:
        emu.settings.update(await _json_body(request))
    except SettingsError as err:
        raise invalid(str(err)) from None
    return JSONResponse(emu.settings.to_dict())


async def get_faults(emu: Emulator, request: Request) -> Response:
    return JSONResponse({**emu.faults.to_dict(), "operations": list(OPERATIONS)})


async def put_faults(emu: Emulator, request: Request) -> Response:
    try:
        emu.faults = FaultPlan(await _json_body(request))
    except FaultPlanError as err:
        raise invalid(str(err)) from None
    return JSONResponse(emu.faults.to_dict())


async def delete_faults(emu: Emulator, request: Request) -> Response:
    emu.faults = FaultPlan()
    return Response(status_code=204)


async def advance_clock(emu: Emulator, request: Request) -> Response:
    seconds = (await _json_body(request)).get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
        raise invalid("seconds must be a number >= 0")
    emu.advance(float(seconds))
    return JSONResponse({"now": emu.now()})


async def get_clock(emu: Emulator, request: Request) -> Response:
    return JSONResponse({"now": emu.now()})


async def get_requests(emu: Emulator, request: Request) -> Response:
    return JSONResponse({"requests": list(emu.requests)})


async def clear_requests(emu: Emulator, request: Request) -> Response:
    emu.requests.clear()
    return Response(status_code=204)


async def get_grants(emu: Emulator, request: Request) -> Response:
    return JSONResponse({"grants": emu.counters.grants()})


async def clear_grants(emu: Emulator, request: Request) -> Response:
    emu.counters.clear_grants()
    return Response(status_code=204)


async def list_sends(emu: Emulator, request: Request) -> Response:
    return JSONResponse({"sends": emu.store.send_histogram(_admin_list_id(emu, request))})


def _admin_account_id(emu: Emulator, request: Request) -> str:
    account_id = str(request.path_params["ad_account_id"])
    if not is_id(account_id) or emu.store.get_ad_account(account_id) is None:
        raise ApiError(404, 404, "Ad account not found.")
    return account_id


async def create_conversion_token(emu: Emulator, request: Request) -> Response:
    """The emulator's stand-in for Ads Manager's "generate a conversion access token" in an ad account."""
    account_id = _admin_account_id(emu, request)
    account = emu.store.get_ad_account(account_id)
    assert account is not None
    body = await _json_body(request)
    user = _name(body, "user", account.owner)
    if not emu.store.roles(user, account) & CONVERSION_ROLES:
        raise invalid(f"user: {user} may not send events for ad account {account_id} (needs one of "
                      f"{', '.join(sorted(CONVERSION_ROLES))})")  # fmt: skip
    ttl = _ttl(body, "ttl_s", CONVERSION_TOKEN_TTL_S)
    token = emu.store.create_conversion_token(user=user, now=emu.now(), ttl_s=ttl)
    return JSONResponse(
        {"access_token": token.token, "token_type": "conversion", "ad_account_id": account_id, "user": user,
         "expires_in": int(ttl)}
    )  # fmt: skip


async def account_events(emu: Emulator, request: Request) -> Response:
    """One ad account's counts and recorded events (test requests and failed events are never recorded)."""
    account_id = _admin_account_id(emu, request)
    return JSONResponse({**event_counts_json(emu, account_id), "events": emu.store.conversion_events(account_id)})


async def clear_account_events(emu: Emulator, request: Request) -> Response:
    emu.store.clear_conversions(_admin_account_id(emu, request))
    return Response(status_code=204)


async def events_stats(emu: Emulator, request: Request) -> Response:
    """The counts of every ad account that was sent events."""
    return JSONResponse(
        {"by_ad_account": {account: event_counts_json(emu, account) for account in emu.store.conversion_accounts()}}
    )


async def clear_events(emu: Emulator, request: Request) -> Response:
    emu.store.clear_conversions()
    return Response(status_code=204)


async def get_counters(emu: Emulator, request: Request) -> Response:
    return JSONResponse(emu.counters.to_dict())


async def clear_counters(emu: Emulator, request: Request) -> Response:
    emu.counters.clear()
    return Response(status_code=204)


async def clear_sends(emu: Emulator, request: Request) -> Response:
    emu.store.clear_sends()
    return Response(status_code=204)


_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/reset", reset),
    ("POST", "/ad_accounts", create_ad_account),
    ("POST", "/users", create_user),
    ("POST", "/tokens", create_tokens),
    ("POST", "/tokens/revoke", revoke_token),
    ("POST", "/tokens/expire", expire_token),
    ("PUT", "/ad_accounts/{ad_account_id}/state", set_account_state),
    ("GET", "/customer_lists/{customer_list_id}", list_stats),
    ("GET", "/customer_lists/{customer_list_id}/records", list_records),
    ("GET", "/customer_lists/{customer_list_id}/sends", list_sends),
    ("DELETE", "/sends", clear_sends),
    ("POST", "/ad_accounts/{ad_account_id}/conversion_tokens", create_conversion_token),
    ("GET", "/ad_accounts/{ad_account_id}/events", account_events),
    ("DELETE", "/ad_accounts/{ad_account_id}/events", clear_account_events),
    ("GET", "/events", events_stats),
    ("DELETE", "/events", clear_events),
    ("GET", "/settings", get_settings),
    ("PUT", "/settings", put_settings),
    ("PUT", "/profile", put_profile),
    ("GET", "/stats", stats),
    ("GET", "/counters", get_counters),
    ("DELETE", "/counters", clear_counters),
    ("GET", "/faults", get_faults),
    ("PUT", "/faults", put_faults),
    ("DELETE", "/faults", delete_faults),
    ("POST", "/clock/advance", advance_clock),
    ("GET", "/clock", get_clock),
    ("GET", "/requests", get_requests),
    ("DELETE", "/requests", clear_requests),
    ("GET", "/grants", get_grants),
    ("DELETE", "/grants", clear_grants),
]


def routes(emu: Emulator) -> list[BaseRoute]:
    def bind(handler: Any) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                response: Response = await handler(emu, request)
            except ApiError as err:
                return err.response()
            return response

        return endpoint

    return [Route("/_emulator" + path, bind(handler), methods=[method]) for method, path, handler in _ROUTES]
