"""The OAuth steps against Pinterest: the token endpoint (with its attempts), the authorize URL, `state`.

`request_token` is the one call to `/oauth/token`: HTTP Basic app credentials, 429/5xx and network
failures retried by the policy (transport errors mapped by `errors.transport_failure`, as the client
does), any other refusal an AuthorizationError. `exchange_code` is `auth login`'s trade of a code for a
pair; the providers use `request_token` to refresh.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from pinaudience.clock import Clock
from pinaudience.errors import AuthorizationError
from pinaudience.pinterest import limits
from pinaudience.pinterest.errors import REAUTHORIZE, classify, is_retriable, retry_delay_hint, transport_failure
from pinaudience.pinterest.events import Observer, RequestSent, RetryScheduled
from pinaudience.pinterest.retry import Retryable, RetryPolicy
from pinaudience.pinterest.tokens import TokenSet
from pinaudience.support.secret import Secret

PINTEREST_AUTHORIZE_URL = "https://www.pinterest.com/oauth/"
TOKEN_PATH = "oauth/token"  # noqa: S105 - a URL path, relative to the API base


async def request_token(
    http: httpx.AsyncClient,
    form: dict[str, str],
    *,
    app_id: str,
    app_secret: Secret,
    clock: Clock,
    retry: RetryPolicy | None = None,
    observer: Observer | None = None,
    refused: str = "Pinterest refused the refresh token.",
) -> dict[str, Any]:
    """POST `form` to `/oauth/token` with HTTP Basic app credentials; the JSON answer.

    429, 5xx and network failures are retried by `retry`; any other refusal is an AuthorizationError
    whose message starts with `refused`.
    """
    policy = retry or RetryPolicy(clock, max_attempts=3, max_retry_s=60.0)
    operation = "oauth/token"

    async def attempt(number: int) -> dict[str, Any]:
        if observer is not None:
            observer(RequestSent(operation=operation, attempt=number))
        try:
            response = await http.post(TOKEN_PATH, data=form, auth=httpx.BasicAuth(app_id, app_secret.reveal()))
        except httpx.TransportError as exc:
            raise transport_failure(exc, operation=operation) from None
        error = classify(response, operation=operation)
        if error is None:
            data = response.json()
            if not isinstance(data, dict):
                raise AuthorizationError("Pinterest's token answer was not an object.", resolution=REAUTHORIZE)
            return data
        if is_retriable(error):
            raise Retryable(error, str(response.status_code), retry_delay_hint(response, clock.now()))
        raise AuthorizationError(
            f"{refused} {_after_first_sentence(error.message)}",
            resolution=REAUTHORIZE,
            status=error.status,
            code=error.code,
            pinterest_message=error.pinterest_message,
            request_id=error.request_id,
            operation=operation,
        )

    def on_retry(event: RetryScheduled) -> None:
        if observer is not None:
            observer(event)

    return await policy.run(attempt, operation=operation, on_retry=on_retry)


def _after_first_sentence(message: str) -> str:
    """`classify`'s message without its summary: "Pinterest answered ... with HTTP 401, code 2: ..."."""
    _, _, rest = message.partition(". ")
    return rest or message


async def exchange_code(
    http: httpx.AsyncClient,
    *,
    app_id: str,
    app_secret: Secret,
    code: str,
    redirect_uri: str,
    clock: Clock,
    continuous_refresh: bool = True,
    retry: RetryPolicy | None = None,
) -> TokenSet:
    """Trade an authorization code for a token pair (with a continuous refresh token by default)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if continuous_refresh:
        form["continuous_refresh"] = "true"
    data = await request_token(
        http,
        form,
        app_id=app_id,
        app_secret=app_secret,
        clock=clock,
        retry=retry,
        refused="Pinterest refused the authorization code.",
    )
    return TokenSet.from_token_response(data, now=clock.now(), app_id=app_id)


def new_state() -> str:
    """An unguessable OAuth `state` value, checked when the browser comes back."""
    return secrets.token_urlsafe(24)


def authorize_base_for(api_base: str) -> str:
    """Pinterest's authorize page for its own API; `<origin>/oauth/` for anything else (the emulator)."""
    parts = urlsplit(api_base)
    if parts.hostname in {"api.pinterest.com", "api-sandbox.pinterest.com"}:
        return PINTEREST_AUTHORIZE_URL
    return f"{parts.scheme}://{parts.netloc}/oauth/"


def authorize_url(
    *,
    app_id: str,
    redirect_uri: str,
    state: str,
    scopes: tuple[str, ...] = limits.REQUIRED_SCOPES,
    authorize_base: str = PINTEREST_AUTHORIZE_URL,
) -> str:
    """The page a person opens to let pinaudience act for them."""
    query = urlencode(
        {
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": ",".join(scopes),
            "state": state,
        }
    )
    return f"{authorize_base}?{query}"
