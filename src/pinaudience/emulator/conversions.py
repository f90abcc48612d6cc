"""Pinterest's Conversions API, `events/create`: validation of the body and of each event, per-event answers, test mode.

Two levels of refusal, as Pinterest has them. A body that breaks the spec's schema (`ConversionEvents`: types,
required fields, unknown fields where the schema is closed, 1 to 1,000 events, the `user_data` rule "at least
one of em, hashed_maids, or client_ip_address with client_user_agent") refuses the whole request with 400 code
4196, "Invalid request: ..." (Pinterest answered an unexpected `custom_data` field so: woocommerce/pinterest-for-
woocommerce issue 967). What the spec says only in words (the event names and action sources it lists, SHA-256
hashes in `user_data`) is judged per event: a failed event is not recorded, the others are, and the answer is
422 with `DetailedError` when any failed. `EVENTS_SCHEMA` is the spec's schema, which the contract tests compare
with the spec itself. Messages name the field and position, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from pinaudience.emulator.http import NOT_PERMITTED, ApiError, extra_error_keys
from pinaudience.pinterest.limits import (
    CONVERSION_ACTION_SOURCES,
    CONVERSION_EVENT_NAMES,
    CONVERSION_HASHED_FIELDS,
    ID_PATTERN,
    MAX_EVENTS_PER_REQUEST,
)

if TYPE_CHECKING:
    from pinaudience.emulator.app import Call, Emulator
    from pinaudience.emulator.store import AdAccount

INVALID_REQUEST = 4196
"""Pinterest's code for a 400 of `events/create` ("The request was invalid.", the spec's example)."""
RAMPED_DOWN = (4197, "The endpoint has been ramped down and is currently not accepting any traffic.")
"""The spec's 503 of `events/create`: a scripted 503 on this operation answers with it."""
NOT_ALL_PROCESSED = "Not all events were successfully processed."
"""The spec's description of the 422; the emulator's message (Pinterest's own is not documented)."""

CONVERSION_TOKEN_TTL_S = 10 * 365 * 24 * 3600.0
"""Conversion access tokens are "long-lived" (the spec's `oauth/conversion_token`); how long is not documented."""

CONVERSION_ROLES = frozenset({"OWNER", "ADMIN", "ANALYST", "AUDIENCE_MANAGER", "CAMPAIGN_MANAGER"})
"""Who may send events: "the Owner of the specified ad account, or ... Business Access: Admin, Analyst, Audience,
Campaign" (the spec)."""

# the spec's schema ------------------------------------------------------------------------------------------------

_STR: dict[str, Any] = {"type": "string"}
_NSTR: dict[str, Any] = {"type": "string", "nullable": True}
_INT: dict[str, Any] = {"type": "integer"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_STRS: dict[str, Any] = {"type": "array", "items": _STR}


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length}


def _count(maximum: int | None = None) -> dict[str, Any]:
    bounds = {"minimum": 0} if maximum is None else {"minimum": 0, "maximum": maximum}
    return {"type": "integer", **bounds}


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


_USER_DATA_PROPERTIES: dict[str, Any] = {
    **{name: _STRS for name in CONVERSION_HASHED_FIELDS},
    "client_ip_address": _STR,
    "client_user_agent": _STR,
    "click_id": _NSTR,
    "partner_id": _NSTR,
}
_APP_INFO = _closed(
    {
        "app_id": _text(200), "app_name": _text(200), "app_package_name": _text(200), "app_store": _text(100),
        "app_version": _text(100), "install_time": _count(), "user_agent": _text(16384),
        "window_height": _count(30720), "window_width": _count(30720),
    }
)  # fmt: skip
_DEVICE_INFO = _closed(
    {
        "battery_level": _count(100), "brand": _text(100), "carrier": _text(100), "cpu_cores": _count(1152),
        "external_storage_free_space": _count(1048576), "external_storage_size": _count(1048576),
        "form_factor": {"type": "string", "enum": [
            "desktop", "laptop", "cellphone", "tablet", "smartwatch", "tv", "vr", "console", "other"]},
        "kernel_version": _text(100),
        "languages": {"type": "array", "items": _STR, "maxItems": 100, "minItems": 0},
        "locale": _text(35), "model": _text(100),
        "network_type": {"type": "string", "enum": [
            "wifi", "cellular_2g", "cellular_3g", "cellular_4g", "cellular_5g", "cellular_6g", "ethernet", "unknown"]},
        "os_family": {"type": "string", "enum": ["ios", "android", "macos", "windows", "linux", "bsd", "other"]},
        "os_name": _text(100), "os_release_name": _text(100), "os_version": _text(100),
        "screen_density": _count(100000), "screen_height": _count(30720), "screen_width": _count(30720),
        "storage_free_space": _count(1048576), "storage_size": _count(1048576), "timezone": _text(40),
        "timezone_abbr": _text(5), "type": _text(100),
    }
)  # fmt: skip
_CUSTOM_DATA = _closed(
    {
        "content_brand": _NSTR, "content_category": _NSTR, "content_ids": _STRS, "content_name": _NSTR,
        "contents": {"type": "array", "items": _closed({
            "id": _STR, "item_brand": _STR, "item_category": _STR, "item_name": _STR, "item_price": _STR,
            "quantity": _INT})},
        "currency": _NSTR, "external_measurement_id": _NSTR,
        "external_measurement_vendor_id": {"type": "integer", "nullable": True}, "np": _NSTR, "num_items": _INT,
        "opt_out_type": _NSTR, "order_id": _NSTR, "predicted_ltv": _NSTR, "search_string": _NSTR, "value": _NSTR,
    }
)  # fmt: skip
_EVENT = _closed(
    {
        "action_source": _STR, "app_id": _NSTR, "app_info": _APP_INFO, "app_name": _NSTR, "app_version": _NSTR,
        "custom_data": _CUSTOM_DATA, "device_brand": _NSTR, "device_carrier": _NSTR, "device_info": _DEVICE_INFO,
        "device_model": _NSTR, "device_type": _NSTR, "event_id": _STR, "event_name": _STR,
        "event_source_url": _NSTR, "event_time": _INT, "language": _NSTR, "opt_out": _BOOL, "os_version": _NSTR,
        "partner_name": _NSTR,
        "user_data": {"type": "object", "anyOf": [
            {"type": "object", "properties": _USER_DATA_PROPERTIES, "required": required}
            for required in (["em"], ["hashed_maids"], ["client_ip_address", "client_user_agent"])]},
        "wifi": _BOOL,
    },
    required=["event_name", "action_source", "event_time", "user_data", "event_id"],
)  # fmt: skip
EVENTS_SCHEMA = _closed(
    {"data": {"type": "array", "items": _EVENT, "maxItems": MAX_EVENTS_PER_REQUEST, "minItems": 1}},
    required=["data"],
)
"""The spec's `ConversionEvents`, `$ref`s resolved, without descriptions, examples, titles and formats."""


class _Invalid(Exception):
    """A value breaks the schema: `message` says how, `where` (".field", "[3]", ...) where, built on the way up."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def inside(self, part: str) -> _Invalid:
        return _Invalid(self.message, part + self.where)

    def __str__(self) -> str:
        where = self.where.removeprefix(".")
        return f"{where}: {self.message}" if where else self.message


Validator = Callable[[Any], None]
"""Checks one JSON value against one schema; raises `_Invalid`."""


def compile_schema(schema: dict[str, Any]) -> Validator:
    """A validator of `schema` (the subset of JSON Schema the spec uses here), built once: a 1,000-event body is
    checked in a few milliseconds. JSON's types are exact (`type(x) is int` excludes `True`); an integer is a
    number without a fraction or exponent, so `1.0` is refused, as openapi-core refuses it against the spec."""
    kind = schema["type"]
    nullable = bool(schema.get("nullable"))
    check = {"string": _string, "integer": _integer, "boolean": _boolean, "array": _array, "object": _object}[kind]
    inner = check(schema)
    article = "an" if kind[0] in "aeiou" else "a"
    expected = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}[kind]

    def validate(value: Any) -> None:
        if value is None:
            if nullable:
                return
            raise _Invalid("must not be null")
        if type(value) is not expected:
            raise _Invalid(f"expected {article} {kind}")
        if inner is not None:
            inner(value)

    return validate


def _string(schema: dict[str, Any]) -> Validator | None:
    max_length: int | None = schema.get("maxLength")
    enum: list[str] | None = schema.get("enum")

    def validate(value: str) -> None:
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise _Invalid("must be valid Unicode text") from None
        if max_length is not None and len(value) > max_length:
            raise _Invalid(f"longer than {max_length} characters")
        if enum is not None and value not in enum:
            raise _Invalid(f"must be one of {', '.join(enum)}")

    return validate


def _integer(schema: dict[str, Any]) -> Validator | None:
    minimum: int | None = schema.get("minimum")
    maximum: int | None = schema.get("maximum")
    if minimum is None and maximum is None:
        return None

    def validate(value: int) -> None:
        if minimum is not None and value < minimum:
            raise _Invalid(f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise _Invalid(f"must be at most {maximum}")

    return validate


def _boolean(schema: dict[str, Any]) -> Validator | None:
    return None


def _array(schema: dict[str, Any]) -> Validator:
    item = compile_schema(schema["items"])
    min_items: int = schema.get("minItems", 0)
    max_items: int | None = schema.get("maxItems")

    def validate(value: list[Any]) -> None:
        if len(value) < min_items:
            raise _Invalid(f"expected at least {min_items} items, got {len(value)}")
        if max_items is not None and len(value) > max_items:
            raise _Invalid(f"expected at most {max_items} items, got {len(value)}")
        for index, element in enumerate(value):
            try:
                item(element)
            except _Invalid as err:
                raise err.inside(f"[{index}]") from None

    return validate


def _object(schema: dict[str, Any]) -> Validator:
    if "anyOf" in schema:
        options = [(option.get("required", []), _object(option)) for option in schema["anyOf"]]

        def any_of(value: dict[str, Any]) -> None:
            for required, option in options:
                if all(name in value for name in required):
                    option(value)
                    return
            raise _Invalid("needs em, hashed_maids, or client_ip_address with client_user_agent")

        return any_of
    properties = {name: compile_schema(sub) for name, sub in schema.get("properties", {}).items()}
    required: list[str] = schema.get("required", [])
    closed = schema.get("additionalProperties") is False

    def validate(value: dict[str, Any]) -> None:
        if closed:
            for name in value:
                if name not in properties:
                    raise _Invalid(f"Additional properties are not allowed ({_name(name)} was unexpected)")
        for name in required:
            if name not in value:
                raise _Invalid(f"{name} is required")
        for name, element in value.items():
            check = properties.get(name)
            if check is not None:
                try:
                    check(element)
                except _Invalid as err:
                    raise err.inside(f".{name}") from None

    return validate


_check_events = compile_schema(EVENTS_SCHEMA)


def _name(text: str) -> str:
    """A field name fit for a message: at most 40 characters, valid Unicode."""
    shown = text if len(text) <= 40 else text[:40] + "…"
    return repr(shown.encode("utf-8", "backslashreplace").decode())


# per event ------------------------------------------------------------------------------------------------------

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA256_ANY_CASE = re.compile(r"[0-9a-fA-F]{64}")


def _judge(emu: Emulator, event: dict[str, Any], now: float) -> tuple[list[str], list[str]]:
    """The errors (any one fails the event) and warnings of one schema-valid event."""
    errors: list[str] = []
    warnings: list[str] = []
    if event["event_name"] not in CONVERSION_EVENT_NAMES:
        errors.append("event_name: not one of Pinterest's event names")
    if event["action_source"] not in CONVERSION_ACTION_SOURCES:
        errors.append(f"action_source: must be one of {', '.join(CONVERSION_ACTION_SOURCES)}")
    max_age = emu.settings.max_event_age_s
    if max_age is not None and event["event_time"] < now - max_age:
        errors.append(f"event_time: older than {max_age / 86400:g} days")
    user_data: dict[str, Any] = event["user_data"]
    for name in CONVERSION_HASHED_FIELDS:
        for index, value in enumerate(user_data.get(name) or []):
            if value.isascii() and _SHA256.fullmatch(value):
                continue
            where = f"user_data.{name}[{index}]"
            upper = value.isascii() and _SHA256_ANY_CASE.fullmatch(value) is not None
            if upper and emu.settings.uppercase_hex != "fail":
                if emu.settings.uppercase_hex == "warn":
                    warnings.append(f"{where}: upper-case hex; send SHA-256 hashes in lowercase hex")
                continue
            message = f"{where}: not a SHA-256 hash in lowercase hex"
            if name == "em" or emu.settings.unhashed_user_data == "fail":
                errors.append(message)
            else:
                warnings.append(message)
    unknown = [name for name in user_data if name not in _USER_DATA_PROPERTIES]
    if unknown:
        warnings.append(f"user_data: {len(unknown)} field(s) that are not standard were ignored")
    return errors, warnings


# the handler ----------------------------------------------------------------------------------------------------


def _invalid(message: str) -> ApiError:
    return ApiError(400, INVALID_REQUEST, f"Invalid request: {message}.")


def _account(emu: Emulator, call: Call) -> AdAccount:
    account_id = call.path("ad_account_id")
    if not (account_id.isascii() and ID_PATTERN.fullmatch(account_id)):
        raise _invalid("ad_account_id must be a string of 1 to 18 digits")
    account = emu.store.get_ad_account(account_id)
    if account is None:
        raise ApiError(404, 404, "Ad account not found.")
    assert call.caller is not None
    if not emu.store.roles(call.caller.user, account) & CONVERSION_ROLES:
        raise ApiError(403, 29, NOT_PERMITTED)
    return account


def _test_mode(call: Call) -> bool:
    text = call.request.query_params.get("test")
    if text is None or text.lower() == "false":
        return False
    if text.lower() == "true":
        return True
    raise _invalid("test must be true or false")


async def events_create(emu: Emulator, call: Call) -> Response:
    """`POST /ad_accounts/{ad_account_id}/events`: 200 when every event was processed, else 422 with the same
    per-event answers under `details`; processed events are recorded unless `?test=true`."""
    test = _test_mode(call)
    account = _account(emu, call)
    if call.body is None:
        raise _invalid("a JSON body is required")
    try:
        _check_events(call.body)
    except _Invalid as err:
        raise _invalid(str(err)) from None
    events: list[dict[str, Any]] = call.body["data"]
    now = emu.now()
    answers = []
    processed: list[tuple[int, str]] = []
    for position, event in enumerate(events):
        errors, warnings = _judge(emu, event, now)
        answers.append(
            {
                "status": "failed" if errors else "processed",
                "error_message": "; ".join(errors),
                "warning_message": "; ".join(warnings),
            }
        )
        if not errors:
            processed.append((position, event["event_id"]))
    failed = len(events) - len(processed)
    emu.store.record_conversions(account.id, call.raw, processed, failed=failed, test=test, now=now)
    # The order of a real answer (woocommerce/pinterest-for-woocommerce issue 945).
    answer = {"num_events_processed": len(processed), "num_events_received": len(events), "events": answers}
    if len(processed) == len(events):
        return JSONResponse(answer)
    body: dict[str, Any] = {"code": 422, "message": NOT_ALL_PROCESSED, "details": answer}
    if emu.settings.error_extra_keys:
        body.update(extra_error_keys(now))
    return JSONResponse(body, status_code=422)


def event_counts_json(emu: Emulator, account_id: str) -> dict[str, Any]:
    """The admin API's counts for one ad account; `reported` follows the setting `dedupe_event_ids`."""
    counts = emu.store.conversion_counts(account_id)
    return {
        "ad_account_id": account_id,
        "received": counts.received,
        "unique_event_ids": counts.unique_event_ids,
        "reported": counts.unique_event_ids if emu.settings.dedupe_event_ids else counts.received,
        "requests": counts.requests,
        "events_failed": counts.events_failed,
        "test_requests": counts.test_requests,
        "test_events": counts.test_events,
    }
