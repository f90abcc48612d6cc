"""Pinterest's ad account, customer list and audience operations, with Pinterest's shapes and rules.

Field names and enums follow Pinterest's OpenAPI spec (schemas `CustomerList`, `Audience`, `AdAccount`,
`Paginated`); the contract tests check every answer against it. Validation messages name the field and
never echo a record.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from pinaudience.emulator import records as rec
from pinaudience.emulator.http import NOT_PERMITTED, ApiError, invalid
from pinaudience.emulator.store import AdAccount, Audience, CustomerList
from pinaudience.pinterest.limits import ID_PATTERN, MIN_AUDIENCE_RECORDS, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX

if TYPE_CHECKING:
    from pinaudience.emulator.app import Call, Emulator, Handler

LIST_TYPES = ("EMAIL", "IDFA", "MAID", "LR_ID", "DLX_ID", "HASHED_PINNER_ID")
LIST_OPERATIONS = ("ADD", "REMOVE")
AUDIENCE_TYPES = ("CUSTOMER_LIST", "VISITOR", "ENGAGEMENT", "ACTALIKE", "PERSONA")
AUDIENCE_OPERATIONS = ("UPDATE", "REMOVE")
ORDERS = ("ASCENDING", "DESCENDING")
OWNERSHIP_TYPES = ("OWNED", "RECEIVED")

READ_ROLES = frozenset({"OWNER", "ADMIN", "AUDIENCE_MANAGER", "CAMPAIGN_MANAGER", "ANALYST"})
"""Business Access roles that may read an account's customer lists and audiences."""
WRITE_ROLES = frozenset({"OWNER", "ADMIN", "AUDIENCE_MANAGER", "CAMPAIGN_MANAGER"})
"""Business Access roles that may create and change them."""

ACCOUNT_STATES = {
    "DISAPPROVED": (
        2625,
        "Sorry, you cannot perform this action as your account has been disapproved. Please see business hub for "
        "more details. https://www.pinterest.com/business/hub/",
    ),
    "UNDER_REVIEW": (
        2626,
        "We are reviewing your account. Please see business hub for more details. https://www.pinterest.com/business/hub/",
    ),
}
"""Ad account states that refuse writes with 403, with the codes and messages of Pinterest's spec (set through
`PUT /_emulator/ad_accounts/{id}/state`; `ACTIVE`, the default, refuses nothing)."""


# access --------------------------------------------------------------------------------------------------------


def is_id(value: object) -> bool:
    """Pinterest's id format, in ASCII digits only (`\\d` alone would let other scripts' digits through)."""
    return isinstance(value, str) and value.isascii() and ID_PATTERN.fullmatch(value) is not None


def _check_id(value: str, name: str) -> int:
    if not is_id(value):
        raise invalid(f"{name} must be a string of 1 to 18 digits.")
    return int(value)


def _account(emu: Emulator, call: Call, allowed: frozenset[str] | None) -> tuple[AdAccount, set[str]]:
    """The path's ad account and the caller's roles on it; `allowed` None means any role will do."""
    account_id = call.path("ad_account_id")
    _check_id(account_id, "ad_account_id")
    account = emu.store.get_ad_account(account_id)
    if account is None:
        raise ApiError(404, 404, "Ad account not found.")
    assert call.caller is not None
    roles = emu.store.roles(call.caller.user, account)
    if not roles or (allowed is not None and not roles & allowed):
        raise ApiError(403, 29, NOT_PERMITTED)
    refusal = ACCOUNT_STATES.get(emu.account_states.get(account.id, "ACTIVE"))
    if refusal is not None and allowed is WRITE_ROLES:
        raise ApiError(403, *refusal)
    return account, roles


def _customer_list(emu: Emulator, account: AdAccount, list_id_text: str) -> CustomerList:
    list_id = _check_id(list_id_text, "customer_list_id")
    found = emu.store.get_list(list_id)
    if found is None or found.ad_account_id != account.id:
        raise ApiError(404, 404, "Customer list not found.")
    return found


def _audience(emu: Emulator, account: AdAccount, audience_id_text: str, *, writing: bool = False) -> Audience:
    """The audience, or 404; a removed one is found only when listed removed audiences are on and for a read."""
    audience_id = _check_id(audience_id_text, "audience_id")
    found = emu.store.get_audience(audience_id)
    hidden = found is not None and found.removed and (emu.settings.removed_audiences == "hidden" or writing)
    if found is None or hidden or found.ad_account_id != account.id:
        raise ApiError(404, 404, "Audience not found.")
    return found


# shapes --------------------------------------------------------------------------------------------------------


def ad_account_json(emu: Emulator, account: AdAccount, roles: set[str]) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "owner": {"id": emu.store.user_id(account.owner), "username": account.owner},
        "country": account.country,
        "currency": account.currency,
        "permissions": sorted(roles),
        "created_time": int(account.created_time),
        "updated_time": int(account.created_time),
    }


def list_status(emu: Emulator, customer_list: CustomerList) -> str:
    if emu.now() < customer_list.processing_until:
        return "PROCESSING"
    return "READY" if customer_list.matched >= MIN_AUDIENCE_RECORDS else "TOO_SMALL"


def audience_status(emu: Emulator, audience: Audience) -> str:
    """READY or TOO_SMALL by the matches its list shows, INITIALIZING before the list's first matching ends,
    REMOVED for a removed audience while removed audiences are listed (setting `removed_audiences`)."""
    if audience.removed and emu.settings.removed_audiences == "listed":
        return "REMOVED"
    matched = audience.visible_matched(emu.now())
    if matched is None:
        return "INITIALIZING"
    return "READY" if matched >= MIN_AUDIENCE_RECORDS else "TOO_SMALL"


def customer_list_json(emu: Emulator, customer_list: CustomerList) -> dict[str, Any]:
    counter = float if emu.settings.fractional_counters else int
    return {
        "id": str(customer_list.id),
        "ad_account_id": customer_list.ad_account_id,
        "name": customer_list.name,
        "created_time": int(customer_list.created_time),
        "updated_time": int(customer_list.updated_time),
        "num_batches": counter(customer_list.num_batches),
        "num_uploaded_user_records": counter(customer_list.num_uploaded),
        "num_removed_user_records": counter(customer_list.num_removed),
        "status": list_status(emu, customer_list),
        "type": "customerlist",
        "exceptions": {},
    }


def audience_json(emu: Emulator, audience: Audience) -> dict[str, Any]:
    return {
        "id": str(audience.id),
        "ad_account_id": audience.ad_account_id,
        "name": audience.name,
        "audience_type": audience.audience_type,
        "description": audience.description,
        "rule": {"customer_list_id": str(audience.customer_list_id)},
        "size": audience.visible_matched(emu.now()),
        "status": audience_status(emu, audience),
        "type": "audience",
        "created_timestamp": int(audience.created_time),
        "updated_timestamp": int(audience.updated_time),
        "created_by_company_name": None,
    }


# pagination ----------------------------------------------------------------------------------------------------


def _page_params(call: Call) -> tuple[int, bool, int | None]:
    """(page_size, descending, id after which the page starts) from `page_size`, `order` and `bookmark`."""
    query = call.request.query_params
    size_text = query.get("page_size", str(PAGE_SIZE_DEFAULT))
    # ASCII digits, few enough for `int` (which refuses "²" and more than 4,300 digits).
    readable = size_text.isascii() and size_text.isdigit() and len(size_text) <= 9
    if not readable or not 1 <= int(size_text) <= PAGE_SIZE_MAX:
        raise invalid(f"page_size must be an integer from 1 to {PAGE_SIZE_MAX}.")
    order = query.get("order", "ASCENDING")
    if order not in ORDERS:
        raise invalid(f"order must be one of {', '.join(ORDERS)}.")
    descending = order == "DESCENDING"
    bookmark = query.get("bookmark")
    after = None if bookmark in (None, "") else _read_bookmark(bookmark, order)
    return int(size_text), descending, after


def _read_bookmark(bookmark: str, order: str) -> int:
    try:
        text = base64.urlsafe_b64decode(bookmark.encode() + b"=" * (-len(bookmark) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid("bookmark is not one this endpoint gave out.") from None
    bookmark_order, _, last_id = text.partition(":")
    if bookmark_order != order or not is_id(last_id):
        raise invalid("bookmark is not one this endpoint gave out (or order changed between pages).")
    return int(last_id)


def _bookmark(order_descending: bool, last_id: int) -> str:
    order = "DESCENDING" if order_descending else "ASCENDING"
    return base64.urlsafe_b64encode(f"{order}:{last_id}".encode()).decode().rstrip("=")


def _page(items: list[dict[str, Any]], ids: list[int], size: int, descending: bool) -> Response:
    bookmark = _bookmark(descending, ids[size - 1]) if len(ids) > size else None
    return JSONResponse({"items": items[:size], "bookmark": bookmark})


# bodies --------------------------------------------------------------------------------------------------------


def _object_body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise invalid("Invalid request body: expected a JSON object.")
    return call.body


def _string(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} is required.")
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string.")
    _check_text(value, name)
    return value


def _check_text(value: str, name: str) -> None:
    """Refuse text that is not valid Unicode (JSON lets lone surrogates through; SQLite cannot store them)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise invalid(f"{name} must be valid Unicode text.") from None


def _enum(body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = body.get(name, default)
    if value is None:
        raise invalid(f"{name} is required: one of {', '.join(allowed)}.")
    if value not in allowed:
        raise invalid(f"{name} must be one of {', '.join(allowed)}.")
    return str(value)


def _records(emu: Emulator, body: dict[str, Any], list_type: str) -> list[str]:
    text = body.get("records")
    if text is None:
        raise invalid("records is required: a string of comma-separated records.")
    if not isinstance(text, str):
        raise invalid("records must be a string of comma-separated records.")
    _check_text(text, "records")
    parsed = rec.parse(text)
    if not parsed:
        raise invalid("records must hold at least one record.")
    limit = emu.settings.max_records_per_request
    if limit is not None and len(parsed) > limit:
        raise invalid(f"records: at most {limit} records per request (got {len(parsed)}).")
    if emu.settings.strict_records:
        reason = rec.invalid_reason(parsed, list_type)
        if reason is not None:
            raise invalid(reason)
    return parsed


# handlers ------------------------------------------------------------------------------------------------------


async def ad_account_get(emu: Emulator, call: Call) -> Response:
    account, roles = _account(emu, call, None)
    return JSONResponse(ad_account_json(emu, account, roles))


async def customer_lists_create(emu: Emulator, call: Call) -> Response:
    account, _ = _account(emu, call, WRITE_ROLES)
    body = _object_body(call)
    name = _string(body, "name", required=True)
    assert name is not None
    if not name.strip():
        raise invalid("name must not be empty.")
    list_type = _enum(body, "list_type", LIST_TYPES, "EMAIL")
    records = _records(emu, body, list_type)
    now = emu.now()
    created = emu.store.create_list(
        ad_account_id=account.id,
        name=name,
        list_type=list_type,
        records=records,
        match_rate=emu.settings.match_rate,
        now=now,
        processing_until=now + emu.settings.processing_delay_s,
    )
    if emu.settings.track_sends:
        emu.store.count_sends(created.id, "ADD", records)
    return JSONResponse(customer_list_json(emu, created))


async def customer_lists_list(emu: Emulator, call: Call) -> Response:
    account, _ = _account(emu, call, READ_ROLES)
    size, descending, after = _page_params(call)
    found = emu.store.list_lists(account.id, after=after, descending=descending, limit=size + 1)
    return _page([customer_list_json(emu, c) for c in found], [c.id for c in found], size, descending)


async def customer_lists_get(emu: Emulator, call: Call) -> Response:
    account, _ = _account(emu, call, READ_ROLES)
    return JSONResponse(customer_list_json(emu, _customer_list(emu, account, call.path("customer_list_id"))))


async def customer_lists_update(emu: Emulator, call: Call) -> Response:
    account, _ = _account(emu, call, WRITE_ROLES)
    customer_list = _customer_list(emu, account, call.path("customer_list_id"))
    body = _object_body(call)
    operation = _enum(body, "operation_type", LIST_OPERATIONS, None)
    records = _records(emu, body, customer_list.list_type)
    now = emu.now()
    until = now + emu.settings.processing_delay_s
    if operation == "ADD":
        updated = emu.store.add_records(
            customer_list.id, customer_list.list_type, records, match_rate=emu.settings.match_rate, now=now,
            processing_until=until,
        )  # fmt: skip
    else:
        updated = emu.store.remove_records(
            customer_list.id, customer_list.list_type, records, now=now, processing_until=until
        )
    if emu.settings.track_sends:
        emu.store.count_sends(customer_list.id, str(operation), records)
    return JSONResponse(customer_list_json(emu, updated))


async def audiences_create(emu: Emulator, call: Call) -> Response:
    account, _ = _account(emu, call, WRITE_ROLES)
    body = _object_body(call)
    audience_type = _enum(body, "audience_type", AUDIENCE_TYPES, None)
    if audience_type != "CUSTOMER_LIST":
        raise invalid("audience_type: the emulator supports CUSTOMER_LIST audiences only.")
    name = _string(body, "name", required=True)
    assert name is not None
    if not name.strip():
        raise invalid("name must not be empty.")
    description = _string(body, "description", required=False)
    rule = body.get("rule")
    if not isinstance(rule, dict):
        raise invalid("rule is required: an object with customer_list_id.")
    list_id_text = rule.get("customer_list_id")
    if not isinstance(list_id_text, str) or not is_id(list_id_text):
        raise invalid("rule.customer_list_id must be a string of 1 to 18 digits.")
    customer_list = emu.store.get_list(int(list_id_text))
    if customer_list is None or customer_list.ad_account_id != account.id:
        raise invalid("rule.customer_list_id: no such customer list in this ad account.")
    _check_matched(emu, customer_list)
    created = emu.store.create_audience(
        ad_account_id=account.id, name=name, description=description, customer_list_id=customer_list.id,
        now=emu.now(),
    )  # fmt: skip
    return JSONResponse(audience_json(emu, created))


def _check_matched(emu: Emulator, customer_list: CustomerList) -> None:
    """Refuse an audience on a list with fewer than 100 matched members (Pinterest: "The API does not accept a
    lower number"); while the list is processing, what happens is the setting `audience_on_unmatched`."""
    now = emu.now()
    matched = customer_list.visible_matched(now)
    if matched is not None and matched >= MIN_AUDIENCE_RECORDS:
        return
    if now < customer_list.processing_until:
        if emu.settings.audience_on_unmatched == "accept":
            return
        raise invalid(
            "rule.customer_list_id: the customer list is still being processed; an audience needs at least "
            f"{MIN_AUDIENCE_RECORDS} matched records, known once processing ends."
        )
    raise invalid(
        f"rule.customer_list_id: the customer list must contain at least {MIN_AUDIENCE_RECORDS} matched "
        f"records to be associated with an audience (it has {customer_list.matched})."
    )


async def audiences_list(emu: Emulator, call: Call) -> Response:
    account, _ = _account(emu, call, READ_ROLES)
    size, descending, after = _page_params(call)
    ownership = call.request.query_params.get("ownership_type", "OWNED")
    if ownership not in OWNERSHIP_TYPES:
        raise invalid(f"ownership_type must be one of {', '.join(OWNERSHIP_TYPES)}.")
    if ownership == "RECEIVED":
        return JSONResponse({"items": [], "bookmark": None})
    listed = emu.settings.removed_audiences == "listed"
    found = emu.store.list_audiences(account.id, after=after, descending=descending, limit=size + 1, removed=listed)
    return _page([audience_json(emu, a) for a in found], [a.id for a in found], size, descending)


async def audiences_get(emu: Emulator, call: Call) -> Response:
    account, _ = _account(emu, call, READ_ROLES)
    return JSONResponse(audience_json(emu, _audience(emu, account, call.path("audience_id"))))


async def audiences_update(emu: Emulator, call: Call) -> Response:
    account, _ = _account(emu, call, WRITE_ROLES)
    audience = _audience(emu, account, call.path("audience_id"), writing=True)
    body = _object_body(call)
    operation = _enum(body, "operation_type", AUDIENCE_OPERATIONS, "UPDATE")
    name = _string(body, "name", required=False)
    if name is not None and not name.strip():
        raise invalid("name must not be empty.")
    description = _string(body, "description", required=False)
    rule = body.get("rule")
    if rule is not None:
        if not isinstance(rule, dict):
            raise invalid("rule must be an object.")
        new_list = rule.get("customer_list_id")
        if new_list is not None and new_list != str(audience.customer_list_id):
            raise invalid("rule.customer_list_id: the customer list of an audience cannot change.")
    updated = emu.store.update_audience(
        audience.id, name=name, description=description, removed=operation == "REMOVE", now=emu.now()
    )
    return JSONResponse(audience_json(emu, updated))


HANDLERS: dict[str, Handler] = {
    "ad_accounts/get": ad_account_get,
    "customer_lists/create": customer_lists_create,
    "customer_lists/list": customer_lists_list,
    "customer_lists/get": customer_lists_get,
    "customer_lists/update": customer_lists_update,
    "audiences/create": audiences_create,
    "audiences/list": audiences_list,
    "audiences/get": audiences_get,
    "audiences/update": audiences_update,
}
"""Every Pinterest operation the emulator serves under `/v5`, except `oauth/token` (see `oauth`)."""
