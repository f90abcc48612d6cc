"""Helpers of the sync engine's tests: customer files, expected records, settings and the emulator's view."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from pinaudience.config import AudienceSettings, Credentials, PinterestSettings, Secret, Settings
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID
from pinaudience.report import RunReport

API_BASE = "http://emulator.test/v5"

Runner = Callable[..., Awaitable[RunReport]]
"""`await run_sync(settings, events=None, **kw)` (fixture): the engine against the in-process emulator."""


def emails(n: int, start: int = 0, domain: str = "example.com") -> list[str]:
    return [f"person{i}@{domain}" for i in range(start, start + n)]


def hashed(values: list[str]) -> list[str]:
    """What Pinterest should hold for these emails: SHA-256 of the trimmed, lowercased address."""
    return sorted(hashlib.sha256(v.strip().lower().encode()).hexdigest() for v in values)


def write_csv(path: Path, values: list[str], header: str = "email") -> Path:
    path.write_text(header + "\n" + "".join(f"{v}\n" for v in values), encoding="utf-8")
    return path


def settings_for(tmp_path: Path, input_file: Path, **audience: Any) -> Settings:
    pinterest = PinterestSettings(
        ad_account_id=SEED_AD_ACCOUNT_ID,
        credentials=Credentials(access_token=Secret(SEED_ACCESS_TOKEN)),
        api_base=API_BASE,
    )
    defaults: dict[str, Any] = {"list_name": "VIP customers"}
    defaults.update(audience)
    return Settings(
        pinterest=pinterest,
        audiences=(AudienceSettings(input=input_file, **defaults),),
        state_dir=tmp_path / "state",
    )


def with_audience(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, audiences=(replace(settings.audiences[0], **changes),))


class Admin:
    """The emulator's admin API and a few Pinterest reads, as the sync tests use them."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _send(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    async def records(self, customer_list_id: str) -> list[str]:
        return sorted((await self._send("GET", f"/_emulator/customer_lists/{customer_list_id}/records"))["records"])

    async def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._send("GET", "/_emulator/requests"))["requests"]
        return result

    async def writes(self) -> list[dict[str, Any]]:
        return [r for r in await self.requests() if r["method"] in ("POST", "PATCH")]

    async def faults(self, *rules: dict[str, Any]) -> None:
        await self._send("PUT", "/_emulator/faults", {"rules": list(rules)})

    async def clear_faults(self) -> None:
        await self._send("DELETE", "/_emulator/faults")

    async def settings(self, **changes: Any) -> None:
        await self._send("PUT", "/_emulator/settings", changes)

    async def lists(self) -> list[dict[str, Any]]:
        data = await self._send("GET", f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}/customer_lists?page_size=250")
        result: list[dict[str, Any]] = data["items"]
        return result

    async def audiences(self) -> list[dict[str, Any]]:
        data = await self._send("GET", f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}/audiences?page_size=250")
        result: list[dict[str, Any]] = data["items"]
        return result

    async def create_list(self, name: str, records: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(
            "POST",
            f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}/customer_lists",
            {"name": name, "records": ",".join(records), "list_type": "EMAIL"},
        )
        return result

    async def create_audience(
        self, name: str, customer_list_id: str, audience_type: str = "CUSTOMER_LIST"
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(
            "POST",
            f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}/audiences",
            {"name": name, "audience_type": audience_type, "rule": {"customer_list_id": customer_list_id}},
        )
        return result
