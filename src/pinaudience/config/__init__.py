"""Typed settings: what to connect to, with which credentials, and which audiences to keep in sync.

Precedence when loading (`load_settings`): TOML file < environment (secrets and the API base only,
under Pinterest SDK names) < command-line flags. Secrets are `Secret` values whose text never shows in
a repr, a log line, a report or an exception.

`settings` holds the run's dataclasses, `values` the coercers shared with the Meiro component, `load`
the loader; the Pinterest connection settings live beside the client, in `pinaudience.pinterest.settings`.
"""

from pinaudience.config.load import check_unique_names, events_settings, load_settings, read_toml, with_events_flags
from pinaudience.config.settings import AudienceSettings, EventsSettings, Overrides, Settings
from pinaudience.pinterest.settings import (
    ENV_ACCESS_TOKEN,
    ENV_API_URI,
    ENV_APP_ID,
    ENV_APP_SECRET,
    ENV_CONVERSION_TOKEN,
    ENV_RATE_LIMIT_URL,
    ENV_REFRESH_TOKEN,
    Credentials,
    PinterestSettings,
)
from pinaudience.plan.mode import SyncMode
from pinaudience.support.paths import default_state_dir, default_token_store
from pinaudience.support.secret import Secret

__all__ = [
    "ENV_ACCESS_TOKEN",
    "ENV_API_URI",
    "ENV_APP_ID",
    "ENV_APP_SECRET",
    "ENV_CONVERSION_TOKEN",
    "ENV_RATE_LIMIT_URL",
    "ENV_REFRESH_TOKEN",
    "AudienceSettings",
    "Credentials",
    "EventsSettings",
    "Overrides",
    "PinterestSettings",
    "Secret",
    "Settings",
    "SyncMode",
    "check_unique_names",
    "default_state_dir",
    "default_token_store",
    "events_settings",
    "load_settings",
    "read_toml",
    "with_events_flags",
]
