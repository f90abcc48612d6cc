"""Helpers shared by the Pinterest client's tests: records, and the emulator's admin API."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from pinaudience.emulator import SEED_APP_ID, SEED_APP_SECRET

API_BASE = "http://emulator.test/v5"


def hashed(n: int, start: int = 0) -> list[str]:
    """`n` distinct SHA-256 email records."""
    return [hashlib.sha256(f"person{i}@example.com".encode()).hexdigest() for i in range(start, start + n)]


class Admin:
    """The emulator's admin API (`/_emulator/...`), as tests use it."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _send(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, f"/_emulator/{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    async def tokens(self, user: str = "emulator-user", **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._send("POST", "tokens", {"user": user, **body})
        return result

    async def revoke(self, token: str) -> None:
        await self._send("POST", "tokens/revoke", {"token": token})

    async def user(self, name: str, ad_accounts: dict[str, str]) -> None:
        await self._send("POST", "users", {"name": name, "ad_accounts": ad_accounts})

    async def faults(self, *rules: dict[str, Any]) -> None:
        await self._send("PUT", "faults", {"rules": list(rules)})

    async def settings(self, **changes: Any) -> None:
        await self._send("PUT", "settings", changes)

    async def records(self, customer_list_id: str) -> list[str]:
        result: list[str] = (await self._send("GET", f"customer_lists/{customer_list_id}/records"))["records"]
        return result

    async def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._send("GET", "requests"))["requests"]
        return result

    async def refresh_grant(self, refresh_token: str) -> httpx.Response:
        """Pinterest's token endpoint, asked directly with the seed app: does this refresh token still work?"""
        return await self.http.post(
            "/v5/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(SEED_APP_ID, SEED_APP_SECRET),
        )
