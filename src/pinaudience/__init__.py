"""pinaudience: keep a Pinterest customer list and audience exactly equal to a CDP segment file.

The public API is curated here; everything else is an implementation detail.

Deprecated names, still importable from here with a `DeprecationWarning`:

- `SyncReport`: renamed `AudienceReport` (the report of one audience, beside the run's `RunReport`).
"""

import warnings
from typing import Any

from pinaudience._version import __version__
from pinaudience.config import (
    AudienceSettings,
    Credentials,
    PinterestSettings,
    Secret,
    Settings,
    SyncMode,
    load_settings,
)
from pinaudience.engine.events import SyncEvent
from pinaudience.engine.report import AudienceReport, RunReport
from pinaudience.engine.sync import sync, sync_async
from pinaudience.errors import (
    AuthorizationError,
    ConfigError,
    InputError,
    InsufficientPermissions,
    InvalidRequest,
    MassRemovalBlocked,
    NotEnoughRecords,
    NotFound,
    PinaudienceError,
    PinterestError,
    PinterestUnavailable,
    RateLimited,
    StateError,
    StateLocked,
)
from pinaudience.identifiers.types import HashAlgorithm, IdType
from pinaudience.input.prepare import Prepared, PrepareProgress, PrepareReport, prepare

__all__ = [
    "AudienceReport",
    "AudienceSettings",
    "AuthorizationError",
    "ConfigError",
    "Credentials",
    "HashAlgorithm",
    "IdType",
    "InputError",
    "InsufficientPermissions",
    "InvalidRequest",
    "MassRemovalBlocked",
    "NotEnoughRecords",
    "NotFound",
    "PinaudienceError",
    "PinterestError",
    "PinterestSettings",
    "PinterestUnavailable",
    "PrepareProgress",
    "PrepareReport",
    "Prepared",
    "RateLimited",
    "RunReport",
    "Secret",
    "Settings",
    "StateError",
    "StateLocked",
    "SyncEvent",
    "SyncMode",
    "__version__",
    "load_settings",
    "prepare",
    "sync",
    "sync_async",
]

_DEPRECATED = {"SyncReport": ("AudienceReport", AudienceReport)}


def __getattr__(name: str) -> Any:
    """Old names, with a DeprecationWarning that names the new one."""
    if name in _DEPRECATED:
        new_name, value = _DEPRECATED[name]
        warnings.warn(f"pinaudience.{name} is deprecated; use pinaudience.{new_name}", DeprecationWarning, stacklevel=2)
        return value
    raise AttributeError(f"module 'pinaudience' has no attribute {name!r}")
