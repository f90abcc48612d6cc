"""pinaudience: keep a Pinterest customer list and audience exactly equal to a CDP segment file.

The public API is curated here; everything else is an implementation detail.
"""

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
from pinaudience.engine.report import RunReport, SyncReport
from pinaudience.engine.sync import SyncEvent, sync, sync_async
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
    "SyncReport",
    "__version__",
    "load_settings",
    "prepare",
    "sync",
    "sync_async",
]
