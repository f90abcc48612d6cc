"""The one way pinaudience builds its HTTP client for Pinterest: base URL, timeouts, pool, user agent."""

from __future__ import annotations

import httpx

from pinaudience._version import __version__

USER_AGENT = f"pinaudience/{__version__}"

MAX_CONNECTIONS = 20
"""Enough for every write and read in flight; Pinterest's limits, not sockets, bound the speed."""


def new_http_client(
    api_base: str, *, timeout_s: float, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` rooted at `api_base` (ending in `/v5`); relative paths join under it.

    `transport` replaces the network: the emulator's in-process transport in tests.
    """
    return httpx.AsyncClient(
        base_url=api_base.rstrip("/") + "/",
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        transport=transport,
        follow_redirects=False,
    )
