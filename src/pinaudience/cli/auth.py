"""`pinaudience auth login|status|refresh`: Pinterest OAuth from a terminal, tokens kept in the token store.

`login` runs the authorization-code flow: it prints (and, on a terminal, opens) Pinterest's authorize
page, receives the browser's redirect on a loopback port, checks `state`, exchanges the code for a
continuous refresh token and writes the pair to the token store (a 0600 file, or PostgreSQL). The token rules are in
`pinaudience.pinterest` (`tokens`, `token_store`, `oauth`, `providers`); nothing here ever prints a token.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import queue
import secrets
import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qs, urlsplit

import typer

from pinaudience.cli.app import auth_app
from pinaudience.cli.logs import logging_to
from pinaudience.cli.options import (
    ApiBaseOpt,
    ConfigOpt,
    JsonOpt,
    TokenStoreOpt,
    env_secrets,
    load_connection,
    log_level,
    settings_secrets,
)
from pinaudience.cli.output import print_json, stderr_console
from pinaudience.config import Overrides, PinterestSettings, Secret
from pinaudience.errors import AuthorizationError, ConfigError
from pinaudience.pinterest import limits

# The client's modules (httpx, file locks, asyncio) load inside the commands that use them, so that
# `pinaudience --help` and the other commands start without them.
if TYPE_CHECKING:
    import httpx

    from pinaudience.clock import Clock
    from pinaudience.pinterest.tokens import TokenStatus

DEFAULT_REDIRECT_PORT = 8085
_PAGE = (
    "<!doctype html><meta charset=utf-8><title>pinaudience</title>"
    "<h1>{title}</h1><p>{text}</p><p>You can close this tab and return to the terminal.</p>"
)


class LoopbackReceiver:
    """A one-shot HTTP server on 127.0.0.1 that waits for the browser's redirect and hands over its query."""

    def __init__(self, port: int) -> None:
        import http.server  # with http.client, email and ssl: only `auth login` needs them

        answers: queue.Queue[dict[str, str]] = queue.Queue()
        self.answers = answers

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
                if parts.path != "/" or not ({"code", "error"} & query.keys()):
                    self._page(404, "Not the Pinterest redirect", "pinaudience waits for Pinterest's redirect here.")
                    return
                if "error" in query:
                    self._page(400, "Pinterest did not authorize pinaudience", "See the terminal for what to do.")
                else:
                    self._page(200, "pinaudience is authorized", "The tokens are being saved.")
                answers.put(query)

            def _page(self, status: int, title: str, text: str) -> None:
                body = _PAGE.format(title=title, text=text).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None  # the request line holds the authorization code: never log it

        try:
            self.server = http.server.HTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on 127.0.0.1:{port} for Pinterest's redirect ({exc.strerror})",
                resolution="Free that port, or pass --redirect-port with another port registered as a redirect "
                "URI of your Pinterest app.",
            ) from None
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def redirect_uri(self) -> str:
        return f"http://localhost:{self.port}/"

    def __enter__(self) -> LoopbackReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout_s: float) -> dict[str, str]:
        try:
            return self.answers.get(timeout=timeout_s)
        except queue.Empty:
            raise AuthorizationError(
                f"the browser did not come back from Pinterest within {timeout_s:.0f} s",
                resolution="Run `pinaudience auth login` again and approve the access in the browser.",
            ) from None


def _when(at: float | None, left_s: float | None) -> str:
    if at is None or left_s is None:
        return "unknown"
    date = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if left_s <= 0:
        return f"expired on {date}"
    return f"{date} (in {left_s / 86400:.1f} days)"


def status_lines(status: TokenStatus) -> list[str]:
    """What a person needs to know about the tokens: where, which kind, and when each expires."""
    lines = [f"{status.kind} from {status.source}" + (f": {status.store_path}" if status.store_path else "")]
    if status.has_access_token:
        lines.append(f"access token expires: {_when(status.access_expires_at, status.access_expires_in_s)}")
    if status.has_refresh_token:
        lines.append(f"refresh token expires: {_when(status.refresh_expires_at, status.refresh_expires_in_s)}")
    if status.scope:
        lines.append(f"scopes: {status.scope}")
    return lines


def _warn_if_expiring(status: TokenStatus) -> None:
    from pinaudience.pinterest.errors import REAUTHORIZE

    left = status.refresh_expires_in_s
    if left is not None and left <= 0:
        raise AuthorizationError(
            f"the refresh token in {status.store_path} has expired", resolution=REAUTHORIZE, operation="oauth/token"
        )
    if status.renew_soon and left is not None:
        stderr_console().print(
            f"[yellow]warning[/]: the refresh token expires in {left / 86400:.1f} days (under "
            f"{limits.REFRESH_RENEW_WITHIN_S // 86400} days); `pinaudience auth refresh` or any sync renews it.",
            markup=True,
            highlight=False,
        )


def _with_app_secret(settings: PinterestSettings) -> PinterestSettings:
    creds = settings.credentials
    if creds.app_secret:
        return settings
    if not sys.stdin.isatty():
        raise ConfigError(
            "the app secret is not set",
            resolution="Set PINTEREST_APP_SECRET to the secret of your Pinterest app (developers.pinterest.com/apps).",
        )
    secret = typer.prompt("App secret (from developers.pinterest.com/apps)", hide_input=True)
    return dataclasses.replace(settings, credentials=dataclasses.replace(creds, app_secret=Secret(secret.strip())))


# ------------------------------------------------------------------- the steps the commands take
# Transport and clock are injected, so tests drive them against the emulator in process.


def _app_credentials(settings: PinterestSettings) -> tuple[str, Secret]:
    from pinaudience.pinterest.providers import missing_app_credentials

    creds = settings.credentials
    if not creds.app_id or not creds.app_secret:
        missing = missing_app_credentials(creds)
        raise ConfigError(f"{missing} is not set.", resolution="Set the id and secret of your Pinterest app.")
    return creds.app_id, creds.app_secret


async def login_with_code(
    settings: PinterestSettings,
    *,
    code: str,
    redirect_uri: str,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> TokenStatus:
    """`auth login`'s last step: exchange the code, write the pair to the token store, return its status."""
    import asyncio

    from pinaudience.clock import SystemClock
    from pinaudience.pinterest.http import new_http_client
    from pinaudience.pinterest.oauth import exchange_code
    from pinaudience.pinterest.token_store import open_token_store
    from pinaudience.pinterest.tokens import token_status

    clock = clock or SystemClock()
    app_id, app_secret = _app_credentials(settings)
    async with new_http_client(settings.api_base, timeout_s=settings.timeout_s, transport=transport) as http:
        tokens = await exchange_code(
            http, app_id=app_id, app_secret=app_secret, code=code, redirect_uri=redirect_uri, clock=clock
        )
    store = open_token_store(settings.credentials, api_base=settings.api_base)
    await asyncio.to_thread(store.save, tokens)
    return token_status(tokens, clock.now(), source="pinterest", store_path=store.location)


async def refresh_now(
    settings: PinterestSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> TokenStatus:
    """`auth refresh`: rotate the pair now and write it to the token store."""
    from pinaudience.clock import SystemClock
    from pinaudience.pinterest.http import new_http_client
    from pinaudience.pinterest.providers import RefreshingTokenProvider
    from pinaudience.pinterest.token_store import open_token_store

    clock = clock or SystemClock()
    app_id, app_secret = _app_credentials(settings)
    store = open_token_store(settings.credentials, api_base=settings.api_base)
    async with new_http_client(settings.api_base, timeout_s=settings.timeout_s, transport=transport) as http:
        provider = RefreshingTokenProvider(
            http,
            app_id=app_id,
            app_secret=app_secret,
            clock=clock,
            store=store,
            seed_refresh_token=settings.credentials.refresh_token,
            seed_access_token=settings.credentials.access_token,
        )
        return await provider.refresh_now()


def read_token_status(settings: PinterestSettings, *, clock: Clock | None = None) -> TokenStatus | None:
    """`auth status`: the stored pair's expiries, without asking Pinterest; None when nothing is stored."""
    from pinaudience.clock import SystemClock
    from pinaudience.pinterest.token_store import open_token_store
    from pinaudience.pinterest.tokens import token_status

    clock = clock or SystemClock()
    store = open_token_store(settings.credentials, api_base=settings.api_base)
    stored = store.load()
    if stored is None:
        return None
    return token_status(stored, clock.now(), store_path=store.location)


# ------------------------------------------------------------------------------------------ commands


@auth_app.command("login")
def login(
    app_id: Annotated[
        str | None,
        typer.Option("--app-id", help="Your Pinterest app's id (or PINTEREST_APP_ID).", show_default=False),
    ] = None,
    redirect_port: Annotated[
        int,
        typer.Option(
            "--redirect-port",
            help="Loopback port for Pinterest's redirect; http://localhost:PORT/ must be a redirect URI of the app.",
        ),
    ] = DEFAULT_REDIRECT_PORT,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the authorize URL; do not open a browser.")
    ] = False,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the browser to come back.")
    ] = 300.0,
    config: ConfigOpt = None,
    api_base: ApiBaseOpt = None,
    token_store: TokenStoreOpt = None,
) -> None:
    """Log in to Pinterest with your app (OAuth) and keep the tokens in the token store.

    Prints the authorize URL (and opens it on a desktop), waits for Pinterest to send the browser back to
    http://localhost:PORT/, checks the state, exchanges the code for a continuous refresh token and saves
    the pair (a file of mode 0600, or the PostgreSQL token store). The app secret comes from
    PINTEREST_APP_SECRET, or is asked for.

    Example:

    PINTEREST_APP_SECRET=... pinaudience auth login --app-id 1234567
    """
    import asyncio

    from pinaudience.pinterest.oauth import authorize_base_for, authorize_url, new_state

    with logging_to(stream=sys.stderr, level=log_level(True), secrets=env_secrets()) as redactor:
        settings = load_connection(config, Overrides(api_base=api_base, app_id=app_id, token_store=token_store))
        app_id = settings.credentials.app_id
        if not app_id:
            raise ConfigError(
                "no app id", resolution="Pass --app-id (or set PINTEREST_APP_ID) to your Pinterest app's id."
            )
        settings = _with_app_secret(settings)
        redactor.secrets.extend(settings_secrets(settings))
        state = new_state()
        with LoopbackReceiver(redirect_port) as receiver:
            url = authorize_url(
                app_id=app_id,
                redirect_uri=receiver.redirect_uri,
                state=state,
                authorize_base=authorize_base_for(settings.api_base),
            )
            print("Open this page, log in to Pinterest and approve the access:", flush=True)
            print(f"authorize_url: {url}", flush=True)
            print(
                f"Waiting up to {timeout_s:.0f} s for Pinterest to redirect to {receiver.redirect_uri} ...", flush=True
            )
            if not no_browser and sys.stdout.isatty():
                import webbrowser

                webbrowser.open(url)
            answer = receiver.wait(timeout_s)
        if "error" in answer:
            raise AuthorizationError(
                f"Pinterest did not authorize the app ({answer['error']})",
                resolution="Run `pinaudience auth login` again and approve the access.",
            )
        if not secrets.compare_digest(answer.get("state", ""), state):
            raise AuthorizationError(
                "the redirect's state does not match this login (a stale or forged redirect)",
                resolution="Run `pinaudience auth login` again and use the newest authorize URL.",
            )
        status = asyncio.run(login_with_code(settings, code=answer["code"], redirect_uri=receiver.redirect_uri))
    print("Logged in; tokens saved to the token store.")
    for line in status_lines(status):
        print(line)
    print(
        f"Syncs use these tokens while PINTEREST_APP_ID={app_id} and PINTEREST_APP_SECRET are "
        "set; try `pinaudience check --ad-account-id ID`."
    )


@auth_app.command("status")
def status_command(
    config: ConfigOpt = None,
    api_base: ApiBaseOpt = None,
    token_store: TokenStoreOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Show when the stored access and refresh tokens expire (never the tokens); warns under 14 days.

    Exit code 1 when nothing is stored or the refresh token has expired.

    Example:

    pinaudience auth status
    """
    from pinaudience.pinterest.token_store import open_token_store

    with logging_to(stream=sys.stderr, level=log_level(True), secrets=env_secrets()):
        settings = load_connection(config, Overrides(api_base=api_base, token_store=token_store))
        status = read_token_status(settings)
    if status is None:
        if settings.credentials.access_token:
            if json_output:
                print_json({"kind": "static access token", "source": "environment", "store_path": None})
            else:
                print("static access token from PINTEREST_ACCESS_TOKEN; Pinterest does not say when it expires")
            return
        where = open_token_store(settings.credentials, api_base=settings.api_base).location
        raise ConfigError(
            f"no tokens are stored in {where}",
            resolution="Run `pinaudience auth login`, or set PINTEREST_ACCESS_TOKEN.",
        )
    if json_output:
        print_json(status.to_dict())
    else:
        for line in status_lines(status):
            print(line)
    _warn_if_expiring(status)


@auth_app.command("refresh")
def refresh_command(
    config: ConfigOpt = None,
    api_base: ApiBaseOpt = None,
    token_store: TokenStoreOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Refresh now: a new access token and a renewed refresh token, saved to the token store.

    Needs PINTEREST_APP_ID and PINTEREST_APP_SECRET (or the config file's app_id and app_secret).

    Example:

    pinaudience auth refresh
    """
    import asyncio

    with logging_to(stream=sys.stderr, level=log_level(True), secrets=env_secrets()) as redactor:
        settings = load_connection(config, Overrides(api_base=api_base, token_store=token_store))
        redactor.secrets.extend(settings_secrets(settings))
        status = asyncio.run(refresh_now(settings))
    if json_output:
        print_json(status.to_dict())
    else:
        print("Refreshed; the rotated refresh token is saved.")
        for line in status_lines(status):
            print(line)
