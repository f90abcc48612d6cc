"""Typed settings: which audiences to keep in sync, how, and where the state lives."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pinaudience.identifiers.types import HashAlgorithm, IdType
from pinaudience.pinterest import limits
from pinaudience.pinterest.settings import PinterestSettings
from pinaudience.plan.mode import SyncMode
from pinaudience.support.paths import is_postgres_url
from pinaudience.support.redact import redact_url
from pinaudience.support.secret import Secret


@dataclass(frozen=True)
class AudienceSettings:
    """One destination and how to fill it from one input file."""

    input: Path | None = None
    """The customers file (CSV, TSV, Parquet, optionally gzip-compressed)."""
    name: str | None = None
    """What `sync --audience NAME` and `pinaudience audiences` call this audience (config key `name`, in an
    `[[audience]]` table only); `label` falls back on the audience's other names."""
    list_name: str | None = None
    """Find the most recent customer list with this name, or create it."""
    audience_name: str | None = None
    """Name of the CUSTOMER_LIST audience to find or create on the list; defaults to `list_name`."""
    audience_id: str | None = None
    """Use this audience; its rule names the customer list."""
    customer_list_id: str | None = None
    """Use this customer list."""
    mode: SyncMode = SyncMode.MIRROR
    id_type: IdType = IdType.EMAIL
    column: str | None = None
    """The identifier column; detected when absent."""
    hash: HashAlgorithm = HashAlgorithm.SHA256
    batch_size: int = limits.DEFAULT_BATCH_SIZE
    """Records per ADD/REMOVE request."""
    dry_run: bool = False
    """Resolve and plan with reads only; send nothing."""
    sample: int | None = None
    """Send only the first N valid records (to validate a destination with a small audience first)."""
    full: bool = False
    """In `add` mode, resend every record, not only those not yet confirmed."""
    max_remove_fraction: float = 0.5
    """A mirror that would remove more than this share of the confirmed members stops unless raised."""

    @property
    def effective_audience_name(self) -> str | None:
        return self.audience_name or self.list_name

    @property
    def label(self) -> str:
        """The audience's name in a config file: `name`, else `audience_name`, else `list_name`, else its id."""
        return audience_label(self.name, self.audience_name, self.list_name, self.audience_id, self.customer_list_id)


DEFAULT_EVENTS_RETENTION_DAYS = 30
"""How long the events journal remembers an acknowledged event (`EventsSettings.retention_days`)."""

DEFAULT_EVENTS_MAX_AGE_DAYS = 7
"""Events older than this are `too_old` (Pinterest accepts the last seven days)."""


@dataclass(frozen=True)
class EventsSettings:
    """One events file to send to Pinterest's Conversions API (`pinaudience events FILE`, an `[[events]]` table)."""

    input: Path | None = None
    """The events file (CSV, TSV, Parquet, optionally gzip-compressed): one event a row."""
    name: str | None = None
    """What the config file calls this events table (key `name`); for reports and logs."""
    columns: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Column mapping: (field, the file's columns), for the fields whose columns do not have a usual name
    (`[events.columns]` in the config, `--map field=column`)."""
    event_name: str | None = None
    """The `event_name` of rows without one."""
    action_source: str | None = None
    """The `action_source` of rows without one."""
    test: bool = False
    """Send in Pinterest's test mode (`?test=true`): judged, not recorded; the journal is neither read nor written."""
    batch_size: int = limits.MAX_EVENTS_PER_REQUEST
    """Events per `events/create` request, at most 1,000."""
    retention_days: float = DEFAULT_EVENTS_RETENTION_DAYS
    """How long the journal keeps an acknowledged event's id; longer than `max_age_days`, so that an event
    forgotten by the journal is one Pinterest would no longer accept anyway."""
    max_age_days: float | None = DEFAULT_EVENTS_MAX_AGE_DAYS
    """Events older than this are rejected (`too_old`) before sending; None accepts any age (test mode only)."""
    rejects: Path | None = None
    """Where to write the rejected rows (`row,reason`): invalid before sending, or failed at Pinterest."""

    @property
    def mapping(self) -> dict[str, tuple[str, ...]]:
        return dict(self.columns)

    @property
    def label(self) -> str:
        return self.name or (self.input.name if self.input is not None else "events")


def audience_label(*candidates: object) -> str:
    """The first non-empty of `name`, `audience_name`, `list_name`, `audience_id`, `customer_list_id`."""
    for value in candidates:
        if value is not None and str(value).strip():
            return str(value)
    return ""


@dataclass(frozen=True, init=False)
class Settings:
    """Everything one run needs."""

    pinterest: PinterestSettings
    audiences: tuple[AudienceSettings, ...] = ()
    events: tuple[EventsSettings, ...] = ()
    """Events files to send (`[[events]]` tables, `pinaudience events FILE`)."""
    state: str | None = field(default=None, repr=False)
    """Where confirmed membership is kept: a directory, or a `postgresql://` URL (which may hold a
    password, so it is left out of the repr: `state_location` is what to show); None means the user's
    state directory."""

    def __init__(
        self,
        pinterest: PinterestSettings,
        audiences: tuple[AudienceSettings, ...] = (),
        state: str | os.PathLike[str] | None = None,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        events: tuple[EventsSettings, ...] = (),
    ) -> None:
        """`state_dir` is the older name of `state` (a directory); when given, it is the state."""
        location = state_dir if state_dir is not None else state
        object.__setattr__(self, "pinterest", pinterest)
        object.__setattr__(self, "audiences", audiences)
        object.__setattr__(self, "events", events)
        object.__setattr__(self, "state", None if location is None else os.fspath(location))

    @property
    def state_dir(self) -> Path | None:
        """The state directory; None when the state is the default directory or a PostgreSQL database."""
        return None if self.state is None or is_postgres_url(self.state) else Path(self.state)

    @property
    def state_location(self) -> str | None:
        """The state as logs, reports and errors show it: a directory, or a URL without its password."""
        return None if self.state is None else redact_url(self.state)

    def __repr__(self) -> str:
        return f"Settings(pinterest={self.pinterest!r}, audiences={self.audiences!r}, state={self.state_location!r})"


PINTEREST_KEYS = {
    "ad_account_id",
    "api_base",
    "access_token",
    "refresh_token",
    "conversion_token",
    "app_id",
    "app_secret",
    "token_store",
    "ads_write_limit",
    "ads_read_limit",
    "per_second",
    "timeout_s",
    "max_attempts",
    "max_retry_s",
    "writes_in_flight",
    "writes_in_flight_per_list",
    "rate_limit_url",
    "rate_limit_scope",
}
AUDIENCE_KEYS = {
    "input",
    "list_name",
    "audience_name",
    "audience_id",
    "customer_list_id",
    "mode",
    "id_type",
    "column",
    "hash",
    "batch_size",
    "dry_run",
    "sample",
    "full",
    "max_remove_fraction",
}
TABLE_ONLY_KEYS = {"name"}
"""Keys of an `[[audience]]` table that `[defaults]` and flags cannot set: they tell the audiences apart."""
TOP_KEYS = {"pinterest", "defaults", "audience", "events", "state", "state_dir"}
EVENTS_KEYS = {
    "input",
    "name",
    "columns",
    "event_name",
    "action_source",
    "test",
    "batch_size",
    "retention_days",
    "max_age_days",
    "rejects",
}
"""Keys of an `[[events]]` table."""


@dataclass(frozen=True)
class Overrides:
    """Values from command-line flags; None means "not given", so the file's value stands."""

    ad_account_id: str | None = None
    api_base: str | None = None
    app_id: str | None = None
    token_store: Path | str | None = None
    ads_write_limit: str | None = None
    ads_read_limit: str | None = None
    rate_limit_url: Secret | None = None
    rate_limit_scope: str | None = None
    state: str | None = field(default=None, repr=False)
    """`--state`: a directory or a `postgresql://` URL (`--state-dir` is its older name)."""
    input: Path | None = None
    list_name: str | None = None
    audience_name: str | None = None
    audience_id: str | None = None
    customer_list_id: str | None = None
    mode: str | None = None
    id_type: str | None = None
    column: str | None = None
    hash: str | None = None
    batch_size: int | None = None
    dry_run: bool | None = None
    sample: int | None = None
    full: bool | None = None
    max_remove_fraction: float | None = None
    audiences: tuple[str, ...] = ()
    """`sync --audience NAME` (repeatable): sync only the config file's audiences of these names."""

    def pinterest_values(self) -> dict[str, object]:
        keys = (
            "ad_account_id",
            "api_base",
            "app_id",
            "token_store",
            "ads_write_limit",
            "ads_read_limit",
            "rate_limit_url",
            "rate_limit_scope",
        )
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def destination_values(self) -> dict[str, object]:
        keys = ("input", "list_name", "audience_name", "audience_id", "customer_list_id")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def run_values(self) -> dict[str, object]:
        keys = AUDIENCE_KEYS - {"input", "list_name", "audience_name", "audience_id", "customer_list_id"}
        return {k: getattr(self, k) for k in sorted(keys) if getattr(self, k) is not None}
