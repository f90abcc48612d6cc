"""HTTP plumbing shared by the emulator's routes: Pinterest's error body, request ids, dropped connections.

A dropped connection is an exception (`ConnectionDropped`) raised after the response has started with a
declared Content-Length and a partial body. Each host turns it into what a real client sees: `Emulator.transport()`
raises `httpx.RemoteProtocolError`, and the served app lets uvicorn close the socket mid-body.
"""

from __future__ import annotations

import contextvars
import logging
import secrets

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RID_HEADER = "x-pinterest-rid"

AUTH_FAILED = "Authentication failed."
NOT_PERMITTED = "You are not permitted to access that resource."
RATE_LIMITED = "You have exceeded your rate limit. Try again later."


class ApiError(Exception):
    """An answer in Pinterest's error shape: `{"code": int, "message": str}` with an HTTP status."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, self.headers)


def error_response(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


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
