"""Typed settings: what to connect to, with which credentials, and which audiences to keep in sync.

Precedence when loading (see `load_settings`, added with the CLI): TOML file < environment (secrets
only, under Pinterest SDK names) < command-line flags. Secrets are `Secret` values whose text never
shows in a repr, a log line, a report or an exception.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass, field
from pathlib import Path

from pinaudience.identifiers.types import HashAlgorithm, IdType
from pinaudience.pinterest import limits

ENV_ACCESS_TOKEN = "PINTEREST_ACCESS_TOKEN"  # noqa: S105 - a variable name, not a secret
ENV_REFRESH_TOKEN = "PINTEREST_REFRESH_ACCESS_TOKEN"  # noqa: S105 - a variable name
ENV_APP_ID = "PINTEREST_APP_ID"
ENV_APP_SECRET = "PINTEREST_APP_SECRET"  # noqa: S105 - a variable name
ENV_API_URI = "PINTEREST_API_URI"


class Secret:
    """A string that does not print: `reveal()` is the only way to its text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


class SyncMode(enum.StrEnum):
    """What a sync does with the file's records."""

    MIRROR = "mirror"
    """After the run the list holds exactly the file's valid records (Meiro's `replace`)."""
    ADD = "add"
    """Add the file's records; remove nothing."""
    REMOVE = "remove"
    """Remove the file's records; add nothing."""

    @classmethod
    def from_meiro(cls, operation: str) -> SyncMode:
        """Map Meiro's `audience_operation` (`add`, `remove`, `replace`) onto a mode."""
        mapping = {"add": cls.ADD, "remove": cls.REMOVE, "replace": cls.MIRROR}
        try:
            return mapping[operation.strip().lower()]
        except KeyError:
            raise ValueError(f"expected one of add, remove, replace, got {operation!r}") from None


@dataclass(frozen=True)
class Credentials:
    """How to authenticate: a static access token, or a refresh token with the app's id and secret."""

    access_token: Secret | None = None
    """A Pinterest access token (`pina...`); used as is until it expires."""
    refresh_token: Secret | None = None
    """A continuous refresh token (`pinr...`); rotated on every refresh and written to `token_store`."""
    app_id: str | None = None
    """The Pinterest app id that issued the refresh token."""
    app_secret: Secret | None = None
    """The Pinterest app secret, needed to refresh."""
    token_store: Path | None = None
    """File (mode 0600) where rotated tokens are kept; when it holds a newer refresh token, that one wins."""

    @property
    def can_refresh(self) -> bool:
        return bool(self.refresh_token and self.app_id and self.app_secret)


@dataclass(frozen=True)
class PinterestSettings:
    """The connection to Pinterest (or to the emulator)."""

    ad_account_id: str
    """The ad account that owns the customer lists and audiences (digits, at most 18)."""
    credentials: Credentials = field(default_factory=Credentials)
    api_base: str = limits.DEFAULT_API_BASE
    """Base URL of the API, ending in `/v5`; the emulator's URL in tests and the demo."""
    ads_write_limit: limits.RateLimit = limits.STANDARD.ads_write
    """Write calls allowed per window (Pinterest standard access: 400/60); lower it if other tools share the quota."""
    ads_read_limit: limits.RateLimit = limits.STANDARD.ads_read
    """Read calls allowed per window (Pinterest standard access: 1000/60)."""
    per_second: int = limits.STANDARD.per_second
    """Calls per second across all categories."""
    timeout_s: float = 60.0
    """Timeout of one HTTP request (connect, read, write)."""
    max_attempts: int = 10
    """Attempts per call, the first included, before a retriable failure becomes an error."""
    max_retry_s: float = 900.0
    """Total time one call may spend retrying before it becomes an error."""
    writes_in_flight: int = limits.DEFAULT_WRITES_IN_FLIGHT
    """Write calls in flight at once."""


@dataclass(frozen=True)
class AudienceSettings:
    """One destination and how to fill it from one input file."""

    input: Path | None = None
    """The customers file (CSV, TSV, Parquet, optionally gzip-compressed)."""
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


@dataclass(frozen=True)
class Settings:
    """Everything one run needs."""

    pinterest: PinterestSettings
    audiences: tuple[AudienceSettings, ...] = ()
    state_dir: Path | None = None
    """Where confirmed membership is kept; None means the user's state directory."""
