"""A local Pinterest API v5 for customer lists, audiences, ad accounts, conversion events and OAuth, with an admin API.

Pinterest's sandbox disables every customer list, audience and conversion event operation, so this is what tests,
demos and benchmarks run against. In process: `httpx.AsyncClient(transport=Emulator(clock=clock).transport())`. On a
socket: `with serving(Emulator()) as url: ...` or `pinaudience emulator serve`. docs/emulator.md has the
settings and profiles (`Emulator(profile="realistic")`), the admin API, the rate-limit algorithm and every
known difference from Pinterest.

The names load lazily, on first use (a module `__getattr__`), for start-up cost only: `pinaudience emulator
serve --help` reads `settings.PROFILE_NAMES`, which runs this file first, and the web stack (Starlette,
uvicorn) must load only when an emulator is made or served. The `TYPE_CHECKING` block gives type checkers
the same names.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinaudience.emulator.app import REQUEST_LOG_SIZE, Emulator
    from pinaudience.emulator.faults import FaultPlan, FaultPlanError
    from pinaudience.emulator.http import RID_HEADER
    from pinaudience.emulator.seed import (
        SEED_ACCESS_TOKEN,
        SEED_AD_ACCOUNT_ID,
        SEED_APP_ID,
        SEED_APP_SECRET,
        SEED_CONVERSION_TOKEN,
        SEED_REFRESH_TOKEN,
        SEED_SCOPES,
        SEED_USER,
    )
    from pinaudience.emulator.serve import serving
    from pinaudience.emulator.settings import (
        DEFAULT_MATCH_RATE,
        PROFILE_NAMES,
        PROFILES,
        EmulatorSettings,
        SettingsError,
    )

__all__ = [
    "DEFAULT_MATCH_RATE",
    "PROFILES",
    "PROFILE_NAMES",
    "REQUEST_LOG_SIZE",
    "RID_HEADER",
    "SEED_ACCESS_TOKEN",
    "SEED_AD_ACCOUNT_ID",
    "SEED_APP_ID",
    "SEED_APP_SECRET",
    "SEED_CONVERSION_TOKEN",
    "SEED_REFRESH_TOKEN",
    "SEED_SCOPES",
    "SEED_USER",
    "Emulator",
    "EmulatorSettings",
    "FaultPlan",
    "FaultPlanError",
    "SettingsError",
    "serving",
]

_MODULE_OF = {
    "Emulator": "app",
    "REQUEST_LOG_SIZE": "app",
    "FaultPlan": "faults",
    "FaultPlanError": "faults",
    "RID_HEADER": "http",
    **dict.fromkeys(
        (
            "SEED_ACCESS_TOKEN",
            "SEED_AD_ACCOUNT_ID",
            "SEED_APP_ID",
            "SEED_APP_SECRET",
            "SEED_CONVERSION_TOKEN",
            "SEED_REFRESH_TOKEN",
            "SEED_SCOPES",
            "SEED_USER",
        ),
        "seed",
    ),
    "serving": "serve",
    **dict.fromkeys(
        ("DEFAULT_MATCH_RATE", "PROFILES", "PROFILE_NAMES", "EmulatorSettings", "SettingsError"), "settings"
    ),
}
"""The submodule of `pinaudience.emulator` that defines each name."""


def __getattr__(name: str) -> Any:
    """A public name, imported from its submodule on first use and kept."""
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(f"pinaudience.emulator.{_MODULE_OF[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pinaudience.emulator' has no attribute {name!r}")
