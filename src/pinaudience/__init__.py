"""pinaudience: keep a Pinterest customer list and audience exactly equal to a CDP segment file.

The public API is curated here; everything else is an implementation detail.
"""

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
from pinaudience.prepare import Prepared, PrepareProgress, PrepareReport, prepare

__version__ = "0.1.0"

__all__ = [
    "AuthorizationError",
    "ConfigError",
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
    "PinterestUnavailable",
    "PrepareProgress",
    "PrepareReport",
    "Prepared",
    "RateLimited",
    "StateError",
    "StateLocked",
    "__version__",
    "prepare",
]
