"""Turn Pinterest's answers into pinaudience errors: one pure function, `classify`, and its helpers.

Pinterest documents few error codes and none for "expired versus invalid token" or "list not found"
(../shared/pinterest/API-NOTES.md), so the HTTP status decides first and the code refines it:

| status              | code | error                     | retried by the client         |
|---------------------|------|---------------------------|-------------------------------|
| 2xx                 |      | none                      |                               |
| 401                 | 29   | InsufficientPermissions   | no                            |
| 401                 | 3    | AuthorizationError        | no (scopes do not come back)  |
| 401                 | else | AuthorizationError        | once, after a token refresh   |
| 403                 | 2625 | InsufficientPermissions   | no (ad account disapproved)   |
| 403                 | 2626 | InsufficientPermissions   | no (ad account under review)  |
| 403                 | any  | InsufficientPermissions   | no                            |
| 404                 | any  | NotFound                  | no                            |
| 429                 | any  | RateLimited               | yes                           |
| 500, 502, 503, 504  | any  | PinterestUnavailable      | yes                           |
| other 5xx           | any  | PinterestUnavailable      | no                            |
| 413                 | any  | RequestTooLarge           | no (the upload splits the batch) |
| anything else       | any  | InvalidRequest            | no (400: fix the request)     |
| no response         |      | PinterestUnavailable      | yes (timeouts, dropped conns) |

Conversion events (`events/create`) differ in three rows, and in their resolutions: a 400 (code 4196) is
`InvalidEvents` (the whole batch was refused); a 401 names the token that was refused (the conversion access
token, when one is configured: it cannot be refreshed, only generated again in Ads Manager); a 403 names the
roles that may send events. A 422 is not an error there: the client reads it as an `EventsResult` (some events
failed) before it gets here.

An answer whose body is not JSON (a gateway's HTML page before Pinterest, for 413, 502 or 504) is
classified by its status alone, and the message says so: "The answer to customer_lists/update (HTTP 502)
was not JSON (text/html), so it may come from a gateway before Pinterest". Its body is never quoted.

`transport_failure` maps httpx's transport errors (no response) for every caller: the client and the
token endpoint.

Every error carries the status, Pinterest's code and message, and the `x-pinterest-rid` request id.
Pinterest's message is passed through `pinaudience.support.redact`, because a validation message may
quote a record; a token never reaches a response body, and request headers are never read here.
"""

from __future__ import annotations

import email.utils
import re
from typing import Any

import httpx

from pinaudience.errors import (
    AuthorizationError,
    InsufficientPermissions,
    InvalidEvents,
    InvalidRequest,
    NotFound,
    PinterestError,
    PinterestUnavailable,
    RateLimited,
    RequestTooLarge,
)
from pinaudience.pinterest.retry import Retryable
from pinaudience.support.redact import redact

REQUEST_ID_HEADER = "x-pinterest-rid"

CODE_MISSING_SCOPES = 3
CODE_NOT_PERMITTED = 29
CODE_AD_ACCOUNT_DISAPPROVED = 2625
CODE_AD_ACCOUNT_UNDER_REVIEW = 2626
CODE_INVALID_EVENTS = 4196
STATUS_TOO_LARGE = 413
EVENTS_OPERATION = "events/create"

REAUTHORIZE = "Reauthorize: run `pinaudience auth login`."

_MESSAGE_LIMIT = 300


def _pinterest_message(text: str) -> str:
    """Pinterest's message as our errors quote it: redacted (`support.redact`), and at most 300 characters."""
    text = redact(text)
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + "…"
    return text


def request_id(response: httpx.Response) -> str | None:
    """Pinterest's request id, which its support asks for."""
    value: str | None = response.headers.get(REQUEST_ID_HEADER)
    return value


def is_json(response: httpx.Response) -> bool:
    """Whether the body parses as JSON (an empty body does not); a gateway's HTML page does not."""
    try:
        response.json()
    except ValueError:
        return False
    return True


def body_kind(response: httpx.Response) -> str:
    """What a body that is not JSON was, for a message: its media type (`text/html`), or `empty`."""
    if not response.content:
        return "empty"
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return media if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", media) else "unknown type"


def error_body(response: httpx.Response) -> tuple[int | None, str | None]:
    """Pinterest's `code` and (redacted) `message`, or Nones when the body is not Pinterest's JSON error.

    Extra keys beside `code` and `message` (`status`, `host`, `generated_at`, `data`) are ignored.
    """
    try:
        data: Any = response.json()
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = data.get("code")
    message = data.get("message")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        _pinterest_message(message) if isinstance(message, str) and message else None,
    )


def _ad_account_from(response: httpx.Response) -> str | None:
    try:
        path = response.request.url.path
    except RuntimeError:  # a response built without a request
        return None
    match = re.search(r"/ad_accounts/(\d{1,18})(?:/|$)", path)
    return match.group(1) if match else None


def _account_state_resolution(code: int, ad_account_id: str | None) -> str:
    """The resolution of Pinterest's 403 codes 2625 (disapproved) and 2626 (under review)."""
    account = f"ad account {ad_account_id}" if ad_account_id else "the configured ad account"
    if code == CODE_AD_ACCOUNT_DISAPPROVED:
        return (
            f"Pinterest has disapproved {account}, so it refuses changes to its customer lists and audiences; "
            "see the account's notices in Pinterest Ads Manager and appeal there, or sync to another ad account. "
            "Nothing pinaudience can change will help, and rerunning will not either."
        )
    return (
        f"Pinterest is reviewing {account} and refuses changes to it until the review ends; run again once "
        "Pinterest Ads Manager shows the account active (reviews usually end within a few days)."
    )


def permissions_resolution(ad_account_id: str | None) -> str:
    """The insufficient_permissions resolution, naming the ad account."""
    account = f"ad account {ad_account_id}" if ad_account_id else "the configured ad account"
    return (
        f"The Pinterest user who authorized this no longer has access to the customer lists of {account}; "
        "ask an admin of the account to grant access, or reauthorize with a user who has it."
    )


def _events_auth_resolution(conversion_token: bool, ad_account_id: str | None) -> str:
    account = f"ad account {ad_account_id}" if ad_account_id else "the ad account"
    if conversion_token:
        return (
            f"Generate a new conversion access token in Pinterest Ads Manager for {account} (Conversions) and set "
            "it as PINTEREST_CONVERSION_TOKEN, or unset that to send events with the OAuth token (scope ads:write)."
        )
    return "Reauthorize with the scope ads:write (run `pinaudience auth login`), or set a conversion access token."


def _events_permissions_resolution(conversion_token: bool, ad_account_id: str | None) -> str:
    account = f"ad account {ad_account_id}" if ad_account_id else "the ad account"
    token = "conversion access token" if conversion_token else "OAuth token"
    return (
        f"The Pinterest user of the {token} may not send conversion events to {account}: it must own the account "
        "or hold one of its Business Access roles Admin, Analyst, Audience or Campaign. Ask an admin of the account "
        "to grant one, or use a token of a user who has one."
    )


def classify(
    response: httpx.Response,
    *,
    operation: str | None = None,
    ad_account_id: str | None = None,
    conversion_token: bool = False,
) -> PinterestError | None:
    """The error a response stands for, or None for a success; pure (reads the response, nothing else).

    `ad_account_id` names the account in the insufficient_permissions resolution; when absent it is
    read from the request path. `conversion_token` says the request carried a conversion access token
    (`events/create` only), which the resolutions of a 401 or 403 then name.
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    code, message = error_body(response)
    account = ad_account_id or _ad_account_from(response)
    if is_json(response):
        answered = (
            f"Pinterest answered {operation or 'the request'} with HTTP {status}"
            + (f", code {code}" if code is not None else "")
            + (f": {message}" if message else "")
        )
    else:
        answered = (
            f"The answer to {operation or 'the request'} (HTTP {status}) was not JSON ({body_kind(response)}), "
            "so it may come from a gateway before Pinterest."
        )
    fields: dict[str, Any] = {
        "status": status,
        "code": code,
        "pinterest_message": message,
        "request_id": request_id(response),
        "operation": operation,
    }
    if status == 403 and code in (CODE_AD_ACCOUNT_DISAPPROVED, CODE_AD_ACCOUNT_UNDER_REVIEW):
        state = "disapproved" if code == CODE_AD_ACCOUNT_DISAPPROVED else "under review"
        return InsufficientPermissions(
            f"Ad account {account or '(unknown)'} is {state}. {answered}",
            resolution=_account_state_resolution(code, account),
            **fields,
        )
    events = operation == EVENTS_OPERATION
    if events and (code == CODE_NOT_PERMITTED or status == 403):
        return InsufficientPermissions(
            f"No permission to send conversion events to ad account {account or '(unknown)'}. {answered}",
            resolution=_events_permissions_resolution(conversion_token, account),
            **fields,
        )
    if events and status == 401:
        token = "conversion access token" if conversion_token else "access token"
        return AuthorizationError(
            f"The {token} was not accepted for conversion events. {answered}",
            resolution=_events_auth_resolution(conversion_token, account),
            **fields,
        )
    if code == CODE_NOT_PERMITTED or status == 403:
        return InsufficientPermissions(
            f"No access to ad account {account or '(unknown)'}. {answered}",
            resolution=permissions_resolution(account),
            **fields,
        )
    if status == 401 and code == CODE_MISSING_SCOPES:
        return AuthorizationError(
            f"The token lacks the scopes pinaudience needs. {answered}",
            resolution="Reauthorize with the scopes ads:read and ads:write: run `pinaudience auth login`.",
            **fields,
        )
    if status == 401:
        return AuthorizationError(f"The access token was not accepted. {answered}", resolution=REAUTHORIZE, **fields)
    if status == 404:
        return NotFound(f"Not found. {answered}", **fields)
    if status == 429:
        return RateLimited(f"Rate limit exceeded. {answered}", **fields)
    if status >= 500:
        return PinterestUnavailable(f"Pinterest failed. {answered}", **fields)
    if status == STATUS_TOO_LARGE:
        return RequestTooLarge(
            f"Pinterest (or a gateway before it) refused the request body as too large (413). {answered}",
            resolution=(
                "Split the batch and send the halves: fewer events per request make a smaller body (nothing of this "
                "batch was recorded). If a single event is refused, a proxy before Pinterest limits bodies too tightly."
                if events
                else "Lower batch_size: fewer records per request make a smaller body."
            ),
            **fields,
        )
    if events and status == 400:
        return InvalidEvents(
            f"Pinterest refused the whole batch of conversion events; none was recorded. {answered}", **fields
        )
    return InvalidRequest(f"Request rejected. {answered}", **fields)


def is_retriable(error: PinterestError) -> bool:
    """Whether another attempt may succeed, as the error tree says (`PinaudienceError.retriable`): 429,
    500/502/503/504, and network failures (no status). A 401 is handled apart (one refresh, then another attempt)."""
    return error.retriable


def retry_delay_hint(response: httpx.Response, now: float) -> float | None:
    """Seconds the server asks us to wait: `Retry-After` (seconds or HTTP date), else `X-RateLimit-Reset`.

    `X-RateLimit-Reset` is read as a Unix time when it is large (over 10^9), as seconds otherwise:
    connectors disagree on which one it is. `now` is the clock's wall time, for dates and Unix times.
    """
    retry_after = response.headers.get("retry-after")
    if retry_after is not None:
        value = retry_after.strip()
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(when.timestamp() - now, 0.0)
    reset = response.headers.get("x-ratelimit-reset")
    if reset is not None:
        try:
            number = float(reset.strip())
        except ValueError:
            return None
        if number > 1e9:
            return max(number - now, 0.0)
        return max(number, 0.0)
    return None


def network_error(exc: httpx.TransportError, *, operation: str | None = None) -> PinterestUnavailable:
    """A timeout or connection failure as an error; only the exception's type is kept (never its request)."""
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "lost the connection"
    return PinterestUnavailable(
        f"Pinterest {what} during {operation or 'the request'} ({type(exc).__name__}).", operation=operation
    )


def transport_failure(
    exc: httpx.TransportError, *, operation: str, idempotent: bool = True
) -> Retryable | PinterestUnavailable:
    """What a request that got no answer (httpx's transport errors) becomes; the caller raises it.

    Usually another attempt: `Retryable`, with the reason `timeout` or `connection`. But a request
    that is not idempotent and may have reached Pinterest (anything except a failure to connect) must
    not be sent twice: it is returned as the error itself, with `outcome_unknown` set, so that the
    caller looks before it acts again. The client's calls and the token endpoint both use this.
    """
    error = network_error(exc, operation=operation)
    if not idempotent and not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        error.outcome_unknown = True
        return error
    return Retryable(error, "timeout" if isinstance(exc, httpx.TimeoutException) else "connection")
