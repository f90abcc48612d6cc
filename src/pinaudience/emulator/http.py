"""HTTP plumbing shared by the emulator's routes: Pinterest's error body, request ids, dropped connections.

A dropped connection is an exception (`ConnectionDropped`) raised after the response has started with a
declared Content-Length and a partial body. Each host turns it into what a real client sees: `Emulator.transport()`
raises `httpx.RemoteProtocolError`, and the served app lets uvicorn close the socket mid-body.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import math
import secrets
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RID_HEADER = "x-pinterest-rid"

AUTH_FAILED = "Authentication failed."
NOT_PERMITTED = "You are not permitted to access that resource."
RATE_LIMITED = "You have exceeded your rate limit. Try again later."

GATEWAY_STATUSES = frozenset({413, 502, 504})
"""Answers a gateway in front of Pinterest gives: as HTML pages with the setting `gateway_html`."""
_GATEWAY_TITLES = {413: "413 Request Entity Too Large", 502: "502 Bad Gateway", 504: "504 Gateway Time-out"}


class ApiError(Exception):
    """An answer in Pinterest's error shape: `{"code": int, "message": str}` with an HTTP status."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None, *, html: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.html = html
        """Answer with a gateway's HTML page instead of Pinterest's JSON (setting `gateway_html`, fault `html`)."""

    def response(self, extra: dict[str, Any] | None = None) -> Response:
        """The answer; `extra` adds keys to the JSON body (setting `error_extra_keys`)."""
        if self.html:
            return gateway_page(self.status, self.headers)
        if extra:
            body = {"code": self.code, "message": self.message, **extra}
            return JSONResponse(body, status_code=self.status, headers=self.headers)
        return error_response(self.status, self.code, self.message, self.headers)


def error_response(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def gateway_page(status: int, headers: dict[str, str] | None = None) -> Response:
    """The HTML page a web server or load balancer answers with (nginx's wording)."""
    title = _GATEWAY_TITLES.get(status, f"{status} Error")
    page = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
    return HTMLResponse(page + "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", status, headers)


def extra_error_keys(now: float) -> dict[str, Any]:
    """Keys beyond `code` and `message`, as Pinterest's v3 API sent them (an error body seen in realadeel/pinterest-api
    issue 8: `status`, `host`, `generated_at`, `data`)."""
    return {"status": "failure", "host": "emulator", "generated_at": email.utils.formatdate(now, usegmt=True),
            "data": None}  # fmt: skip


def retry_headers(style: str, wait_s: float, now: float) -> dict[str, str]:
    """The hint headers of a 429 in one of the styles of the setting `rate_limit_hints`."""
    seconds = str(max(1, math.ceil(wait_s)))
    reset_at = str(math.ceil(now + wait_s))
    return {
        "none": {},
        "retry_after": {"Retry-After": seconds},
        "reset_seconds": {"X-RateLimit-Reset": seconds},
        "reset_at": {"X-RateLimit-Reset": reset_at},
        "retry_after_and_reset_at": {"Retry-After": seconds, "X-RateLimit-Reset": reset_at},
    }[style]


def invalid(message: str) -> ApiError:
    """400 code 1, Pinterest's "invalid parameters"; the message names the field."""
    return ApiError(400, 1, message)


class ConnectionDropped(Exception):
    """The emulator drops this connection on purpose (a scripted or random `drop` fault)."""


class DroppedResponse(Response):
    """Starts an answer that promises a body, sends part of it, then drops the connection."""

    _PROMISED = b'{"code": 0, "message": "this answer never arrives in full"}'

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self._PROMISED)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._PROMISED[:1], "more_body": True})
        raise ConnectionDropped


class RequestIdMiddleware:
    """Gives every request an id (in `request.state.rid`) and every response the `x-pinterest-rid` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(8)
        scope.setdefault("state", {})["rid"] = rid

        async def send_with_rid(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((RID_HEADER.encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_rid)


_dropping: contextvars.ContextVar[bool] = contextvars.ContextVar("pinaudience_emulator_dropping", default=False)


class _QuietDrops(logging.Filter):
    """Hides uvicorn's complaint about the incomplete answer of a deliberate drop, and nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_dropping.get() and "without completing response" in record.getMessage())


_QUIET_DROPS = _QuietDrops()


def served(app: ASGIApp) -> ASGIApp:
    """The app as a socket server runs it: a deliberate drop ends the ASGI call mid-body, so uvicorn closes
    the connection without a complete response (the client sees a protocol error, never a 500)."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    if _QUIET_DROPS not in uvicorn_log.filters:
        uvicorn_log.addFilter(_QUIET_DROPS)

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except ConnectionDropped:
            _dropping.set(True)

    return asgi
