"""pinaudience: keep a Pinterest customer list and audience exactly equal to a CDP segment file.

The public API is curated here; everything else is an implementation detail.

The names load lazily, on first use (a module `__getattr__` that imports the module defining the name):
`from pinaudience import sync` works as ever, but `import pinaudience`, which every submodule import runs
first (`pinaudience.cli` included), no longer loads the engine, Polars and httpx. This is for start-up cost
only, not to break an import cycle: the `TYPE_CHECKING` block below imports every name eagerly for type
checkers, and `__all__` lists them all.

Deprecated names, still importable from here with a `DeprecationWarning`:

- `SyncReport`: renamed `AudienceReport` (the report of one audience, beside the run's `RunReport`).
"""

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from pinaudience._version import __version__

if TYPE_CHECKING:
    from pinaudience.config import (
        AudienceSettings,
        Credentials,
        EventsSettings,
        PinterestSettings,
        Secret,
        Settings,
        SyncMode,
        load_settings,
    )
    from pinaudience.engine.conversions import EventsRunReport, send_events_file, send_events_file_async
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
        RateLimiterUnavailable,
        StateError,
        StateLocked,
    )
    from pinaudience.identifiers.types import HashAlgorithm, IdType
    from pinaudience.input.prepare import Prepared, prepare
    from pinaudience.input.report import PrepareProgress, PrepareReport

__all__ = [
    "AudienceReport",
    "AudienceSettings",
    "AuthorizationError",
    "ConfigError",
    "Credentials",
    "EventsRunReport",
    "EventsSettings",
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
    "RateLimiterUnavailable",
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
    "send_events_file",
    "send_events_file_async",
    "sync",
    "sync_async",
]

_ERRORS = (
    "AuthorizationError",
    "ConfigError",
    "InputError",
    "InsufficientPermissions",
    "InvalidRequest",
    "MassRemovalBlocked",
    "NotEnoughRecords",
    "NotFound",
    "PinaudienceError",
    "PinterestError",
    "PinterestUnavailable",
    "RateLimited",
    "RateLimiterUnavailable",
    "StateError",
    "StateLocked",
)
_CONFIG = (
    "AudienceSettings",
    "Credentials",
    "EventsSettings",
    "PinterestSettings",
    "Secret",
    "Settings",
    "SyncMode",
    "load_settings",
)

_MODULE_OF: dict[str, str] = {
    **dict.fromkeys(_ERRORS, "pinaudience.errors"),
    **dict.fromkeys(_CONFIG, "pinaudience.config"),
    "SyncEvent": "pinaudience.engine.events",
    "EventsRunReport": "pinaudience.engine.conversions",
    "send_events_file": "pinaudience.engine.conversions",
    "send_events_file_async": "pinaudience.engine.conversions",
    "AudienceReport": "pinaudience.engine.report",
    "RunReport": "pinaudience.engine.report",
    "sync": "pinaudience.engine.sync",
    "sync_async": "pinaudience.engine.sync",
    "HashAlgorithm": "pinaudience.identifiers.types",
    "IdType": "pinaudience.identifiers.types",
    "Prepared": "pinaudience.input.prepare",
    "PrepareProgress": "pinaudience.input.report",
    "PrepareReport": "pinaudience.input.report",
    "prepare": "pinaudience.input.prepare",
}
"""Where each public name is defined; `__getattr__` imports the module on first use."""

_DEPRECATED = {"SyncReport": "AudienceReport"}


def __getattr__(name: str) -> Any:
    """A public name, imported on first use and kept; old names with a DeprecationWarning naming the new one."""
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name]), name)
        globals()[name] = value  # later look-ups find it without coming here
        return value
    if name in _DEPRECATED:
        new_name = _DEPRECATED[name]
        warnings.warn(f"pinaudience.{name} is deprecated; use pinaudience.{new_name}", DeprecationWarning, stacklevel=2)
        return __getattr__(new_name)
    raise AttributeError(f"module 'pinaudience' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, loaded or not, beside the module's own attributes."""
    return sorted(set(globals()) | set(__all__))
