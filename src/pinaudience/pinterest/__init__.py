"""The Pinterest API v5 client: tokens, rate limits, retries and error classification.

Modules: `limits` (Pinterest's numbers, shared with the emulator), `errors` (`classify`), `ratelimit`,
`retry`, `auth` (token store, providers, OAuth steps), `client` (`PinterestClient`, `open_client`),
`access` (`check`). The names below are loaded on first use: `pinaudience.config` imports `limits`
from this package, and `auth`, `client` and `access` import `pinaudience.config`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinaudience.pinterest.access import CheckResult, CheckStep, check
    from pinaudience.pinterest.client import PinterestClient, open_client
    from pinaudience.pinterest.models import AdAccount, Audience, CustomerList, ListOperation

_LAZY = {
    "check": "access",
    "CheckResult": "access",
    "CheckStep": "access",
    "PinterestClient": "client",
    "open_client": "client",
    "AdAccount": "models",
    "Audience": "models",
    "CustomerList": "models",
    "ListOperation": "models",
}

__all__ = [
    "AdAccount",
    "Audience",
    "CheckResult",
    "CheckStep",
    "CustomerList",
    "ListOperation",
    "PinterestClient",
    "check",
    "open_client",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
