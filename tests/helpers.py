"""Helpers every test suite shares: customer addresses, the records Pinterest holds for them, files, the emulator.

Suite-specific helpers live beside their tests (`cli/cli_helpers.py`, `reliability/reliability_helpers.py`, ...)
and build on these; the emulator's admin API is `tests/emulator_admin.py`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from pinaudience.emulator import SEED_ACCESS_TOKEN, Emulator

EMULATOR_BASE_URL = "http://emulator.test"
"""Base URL of the in-process emulator (any host works with its transport); Pinterest's API is under `/v5`."""
API_BASE = f"{EMULATOR_BASE_URL}/v5"
"""Pinterest's API on the in-process emulator, as the client and the engine are configured with it."""


def emails(n: int, start: int = 0, *, local: str = "person", domain: str = "example.com") -> list[str]:
    """`n` distinct addresses `{local}{i}@{domain}`, for i from `start`."""
    return [f"{local}{i}@{domain}" for i in range(start, start + n)]


def expected_members(values: Iterable[str]) -> list[str]:
    """What Pinterest should hold for these emails: SHA-256 of the trimmed, lowercased address, sorted."""
    return sorted(hashlib.sha256(v.strip().lower().encode()).hexdigest() for v in values)


def hashed_emails(n: int, start: int = 0) -> list[str]:
    """`n` distinct SHA-256 email records, ready to send, in the order of `emails(n, start)`."""
    return [hashlib.sha256(address.encode()).hexdigest() for address in emails(n, start)]


def write_csv(path: Path, values: Iterable[str], header: str = "email") -> Path:
    """A one-column customer file: the header line, then one value a line."""
    path.write_text(header + "\n" + "".join(f"{v}\n" for v in values), encoding="utf-8")
    return path


def emulator_http(
    emulator: Emulator, *, event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None
) -> httpx.AsyncClient:
    """An httpx client wired to the emulator in-process, rooted at its base URL, with the seed access token.

    Pinterest's API is at `/v5/...`, the admin API at `/_emulator/...`.
    """
    return httpx.AsyncClient(
        transport=emulator.transport(),
        base_url=EMULATOR_BASE_URL,
        headers={"Authorization": f"Bearer {SEED_ACCESS_TOKEN}"},
        event_hooks=event_hooks,
    )
