"""The emulator object: one Starlette app, its state, its clock, and the pipeline every Pinterest call runs through.

Each call to a `/v5` endpoint goes: count it for the fault plan and apply a scripted fault; authenticate the
bearer token and check its scope; admit it under the rate limits; read and bound the body; sleep the modelled
latency on the clock; run the operation; log it (never its records). `pinterest_api`, `oauth` and `admin`
hold the handlers.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pinaudience.clock import Clock, SystemClock
from pinaudience.emulator import admin, conversions, oauth, pinterest_api, web
from pinaudience.emulator import records as rec
from pinaudience.emulator.counters import Counters
from pinaudience.emulator.faults import Fault, FaultPlan
from pinaudience.emulator.http import (
    AUTH_FAILED,
    GATEWAY_STATUSES,
    RATE_LIMITED,
    ApiError,
    ConnectionDropped,
    DroppedResponse,
    RequestIdMiddleware,
    error_response,
    extra_error_keys,
    retry_headers,
)
from pinaudience.emulator.ratelimit import Limit, SlidingWindows
from pinaudience.emulator.seed import (
    SEED_ACCESS_TOKEN,
    SEED_AD_ACCOUNT_ID,
    SEED_AD_ACCOUNT_NAME,
    SEED_APP_ID,
    SEED_APP_SECRET,
    SEED_CONVERSION_TOKEN,
    SEED_REFRESH_TOKEN,
    SEED_SCOPES,
    SEED_USER,
)
from pinaudience.emulator.settings import EmulatorSettings
from pinaudience.emulator.store import AdAccount, Store
from pinaudience.pinterest import limits
from pinaudience.pinterest.limits import OPERATIONS, Category, Operation

REQUEST_LOG_SIZE = 10_000
"""The request log keeps the most recent calls only."""

_SCOPE_OF = {Category.ADS_READ: "ads:read", Category.ADS_WRITE: "ads:write", Category.ADS_CONVERSIONS: "ads:write"}
_WRITE_TARGET = {"customer_lists/update": "customer_list_id", "audiences/update": "audience_id"}
"""Write operations on one object, for the optional per-object write throttle, and the path field naming it."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: the user and app behind a valid access token."""

    user: str
    app_id: str
    token: str
    scopes: tuple[str, ...]


@dataclass
class Call:
    """One Pinterest call as a handler sees it."""

    request: Request
    operation: Operation
    caller: Caller | None
    body: Any = None
    """The parsed JSON body (or None), or the raw bytes for `oauth/token`."""
    raw: bytes = b""
    """The body as received."""
    records: int = 0
    log: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[["Emulator", Call], Awaitable[Response]]


class _ClientTransport(httpx.AsyncBaseTransport):
    """`httpx.ASGITransport` that turns a deliberate drop into the error httpx raises when a server drops."""

    def __init__(self, app: Starlette) -> None:
        self._inner = httpx.ASGITransport(app=app, client=("127.0.0.1", 50_000))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response.", request=request
            ) from None

    async def aclose(self) -> None:
        await self._inner.aclose()


class Emulator:
    """Pinterest's customer list, audience, ad account, conversion event and OAuth endpoints, with an admin API.

    `settings` is the live settings object (changed by `PUT /_emulator/settings`); reset restores the values
    it had here. `profile` (`default` or `realistic`) starts from that profile's settings instead; give one or
    the other (`EmulatorSettings.from_profile(name, **changes)` makes both). `clock` is the time source
    (shared with the client in tests); the emulator's own time is that clock plus an offset moved by
    `POST /_emulator/clock/advance`. `db_path` keeps the state in a SQLite file; without it the state lives in
    memory.
    """

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        profile: str | None = None,
        clock: Clock | None = None,
        db_path: Path | None = None,
    ) -> None:
        if settings is not None and profile is not None:
            raise ValueError("give settings or a profile, not both: EmulatorSettings.from_profile(name, **changes)")
        self.settings = settings if settings is not None else EmulatorSettings.from_profile(profile or "default")
        self._initial_settings = self.settings.copy()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.store = Store(db_path)
        self._offset = float(self.store.get_meta("clock_offset") or 0.0)
        if self.store.is_empty():
            self._seed()
        self.faults = FaultPlan()
        self.account_states: dict[str, str] = {}
        """Ad account id -> a state of `pinterest_api.ACCOUNT_STATES` (set through the admin API; in memory)."""
        self.windows = SlidingWindows()
        self.counters = Counters()
        """Token grants, admissions (with their times) and 429s by cause, for `GET /_emulator/counters`."""
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.app = Starlette(
            routes=self._routes(),
            middleware=[Middleware(RequestIdMiddleware)],
            exception_handlers={HTTPException: _http_exception, Exception: _internal_error},
        )
        # An empty id (`.../customer_lists/`) must be an error, not a 307 to the listing.
        self.app.router.redirect_slashes = False

    # time ----------------------------------------------------------------------------------------------------

    def now(self) -> float:
        """The emulator's wall time (Unix seconds): token expiry, timestamps, `X-RateLimit-Reset`."""
        return self.clock.now() + self._offset

    def monotonic(self) -> float:
        """The emulator's interval time: rate-limit windows."""
        return self.clock.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's time forward (the shared clock is left alone)."""
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError("the emulator's clock only moves forward")
        self._offset += seconds
        self.store.set_meta("clock_offset", repr(self._offset))

    # lifecycle -----------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (state, faults, windows, log, clock offset, changed settings) and re-seed."""
        self.store.clear()
        self._offset = 0.0
        self._seed()
        self.faults = FaultPlan()
        self.account_states.clear()
        self.windows.clear()
        self.counters.clear()
        self.requests.clear()
        self.settings.update(self._initial_settings.to_dict())

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process transport for `httpx.AsyncClient(transport=...)`; drops raise `httpx.RemoteProtocolError`."""
        return _ClientTransport(self.app)

    def close(self) -> None:
        self.store.close()

    def _seed(self) -> None:
        now = self.now()
        self.store.add_app(SEED_APP_ID, SEED_APP_SECRET, SEED_USER)
        self.store.add_ad_account(AdAccount(SEED_AD_ACCOUNT_ID, SEED_AD_ACCOUNT_NAME, SEED_USER, "US", "USD", now))
        self.store.create_token_pair(
            user=SEED_USER,
            app_id=SEED_APP_ID,
            scopes=SEED_SCOPES,
            now=now,
            access_ttl_s=limits.ACCESS_TOKEN_TTL_S,
            refresh_ttl_s=limits.REFRESH_TOKEN_TTL_S,
            access_token=SEED_ACCESS_TOKEN,
            refresh_token=SEED_REFRESH_TOKEN,
        )
        self.store.create_conversion_token(
            user=SEED_USER, now=now, ttl_s=conversions.CONVERSION_TOKEN_TTL_S, token_text=SEED_CONVERSION_TOKEN
        )
        self.store.set_meta("clock_offset", repr(self._offset))

    # routes --------------------------------------------------------------------------------------------------

    def _routes(self) -> list[BaseRoute]:
        pinterest: list[BaseRoute] = [
            Route("/v5" + OPERATIONS[op_id].path, self._endpoint(op_id, handler), methods=[OPERATIONS[op_id].method])
            for op_id, handler in {**pinterest_api.HANDLERS, "events/create": conversions.events_create}.items()
        ]
        pinterest.append(
            Route("/v5/oauth/token", self._endpoint("oauth/token", oauth.token), methods=["POST"]),
        )
        return [*pinterest, *oauth.routes(self), *admin.routes(self), *web.routes(self)]

    def _endpoint(self, operation_id: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        operation = OPERATIONS[operation_id]

        async def endpoint(request: Request) -> Response:
            return await self._pinterest_call(request, operation, handler)

        return endpoint

    # the pipeline --------------------------------------------------------------------------------------------

    async def _pinterest_call(self, request: Request, operation: Operation, handler: Handler) -> Response:
        call = Call(request=request, operation=operation, caller=None)
        call.log = {
            "method": request.method,
            "path": request.url.path,
            "operation": operation.operation_id,
            "status": None,
            "records": 0,
            "at": self.now(),
            "rid": request.state.rid,
            "fault": None,
        }
        fault = self.faults.next(operation.operation_id)
        if fault is not None:
            call.log["fault"] = fault.kind
        try:
            if fault is not None:
                await self._apply_fault(request, fault, operation)
                if fault.drop == "before":
                    return self._drop(call)
            response = await self._serve(call, handler)
        except ApiError as err:
            response = err.response(extra_error_keys(self.now()) if self.settings.error_extra_keys else None)
        if fault is not None and fault.drop == "after":
            return self._drop(call)
        call.log["status"] = response.status_code
        self.requests.append(call.log)
        return response

    def _drop(self, call: Call) -> Response:
        self.requests.append(call.log)
        return DroppedResponse()

    async def _apply_fault(self, request: Request, fault: Fault, operation: Operation) -> None:
        if fault.delay_s:
            await self.clock.sleep(fault.delay_s)
        if fault.revoke:
            token = _bearer(request)
            if token is not None:
                self.store.revoke_token(token)
            raise ApiError(401, 2, AUTH_FAILED)
        if fault.status == 429:
            self.counters.refuse(("fault",))
            headers = retry_headers(self.settings.rate_limit_hints, fault.retry_after_s, self.now())
            raise ApiError(429, 8, RATE_LIMITED, headers)
        if fault.status == 503 and operation.category is Category.ADS_CONVERSIONS:
            raise ApiError(503, *conversions.RAMPED_DOWN)  # the spec's 503 of events/create
        if fault.status is not None:
            html = (
                fault.html
                if fault.html is not None
                else fault.status in GATEWAY_STATUSES and self.settings.gateway_html
            )
            raise ApiError(fault.status, fault.status, _SERVER_ERRORS[fault.status], html=html)

    async def _serve(self, call: Call, handler: Handler) -> Response:
        operation = call.operation
        has_body = operation.method in ("POST", "PATCH", "PUT")
        raw = None
        if has_body and self.settings.gateway_html:
            raw = await self._read_body(call.request)  # a gateway refuses a large body before Pinterest sees it
        if operation.operation_id != "oauth/token":
            call.caller = self._authenticate(call.request, operation)
            self._admit(call)
        if has_body:
            if raw is None:
                raw = await self._read_body(call.request)
            call.raw = raw
            if operation.operation_id == "oauth/token":
                call.body = raw
            elif operation.category is Category.ADS_CONVERSIONS:
                call.body = _parse_json(raw, conversions.INVALID_REQUEST)
                if isinstance(call.body, dict) and isinstance(call.body.get("data"), list):
                    call.records = len(call.body["data"])  # events, for the log and the latency model
                    call.log["records"] = call.records
            else:
                call.body = _parse_json(raw)
                if isinstance(call.body, dict) and isinstance(call.body.get("records"), str):
                    call.records = rec.count(call.body["records"])
                    call.log["records"] = call.records
        latency_s = self.settings.latency_ms / 1e3 + call.records * self.settings.latency_per_record_us / 1e6
        if latency_s > 0:
            await self.clock.sleep(latency_s)
        return await handler(self, call)

    def _authenticate(self, request: Request, operation: Operation) -> Caller:
        token_text = _bearer(request)
        token = self.store.get_token(token_text) if token_text else None
        if token is None or token.revoked or token.expires_at <= self.now():
            raise ApiError(401, 2, AUTH_FAILED)
        if token.kind == "conversion" and operation.category is Category.ADS_CONVERSIONS:
            # A conversion access token (Ads Manager's) is good for events/create alone, and has no scopes.
            return Caller(user=token.user, app_id=token.app_id, token=token.token, scopes=token.scopes)
        if token.kind != "access":
            raise ApiError(401, 2, AUTH_FAILED)
        needed = _SCOPE_OF.get(operation.category)
        if needed is not None and needed not in token.scopes:
            raise ApiError(401, 3, f"Authorization failed: the access token lacks the {needed} scope.")
        return Caller(user=token.user, app_id=token.app_id, token=token.token, scopes=token.scopes)

    def _admit(self, call: Call) -> None:
        """Admit the call under every rate limit it falls under, or answer 429 code 8 and use no slot."""
        caller = call.caller
        assert caller is not None
        s = self.settings
        per_window = {Category.ADS_READ: s.ads_read_per_window, Category.ADS_WRITE: s.ads_write_per_window}
        checks = [Limit(("second", caller.user, caller.app_id), s.per_second, 1.0, "per_second")]
        category = call.operation.category
        if category in per_window:
            window = ("category", caller.user, caller.app_id, category)
            checks.append(Limit(window, per_window[category], s.window_s, category.value))
        if category is Category.ADS_CONVERSIONS:
            # "5,000 calls per minute per ad account" (the spec): keyed by the ad account, whoever calls.
            account = call.request.path_params.get("ad_account_id")
            checks.append(Limit(("conversions", account), s.ads_conversions_per_window, s.window_s, "ads_conversions"))
        target = _WRITE_TARGET.get(call.operation.operation_id)
        if target is not None and s.list_writes_per_window is not None:
            key = ("object", call.operation.operation_id, call.request.path_params.get(target))
            checks.append(Limit(key, s.list_writes_per_window, s.list_write_window_s, "object"))
        now = self.monotonic()
        wait, full = self.windows.admit(checks, now)
        if wait <= 0:
            self.counters.admit(category.value, now)
            return
        self.counters.refuse(tuple(limit.cause for limit in full))
        raise ApiError(429, 8, RATE_LIMITED, retry_headers(s.rate_limit_hints, wait, self.now()))

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        # ASCII digits only ("²".isdigit() is true; `int` refuses it), and 19 or more are too many whatever they say.
        if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
            raise self._too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise self._too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, limit: int) -> ApiError:
        return ApiError(413, 1, f"Request body too large: at most {limit} bytes.", html=self.settings.gateway_html)


_SERVER_ERRORS = {
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service unavailable. Try again later.",
    504: "Gateway timeout.",
}


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def _parse_json(raw: bytes, code: int = 1) -> Any:
    """The JSON body, or None when empty; not JSON: 400 with `code` (1, or 4196 for `events/create`)."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ApiError(400, code, "Invalid request body: expected JSON.") from None


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "Not found.", 405: "Method not allowed."}
    message = messages.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, exc.status_code, message, dict(exc.headers or {}))


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error_response(500, 500, "Internal server error.")
