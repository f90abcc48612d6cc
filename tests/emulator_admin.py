"""The emulator's admin API (`/_emulator/...`) and a few Pinterest reads, as every test suite uses them.

Pinterest calls made here carry the seed user's token explicitly, so they work whatever headers the
underlying httpx client has (and never with a canary token under test).
"""

from __future__ import annotations

from typing import Any

import httpx

from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, SEED_APP_ID, SEED_APP_SECRET, SEED_USER

_SEED_AUTH = {"Authorization": f"Bearer {SEED_ACCESS_TOKEN}"}


class EmulatorAdmin:
    """Typed helpers over an httpx client rooted at the emulator (in-process or served)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _send(self, method: str, path: str, body: Any = None, *, pinterest: bool = False) -> Any:
        response = await self.http.request(method, path, json=body, headers=_SEED_AUTH if pinterest else None)
        response.raise_for_status()
        return response.json() if response.content else None

    # membership and what reached it

    async def records(self, customer_list_id: str) -> list[str]:
        """The list's members, sorted."""
        return sorted((await self._send("GET", f"/_emulator/customer_lists/{customer_list_id}/records"))["records"])

    async def sends(self, customer_list_id: str) -> dict[str, dict[str, int]]:
        """Per operation, how many records arrived once, twice, ... (with the setting `track_sends`)."""
        result: dict[str, dict[str, int]] = (
            await self._send("GET", f"/_emulator/customer_lists/{customer_list_id}/sends")
        )["sends"]
        return result

    async def clear_sends(self) -> None:
        await self._send("DELETE", "/_emulator/sends")

    async def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._send("GET", "/_emulator/requests"))["requests"]
        return result

    async def clear_requests(self) -> None:
        await self._send("DELETE", "/_emulator/requests")

    async def writes(self) -> list[dict[str, Any]]:
        """Logged list and audience writes (token grants excluded)."""
        return [
            r for r in await self.requests() if r["method"] in ("POST", "PATCH") and r["operation"] != "oauth/token"
        ]

    async def applied_writes(self) -> list[dict[str, Any]]:
        """Logged writes Pinterest applied (answered 2xx); a write refused with 429 or another 4xx changed nothing."""
        return [w for w in await self.writes() if w["status"] is not None and 200 <= w["status"] < 300]

    # knobs

    async def faults(self, *rules: dict[str, Any], random_mode: dict[str, Any] | None = None) -> None:
        plan: dict[str, Any] = {"rules": list(rules)}
        if random_mode is not None:
            plan["random"] = random_mode
        await self._send("PUT", "/_emulator/faults", plan)

    async def fault_calls(self) -> dict[str, int]:
        """Calls counted per operation since the plan was set."""
        result: dict[str, int] = (await self._send("GET", "/_emulator/faults"))["calls"]
        return result

    async def clear_faults(self) -> None:
        await self._send("DELETE", "/_emulator/faults")

    async def settings(self, **changes: Any) -> None:
        await self._send("PUT", "/_emulator/settings", changes)

    # users and tokens

    async def tokens(self, user: str = SEED_USER, **body: Any) -> dict[str, Any]:
        """A new token pair (`app_id`, `scopes`, `access_ttl_s`, `refresh_ttl_s` optional)."""
        result: dict[str, Any] = await self._send("POST", "/_emulator/tokens", {"user": user, **body})
        return result

    async def revoke(self, token: str) -> None:
        await self._send("POST", "/_emulator/tokens/revoke", {"token": token})

    async def expire(self, token: str, in_s: float = 0.0) -> None:
        """Make a token expire now (or `in_s` later), as one past its lifetime."""
        await self._send("POST", "/_emulator/tokens/expire", {"token": token, "in_s": in_s})

    async def counters(self) -> dict[str, Any]:
        """Token grants, admissions (with their window times) and 429s by cause since start, reset or clear."""
        result: dict[str, Any] = await self._send("GET", "/_emulator/counters")
        return result

    async def clear_counters(self) -> None:
        await self._send("DELETE", "/_emulator/counters")

    async def user(self, name: str, ad_accounts: dict[str, str]) -> None:
        await self._send("POST", "/_emulator/users", {"name": name, "ad_accounts": ad_accounts})

    async def grants(self) -> dict[str, dict[str, int]]:
        """The token endpoint's answers per grant type: `{"refresh_token": {"granted": n, "refused": m}}`."""
        result: dict[str, dict[str, int]] = (await self._send("GET", "/_emulator/grants"))["grants"]
        return result

    async def refresh_grant(self, refresh_token: str) -> httpx.Response:
        """Pinterest's token endpoint, asked directly with the seed app: does this refresh token still work?"""
        return await self.http.post(
            "/v5/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(SEED_APP_ID, SEED_APP_SECRET),
        )

    # conversion events

    async def conversion_token(self, ad_account_id: str = SEED_AD_ACCOUNT_ID, **body: Any) -> str:
        """A new conversion access token for the ad account (`user`, default its owner, and `ttl_s` optional)."""
        path = f"/_emulator/ad_accounts/{ad_account_id}/conversion_tokens"
        token: str = (await self._send("POST", path, body))["access_token"]
        return token

    async def conversion_events(self, ad_account_id: str = SEED_AD_ACCOUNT_ID) -> dict[str, Any]:
        """The ad account's counts (`received`, `unique_event_ids`, `reported`, `requests`, `events_failed`,
        `test_requests`, `test_events`) and its recorded `events` (`{"event", "received_at"}`, test mode excluded)."""
        result: dict[str, Any] = await self._send("GET", f"/_emulator/ad_accounts/{ad_account_id}/events")
        return result

    async def clear_conversion_events(self, ad_account_id: str | None = None) -> None:
        """Forget one ad account's conversion events and counts, or every account's."""
        path = "/_emulator/events" if ad_account_id is None else f"/_emulator/ad_accounts/{ad_account_id}/events"
        await self._send("DELETE", path)

    # Pinterest, as the seed user

    async def lists(self) -> list[dict[str, Any]]:
        path = f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}/customer_lists?page_size=250"
        result: list[dict[str, Any]] = (await self._send("GET", path, pinterest=True))["items"]
        return result

    async def audiences(self) -> list[dict[str, Any]]:
        path = f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}/audiences?page_size=250"
        result: list[dict[str, Any]] = (await self._send("GET", path, pinterest=True))["items"]
        return result

    async def create_list(self, name: str, records: list[str], list_type: str = "EMAIL") -> dict[str, Any]:
        body = {"name": name, "records": ",".join(records), "list_type": list_type}
        path = f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}/customer_lists"
        result: dict[str, Any] = await self._send("POST", path, body, pinterest=True)
        return result

    async def create_audience(self, name: str, customer_list_id: str) -> dict[str, Any]:
        body = {"name": name, "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": customer_list_id}}
        path = f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}/audiences"
        result: dict[str, Any] = await self._send("POST", path, body, pinterest=True)
        return result
