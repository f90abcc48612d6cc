"""Serving the emulator on a real socket with uvicorn: in a background thread for tests, or in the foreground
for `pinaudience emulator serve`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from pinaudience.emulator.app import Emulator
from pinaudience.emulator.http import served

STARTUP_TIMEOUT_S = 10.0
FOREGROUND_LOG_CONFIG: dict[str, Any] = LOGGING_CONFIG
"""Uvicorn's own logging, for `pinaudience emulator serve` in the foreground (`serving` leaves logging alone)."""


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket on host:port (port 0 picks a free one); connections queue from this moment on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on sockets whose proto says TCP, and with
    # it on, a response written in two parts (headers, then body) waits for the client's delayed ACK: about
    # 40 ms added to every served call. TCP_NODELAY on the listener is inherited by accepted sockets (Linux).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def server(
    emulator: Emulator, *, log_config: dict[str, Any] | None = None, log_level: str = "warning"
) -> uvicorn.Server:
    """A uvicorn server for the emulator (`log_config=None` leaves logging to the host process)."""
    config = uvicorn.Config(
        served(emulator.app),
        lifespan="off",
        access_log=False,
        log_config=log_config,
        log_level=log_level,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    return uvicorn.Server(config)


@contextmanager
def serving(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `emulator` on host:port in a background thread; yields the base URL (the API is under `/v5`)."""
    sock = bind(host, port)
    srv = server(emulator)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, name="pinaudience-emulator", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not srv.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator's server did not start")
            time.sleep(0.005)
        yield base_url(sock)
    finally:
        srv.should_exit = True
        thread.join(STARTUP_TIMEOUT_S)
        sock.close()
