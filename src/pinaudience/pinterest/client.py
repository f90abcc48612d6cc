"""Typed async calls to the Pinterest API v5, each paced by the rate limiter and retried by the policy.

`PinterestClient` takes everything it depends on from outside (STYLE.md: inject, do not patch): the
`httpx.AsyncClient` (one connection pool, timeouts set), the token provider, the rate limiter, the retry
policy, the clock and an observer. `open_client(settings)` builds all of that one way, for the sync
engine, `check` and the CLI; pass `limiter=` to share one limiter between the audiences of a run.

One call, step by step: wait for the rate limiter; take a bearer token; send; classify the answer
(`errors.classify`). A 401 refreshes the token once and resends at once; 429, 500/502/503/504,
timeouts and dropped connections go back to the retry policy; anything else is raised.

Conversion events (`send_events`) take the same path with three differences: the rate limiter's
`ads_conversions` budget is the ad account's own (Pinterest counts it per ad account, not per user), the
bearer token is the conversion access token when the credentials hold one, and a 422 is an answer (some
events failed), not an error.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from pinaudience.clock import Clock, SystemClock
from pinaudience.errors import ConfigError, PinterestUnavailable
from pinaudience.pinterest import limits
from pinaudience.pinterest.errors import (
    CODE_MISSING_SCOPES,
    CODE_NOT_PERMITTED,
    EVENTS_OPERATION,
    classify,
    is_retriable,
    request_id,
    retry_delay_hint,
    transport_failure,
)
from pinaudience.pinterest.events import (
    ClientEvent,
    ClientStats,
    Observer,
    RateLimitHit,
    RequestSent,
    RetryScheduled,
    TokenRefreshed,
    fan_out,
)
from pinaudience.pinterest.http import new_http_client
from pinaudience.pinterest.limits import ListOperation
from pinaudience.pinterest.models import LIST_TYPES, AdAccount, Audience, ConversionEvent, CustomerList, EventsResult
from pinaudience.pinterest.providers import MissingTokenProvider, StaticTokenProvider, TokenProvider, token_provider
from pinaudience.pinterest.ratelimit import ListWriteGate, RateLimiter, make_rate_limiter
from pinaudience.pinterest.retry import Retryable, RetryPolicy

if TYPE_CHECKING:
    from pinaudience.pinterest.settings import PinterestSettings

log = logging.getLogger("pinaudience.pinterest")


def _log_event(event: ClientEvent) -> None:
    """Operations, statuses, delays and request ids only: what an operator needs, nothing secret."""
    if isinstance(event, RetryScheduled):
        log.warning(
            "retrying %s after %s in %.1f s (attempt %d failed%s)",
            event.operation,
            event.reason,
            event.delay_s,
            event.attempt,
            f", request id {event.request_id}" if event.request_id else "",
        )
    elif isinstance(event, TokenRefreshed):
        log.info("access token refreshed (%s); rotated refresh token saved", event.reason)
    elif isinstance(event, RateLimitHit):
        log.info("429 from Pinterest on %s", event.operation)


class PinterestClient:
    """The Pinterest operations pinaudience uses, on one ad account."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        ad_account_id: str,
        tokens: TokenProvider,
        limiter: RateLimiter,
        retry: RetryPolicy,
        clock: Clock,
        observer: Observer | None = None,
        stats: ClientStats | None = None,
        writes_in_flight_per_list: int = limits.DEFAULT_WRITES_IN_FLIGHT_PER_LIST,
        conversion_tokens: TokenProvider | None = None,
    ) -> None:
        if not limits.ID_PATTERN.match(ad_account_id):
            raise ConfigError(
                f"The ad account id must be 1 to 18 digits, got {ad_account_id!r}.",
                resolution="Copy the ad account id from the URL of Pinterest Ads Manager.",
            )
        self.ad_account_id = ad_account_id
        self.tokens = tokens
        self.conversion_tokens = conversion_tokens
        """The conversion access token's provider (`Credentials.conversion_token`), for `events/create` only; None
        sends events with `tokens`."""
        self.limiter = limiter
        self.stats = stats if stats is not None else ClientStats()
        """Requests, retries, 429s and refreshes so far, for the run report."""
        self._http = http
        self._retry = retry
        self._clock = clock
        self._notify = fan_out(self.stats, observer, _log_event)
        self.writes_in_flight_per_list = max(writes_in_flight_per_list, 1)
        """Updates of one customer list in flight at once (`PinterestSettings.writes_in_flight_per_list`)."""
        self._list_gates: dict[str, ListWriteGate] = {}

    def list_gate(self, customer_list_id: str) -> ListWriteGate:
        """The gate that spaces and bounds the updates of one customer list (see `ListWriteGate`)."""
        gate = self._list_gates.get(customer_list_id)
        if gate is None:
            gate = self._list_gates[customer_list_id] = ListWriteGate(self._clock, self.writes_in_flight_per_list)
        return gate

    # ------------------------------------------------------------------------------------ customer lists

    async def create_customer_list(self, name: str, records: Sequence[str], list_type: str = "EMAIL") -> CustomerList:
        """Create a list holding `records` (Pinterest requires at least one)."""
        if list_type not in LIST_TYPES:
            raise ValueError(f"list_type must be one of {sorted(LIST_TYPES)}, got {list_type!r}")
        body = {"name": name, "records": _join(records), "list_type": list_type}
        # Not idempotent: a create resent after a lost answer could leave a second list with this name.
        # So a failure after the request may have reached Pinterest is raised with `outcome_unknown` set
        # instead of retried; the sync engine then looks for the list by name before creating again.
        data = await self._call("customer_lists/create", json=body, idempotent=False)
        return CustomerList.from_api(data)

    async def iter_customer_lists(self, *, page_size: int = limits.PAGE_SIZE_MAX) -> AsyncGenerator[CustomerList]:
        """Every customer list of the ad account, page after page."""
        async for item in self._pages("customer_lists/list", page_size):
            yield CustomerList.from_api(item)

    async def list_customer_lists(self, *, page_size: int = limits.PAGE_SIZE_MAX) -> list[CustomerList]:
        """Every customer list of the ad account (all pages)."""
        return [item async for item in self.iter_customer_lists(page_size=page_size)]

    async def get_customer_list(self, customer_list_id: str) -> CustomerList:
        data = await self._call("customer_lists/get", customer_list_id=_checked_id(customer_list_id))
        return CustomerList.from_api(data)

    async def update_customer_list(
        self, customer_list_id: str, operation: ListOperation | str, records: Sequence[str]
    ) -> CustomerList:
        """ADD `records` to the list, or REMOVE them from it."""
        body = {"operation_type": ListOperation(operation).value, "records": _join(records)}
        # Retried like a read: ADD and REMOVE are idempotent on membership (a record added twice is a
        # member once; removing an absent record changes nothing), so resending a batch whose answer was
        # lost is safe. Only Pinterest's counters (num_batches, num_uploaded/removed) count it twice.
        list_id = _checked_id(customer_list_id)
        gate = self.list_gate(list_id)
        data = await self._call("customer_lists/update", customer_list_id=list_id, json=body, gate=gate)
        return CustomerList.from_api(data)

    # -------------------------------------------------------------------------------------------- audiences

    async def create_audience(self, name: str, customer_list_id: str, *, description: str | None = None) -> Audience:
        """Create a CUSTOMER_LIST audience on the list (Pinterest wants 100 matched members first)."""
        body: dict[str, Any] = {
            "ad_account_id": self.ad_account_id,
            "audience_type": "CUSTOMER_LIST",
            "name": name,
            "rule": {"customer_list_id": _checked_id(customer_list_id)},
        }
        if description is not None:
            body["description"] = description
        # Not idempotent either: raised with `outcome_unknown` rather than resent (see create_customer_list);
        # the sync engine looks for an audience on the list before creating again.
        data = await self._call("audiences/create", json=body, idempotent=False)
        return Audience.from_api(data)

    async def iter_audiences(self, *, page_size: int = limits.PAGE_SIZE_MAX) -> AsyncGenerator[Audience]:
        """Every audience the ad account owns, page after page."""
        async for item in self._pages("audiences/list", page_size):
            yield Audience.from_api(item)

    async def list_audiences(self, *, page_size: int = limits.PAGE_SIZE_MAX) -> list[Audience]:
        """Every audience the ad account owns (all pages)."""
        return [item async for item in self.iter_audiences(page_size=page_size)]

    async def get_audience(self, audience_id: str) -> Audience:
        data = await self._call("audiences/get", audience_id=_checked_id(audience_id))
        return Audience.from_api(data)

    async def update_audience(
        self,
        audience_id: str,
        *,
        operation_type: str = "UPDATE",
        name: str | None = None,
        description: str | None = None,
    ) -> Audience:
        """Rename or describe an audience (`UPDATE`), or remove it (`REMOVE`); its list stays bound."""
        if operation_type not in {"UPDATE", "REMOVE"}:
            raise ValueError(f"operation_type must be UPDATE or REMOVE, got {operation_type!r}")
        body: dict[str, Any] = {"operation_type": operation_type}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        data = await self._call("audiences/update", audience_id=_checked_id(audience_id), json=body)
        return Audience.from_api(data)

    async def remove_audience(self, audience_id: str) -> Audience:
        """Remove an audience (Pinterest has no DELETE: a PATCH with `REMOVE`)."""
        return await self.update_audience(audience_id, operation_type="REMOVE")

    # ------------------------------------------------------------------------------------------ ad account

    async def get_ad_account(self) -> AdAccount:
        data = await self._call("ad_accounts/get")
        return AdAccount.from_api(data)

    # -------------------------------------------------------------------------------------- conversion events

    async def send_events(
        self, events: Sequence[ConversionEvent], *, ad_account_id: str | None = None, test: bool = False
    ) -> EventsResult:
        """Send one batch of 1 to `limits.MAX_EVENTS_PER_REQUEST` conversion events, normalised and hashed already,
        to the ad account (this client's, unless `ad_account_id` names another); `test` asks Pinterest to judge them
        without recording any (`?test=true`).

        Returns Pinterest's answer for each event, in the order sent, whether Pinterest answered 200 (all
        processed) or 422 (some failed: `EventsResult.failures()` says which, with Pinterest's messages; the
        processed ones are recorded). Raises, before anything is sent, ValueError for an empty or oversized batch
        and TypeError for an event that is not a mapping; then the client's errors: `InvalidEvents` (400, code
        4196: the whole batch was refused, nothing recorded), `RequestTooLarge` (413: nothing recorded; splitting
        the batch is the caller's business), `AuthorizationError` (401), `InsufficientPermissions` (403: the
        token's user may not send events to the account), `RateLimited` and `PinterestUnavailable` after the retry
        policy gave up.

        Paced under `ads_conversions` with the ad account's own budget (`PinterestSettings.ads_conversions_limit`,
        Pinterest's 5,000 a minute per ad account), and under the overall per-second limit; no `ads_write` slot is
        used. Sent with the conversion access token when the credentials hold one, else with the OAuth token.

        Retried like the other calls (429, 500/502/503/504, timeouts, dropped connections). A retry after an answer
        was lost (a timeout, a dropped connection, a 5xx from a gateway after Pinterest recorded the batch) sends
        the same events again, and Pinterest may then hold them twice; it de-duplicates events by `event_id` (with
        its tag's events too) before reporting, so every event must carry a stable `event_id`, the same on every
        resend. A partial 422 is never resent: resending its failed events unchanged would fail them again.
        """
        account = _checked_id(ad_account_id if ad_account_id is not None else self.ad_account_id)
        body = {"data": _events(events)}
        response = await self._request(
            EVENTS_OPERATION,
            params={"test": "true"} if test else None,
            json=body,
            ad_account_id=account,
            limiter_key=account,
            tokens=self.conversion_tokens,
            accept=frozenset({_STATUS_NOT_ALL_PROCESSED}),
        )
        try:
            data = _json_object(response, EVENTS_OPERATION)
        except PinterestUnavailable as exc:
            exc.outcome_unknown = True  # a 200 or 422 that cannot be read: some events may have been recorded
            raise
        return EventsResult.from_api(
            data,
            sent=len(body["data"]),
            ad_account_id=account,
            test=test,
            http_status=response.status_code,
            request_id=request_id(response),
        )

    # ----------------------------------------------------------------------------------------------- core

    async def _pages(self, operation_id: str, page_size: int) -> AsyncGenerator[dict[str, Any]]:
        if not 1 <= page_size <= limits.PAGE_SIZE_MAX:
            raise ValueError(f"page_size must be 1..{limits.PAGE_SIZE_MAX}, got {page_size}")
        bookmark: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, str | int] = {"page_size": page_size}
            if bookmark:
                params["bookmark"] = bookmark
            data = await self._call(operation_id, params=params)
            items = data.get("items")
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict):
                    yield item
            next_bookmark = data.get("bookmark")
            if not isinstance(next_bookmark, str) or not next_bookmark:
                return
            if next_bookmark in seen:
                raise PinterestUnavailable(
                    f"Pinterest's {operation_id} pagination returned a bookmark it had already returned.",
                    operation=operation_id,
                )
            seen.add(next_bookmark)
            bookmark = next_bookmark

    async def _call(
        self,
        operation_id: str,
        *,
        params: dict[str, str | int] | None = None,
        json: dict[str, Any] | None = None,
        idempotent: bool = True,
        gate: ListWriteGate | None = None,
        **path_ids: str,
    ) -> dict[str, Any]:
        """One call with its retries; a non-idempotent call is retried only when it surely did not land.

        A `gate` (a customer list's updates) holds one of the list's writes in flight for the call and its
        retries, spaces each attempt after the list's last write, and widens that spacing on a 429.
        """
        response = await self._request(
            operation_id, params=params, json=json, idempotent=idempotent, gate=gate, path_ids=path_ids
        )
        return _json_object(response, operation_id)

    async def _request(
        self,
        operation_id: str,
        *,
        params: dict[str, str | int] | None = None,
        json: dict[str, Any] | None = None,
        idempotent: bool = True,
        gate: ListWriteGate | None = None,
        path_ids: Mapping[str, str] | None = None,
        ad_account_id: str | None = None,
        limiter_key: str | None = None,
        tokens: TokenProvider | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """`_call`'s loop, answering the response itself: a 2xx, or a status in `accept` (an answer the caller
        reads, such as the 422 of `events/create`). `ad_account_id` replaces the client's in the path,
        `limiter_key` divides the category's rate budget (see `RateLimiter`), `tokens` replaces the client's
        token provider."""
        op = limits.OPERATIONS[operation_id]
        account = ad_account_id or self.ad_account_id
        path = op.path.format(ad_account_id=account, **(path_ids or {})).lstrip("/")
        provider = tokens or self.tokens
        conversion_token = tokens is not None and tokens is self.conversion_tokens

        async def attempt(number: int) -> httpx.Response:
            refreshed = False
            while True:
                if gate is None:
                    await self.limiter.acquire(op.category, key=limiter_key)
                else:
                    async with gate.starting():
                        await self.limiter.acquire(op.category, key=limiter_key)
                token = await provider.access_token()
                self._notify(RequestSent(operation=operation_id, attempt=number))
                try:
                    response = await self._http.request(
                        op.method, path, params=params, json=json, headers={"Authorization": f"Bearer {token}"}
                    )
                except httpx.TransportError as exc:
                    raise transport_failure(exc, operation=operation_id, idempotent=idempotent) from None
                if response.status_code in accept:
                    return response
                error = classify(
                    response, operation=operation_id, ad_account_id=account, conversion_token=conversion_token
                )
                if error is None:
                    return response
                if (
                    response.status_code == 401
                    and error.code not in (CODE_MISSING_SCOPES, CODE_NOT_PERMITTED)
                    and not refreshed
                    and provider.can_refresh
                    and await provider.refresh_after_unauthorized(token)
                ):
                    refreshed = True
                    continue
                if not is_retriable(error):
                    raise error
                if not idempotent and response.status_code >= 500:
                    error.outcome_unknown = True
                    raise error
                hint = retry_delay_hint(response, self._clock.now())
                if response.status_code == 429:
                    self._notify(RateLimitHit(operation_id, hint, request_id(response)))
                    # Every call of this category would hit the same wall: hold them all back, for what
                    # Pinterest asked, or (no hint, as Pinterest documents it) for this call's own backoff.
                    wait = hint if hint is not None else self._retry.backoff(number)
                    await self.limiter.pause(op.category, wait, key=limiter_key)
                    if gate is not None:
                        gate.throttled()
                    raise Retryable(error, "429", wait)
                raise Retryable(error, str(response.status_code), hint)

        if gate is None:
            return await self._retry.run(attempt, operation=operation_id, on_retry=self._notify)
        async with gate.slot():
            return await self._retry.run(attempt, operation=operation_id, on_retry=self._notify)


_STATUS_NOT_ALL_PROCESSED = 422
"""`events/create`'s answer when some events failed: the spec's `DetailedError`, the per-event answers in `details`."""


def _events(events: Sequence[ConversionEvent]) -> list[dict[str, object]]:
    """The batch as sent (each event a dict, for JSON); refused here, before it leaves, when Pinterest would refuse
    it for its size, or it is not a batch of mappings."""
    if isinstance(events, str | bytes | Mapping):
        raise TypeError("events must be a sequence of events (mappings), not one event or a string")
    batch = list(events)
    if not 1 <= len(batch) <= limits.MAX_EVENTS_PER_REQUEST:
        raise ValueError(f"a batch holds 1 to {limits.MAX_EVENTS_PER_REQUEST} events, got {len(batch)}")
    for index, event in enumerate(batch):
        if not isinstance(event, Mapping):
            raise TypeError(f"event {index} of the batch is a {type(event).__name__}, not a mapping")
    return [event if isinstance(event, dict) else dict(event) for event in batch]


def _checked_id(value: str) -> str:
    if not isinstance(value, str) or not limits.ID_PATTERN.match(value):
        raise ValueError(f"Pinterest ids are 1 to 18 digits, got {value!r}")
    return value


def _join(records: Sequence[str]) -> str:
    """Pinterest takes the records of one request as one comma-separated string."""
    if isinstance(records, str):
        raise TypeError("records must be a sequence of strings, not one string")
    if not records:
        raise ValueError("a request needs at least one record")
    if len(records) > limits.MAX_RECORDS_PER_REQUEST:
        raise ValueError(f"at most {limits.MAX_RECORDS_PER_REQUEST} records per request, got {len(records)}")
    joined = ",".join(records)
    if joined.count(",") != len(records) - 1:
        raise ValueError("a record contains a comma, which would split it in two")  # never quote the record
    return joined


def _json_object(response: httpx.Response, operation_id: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise PinterestUnavailable(
            f"Pinterest's answer to {operation_id} was not a JSON object (HTTP {response.status_code}).",
            status=response.status_code,
            request_id=request_id(response),
            operation=operation_id,
        )
    return data


@contextlib.asynccontextmanager
async def open_client(
    settings: PinterestSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    observer: Observer | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    tokens: TokenProvider | None = None,
) -> AsyncIterator[PinterestClient]:
    """A client for `settings`, closed (with its connection pool) on exit.

    `transport` replaces the network (the emulator's in-process transport); `limiter` may be shared
    by several clients (its owner opens and closes it), else `make_rate_limiter(settings)` makes one, local or
    shared through Redis (`rate_limit_url`); `tokens` replaces the provider `settings.credentials` call for.
    A conversion access token in the credentials sends `send_events` with it; when the credentials hold nothing
    else, the other calls raise the `ConfigError` of missing credentials when they are made.
    """
    clock = clock or SystemClock()
    retry = retry or RetryPolicy.from_settings(settings, clock)
    stats = ClientStats()
    async with contextlib.AsyncExitStack() as stack:
        # Ours to open and close, unless given: with `rate_limit_url`, a PING here fails the run before any call.
        shared: RateLimiter = (
            limiter if limiter is not None else await stack.enter_async_context(make_rate_limiter(settings, clock))
        )
        http = await stack.enter_async_context(
            new_http_client(settings.api_base, timeout_s=settings.timeout_s, transport=transport)
        )
        conversion_token = settings.credentials.conversion_token
        conversion = StaticTokenProvider(conversion_token, clock=clock) if conversion_token else None
        provider: TokenProvider
        try:
            provider = tokens or token_provider(
                settings, http, clock=clock, retry=retry, observer=fan_out(stats, observer, _log_event)
            )
        except ConfigError as exc:
            if conversion is None:
                raise
            provider = MissingTokenProvider(exc)
        yield PinterestClient(
            http,
            ad_account_id=settings.ad_account_id,
            tokens=provider,
            limiter=shared,
            retry=retry,
            clock=clock,
            observer=observer,
            stats=stats,
            writes_in_flight_per_list=settings.writes_in_flight_per_list,
            conversion_tokens=conversion,
        )
