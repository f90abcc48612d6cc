"""Pinterest OAuth: the token endpoint (`POST /v5/oauth/token`) and the browser authorize page (`GET /oauth/`).

The authorize page approves at once for the owner of the app (the seed user for the seed app) and redirects
to `redirect_uri` with `code` and `state`, so a login flow runs end to end without a person. A refresh
rotates the refresh token (the old one stops working in the same step), as the spec's refresh answer says; with
the setting `rotate_refresh_token` off it answers an access token only and the old refresh token stays valid,
as Pinterest's quickstart allows. A refused grant answers 401 with
code 283 and "The authorization grant is invalid", as Pinterest does (pinterest-python-sdk issue 114).
"""

from __future__ import annotations

import base64
import html
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from pinaudience.emulator.http import AUTH_FAILED, ApiError, invalid
from pinaudience.emulator.store import AuthCode, TokenPair
from pinaudience.pinterest import limits

if TYPE_CHECKING:
    from pinaudience.emulator.app import Call, Emulator

SCOPES = frozenset(
    {
        "ads:read", "ads:write", "billing:read", "billing:write", "biz_access:read", "biz_access:write",
        "boards:read", "boards:read_secret", "boards:write", "boards:write_secret", "catalogs:read",
        "catalogs:write", "msot:write", "pins:read", "pins:read_secret", "pins:write", "pins:write_secret",
        "user_accounts:read", "user_accounts:write",
    }
)  # fmt: skip
"""The scopes Pinterest's spec lists for its OAuth flows."""

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
CODE_TTL_S = 600.0
"""An authorization code works once, within this many seconds."""

_BAD_GRANT = "The authorization grant is invalid"


def routes(emu: Emulator) -> list[BaseRoute]:
    async def authorize_page(request: Request) -> Response:
        return authorize(emu, request)

    return [Route("/oauth/", authorize_page, methods=["GET"]), Route("/oauth", authorize_page, methods=["GET"])]


def _scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(s for s in text.replace(" ", ",").split(",") if s))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise invalid(f"scope: unknown scope(s) {', '.join(unknown)}.")
    return scopes


def authorize(emu: Emulator, request: Request) -> Response:
    query = request.query_params
    problem = None
    app = emu.store.get_app(query.get("client_id", ""))
    redirect_uri = query.get("redirect_uri", "")
    if app is None:
        problem = "client_id is not a registered app."
    elif _scheme(redirect_uri) not in ("http", "https"):
        problem = "redirect_uri must be an http or https URL."
    elif query.get("response_type") != "code":
        problem = "response_type must be code."
    else:
        try:
            scopes = _scopes(query.get("scope", ""))
        except ApiError as err:
            problem = err.message
    if problem is not None or app is None:
        return HTMLResponse(
            "<!doctype html><title>OAuth error</title><h1>Invalid OAuth request</h1>"
            f"<p>{html.escape(problem or '')}</p>",
            status_code=400,
        )
    code = "emc_" + secrets.token_urlsafe(18)
    emu.store.add_auth_code(
        AuthCode(code, query["client_id"], app[1], scopes, redirect_uri, emu.now() + CODE_TTL_S, used=False)
    )
    params = {"code": code}
    if "state" in query:
        params["state"] = query["state"]
    parts = urlsplit(redirect_uri)
    joined_query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return RedirectResponse(urlunsplit(parts._replace(query=joined_query)), status_code=302)


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def _client(emu: Emulator, request: Request) -> str:
    """The app id from HTTP Basic `app_id:app_secret`, checked against the app's secret."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise ApiError(401, 2, AUTH_FAILED)
    try:
        app_id, colon, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII text, which b64decode refuses
        raise ApiError(401, 2, AUTH_FAILED) from None
    app = emu.store.get_app(app_id)
    if not colon or app is None or not secrets.compare_digest(app[0].encode(), secret.encode()):
        raise ApiError(401, 2, AUTH_FAILED)
    return app_id


def _form(call: Call) -> dict[str, str]:
    raw = call.body if isinstance(call.body, bytes) else b""
    try:
        parsed = parse_qs(raw.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise invalid("Invalid request body: expected application/x-www-form-urlencoded.") from None
    return {key: values[-1] for key, values in parsed.items()}


async def token(emu: Emulator, call: Call) -> Response:
    app_id = _client(emu, call.request)
    form = _form(call)
    grant = form.get("grant_type")
    if grant not in GRANT_TYPES:
        raise invalid(f"grant_type must be one of {', '.join(GRANT_TYPES)}.")
    now = emu.now()
    try:
        if grant == "authorization_code":
            response = _from_code(emu, app_id, form, now)
        elif grant == "refresh_token":
            response = _from_refresh(emu, app_id, form, now)
        else:
            response = _client_credentials(emu, app_id, form, now)
    except ApiError:
        emu.counters.refuse_grant(str(grant))
        raise
    emu.counters.grant(str(grant))
    return response


def _pair_json(access_ttl: float, refresh_ttl: float, now: float, **fields: Any) -> dict[str, Any]:
    return {
        **fields,
        "token_type": "bearer",
        "expires_in": int(access_ttl),
        "refresh_token_expires_in": int(refresh_ttl),
        "refresh_token_expires_at": int(now + refresh_ttl),
    }


def _from_code(emu: Emulator, app_id: str, form: dict[str, str], now: float) -> Response:
    for name in ("code", "redirect_uri"):
        if not form.get(name):
            raise invalid(f"{name} is required for grant_type authorization_code.")
    code = emu.store.take_auth_code(form["code"])
    if (
        code is None
        or code.used
        or code.expires_at <= now
        or code.app_id != app_id
        or code.redirect_uri != form["redirect_uri"]
    ):
        raise ApiError(401, 283, _BAD_GRANT)
    pair = emu.store.create_token_pair(
        user=code.user,
        app_id=app_id,
        scopes=code.scopes,
        now=now,
        access_ttl_s=limits.ACCESS_TOKEN_TTL_S,
        refresh_ttl_s=limits.REFRESH_TOKEN_TTL_S,
    )
    return _pair_response(pair, now, "authorization_code")


def _pair_response(pair: TokenPair, now: float, response_type: str) -> Response:
    return JSONResponse(
        _pair_json(
            pair.access.access_ttl_s,
            pair.refresh.refresh_ttl_s,
            now,
            access_token=pair.access.token,
            refresh_token=pair.refresh.token,
            response_type=response_type,
            scope=",".join(pair.access.scopes),
        )
    )


def _from_refresh(emu: Emulator, app_id: str, form: dict[str, str], now: float) -> Response:
    if not form.get("refresh_token"):
        raise invalid("refresh_token is required for grant_type refresh_token.")
    old = emu.store.get_token(form["refresh_token"])
    if old is None or old.kind != "refresh" or old.revoked or old.expires_at <= now or old.app_id != app_id:
        raise ApiError(401, 283, _BAD_GRANT)
    scopes = old.scopes
    if form.get("scope"):
        asked = _scopes(form["scope"])
        if not set(asked) <= set(old.scopes):
            raise invalid("scope: a refresh cannot add scopes the user did not grant.")
        scopes = asked
    if not emu.settings.rotate_refresh_token:
        access = emu.store.create_access_token(
            user=old.user, app_id=app_id, scopes=scopes, now=now, ttl_s=old.access_ttl_s
        )
        return JSONResponse(
            {
                "access_token": access.token,
                "token_type": "bearer",
                "expires_in": int(old.access_ttl_s),
                "scope": ",".join(scopes),
                "response_type": "refresh_token",
            }
        )
    pair = emu.store.create_token_pair(
        user=old.user,
        app_id=app_id,
        scopes=scopes,
        now=now,
        access_ttl_s=old.access_ttl_s,
        refresh_ttl_s=old.refresh_ttl_s,
        replaces=old.token,
    )
    return _pair_response(pair, now, "refresh_token")


def _client_credentials(emu: Emulator, app_id: str, form: dict[str, str], now: float) -> Response:
    if not form.get("scope"):
        raise invalid("scope is required for grant_type client_credentials.")
    scopes = _scopes(form["scope"])
    app = emu.store.get_app(app_id)
    assert app is not None
    access = emu.store.create_access_token(
        user=app[1], app_id=app_id, scopes=scopes, now=now, ttl_s=limits.ACCESS_TOKEN_TTL_S
    )
    return JSONResponse(
        {
            "access_token": access.token,
            "token_type": "bearer",
            "expires_in": int(limits.ACCESS_TOKEN_TTL_S),
            "scope": ",".join(scopes),
            "response_type": "client_credentials",
        }
    )
