"""Typed settings: what to connect to, with which credentials, and which audiences to keep in sync.

Precedence when loading (see `load_settings`, added with the CLI): TOML file < environment (secrets
only, under Pinterest SDK names) < command-line flags. Secrets are `Secret` values whose text never
shows in a repr, a log line, a report or an exception.
"""

from __future__ import annotations

import enum
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pinaudience.errors import ConfigError
from pinaudience.identifiers.types import HashAlgorithm, IdType
from pinaudience.pinterest import limits

E = TypeVar("E", bound=enum.Enum)

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


# --- loading -------------------------------------------------------------------------------------

_PINTEREST_KEYS = {
    "ad_account_id",
    "api_base",
    "access_token",
    "refresh_token",
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
}
_AUDIENCE_KEYS = {
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
_TOP_KEYS = {"pinterest", "defaults", "audience", "state_dir"}


@dataclass(frozen=True)
class Overrides:
    """Values from command-line flags; None means "not given", so the file's value stands."""

    ad_account_id: str | None = None
    api_base: str | None = None
    app_id: str | None = None
    token_store: Path | None = None
    ads_write_limit: str | None = None
    ads_read_limit: str | None = None
    state_dir: Path | None = None
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

    def pinterest_values(self) -> dict[str, object]:
        keys = ("ad_account_id", "api_base", "app_id", "token_store", "ads_write_limit", "ads_read_limit")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def destination_values(self) -> dict[str, object]:
        keys = ("input", "list_name", "audience_name", "audience_id", "customer_list_id")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def run_values(self) -> dict[str, object]:
        keys = _AUDIENCE_KEYS - {"input", "list_name", "audience_name", "audience_id", "customer_list_id"}
        return {k: getattr(self, k) for k in sorted(keys) if getattr(self, k) is not None}


def default_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("pinaudience"))


def default_token_store() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("pinaudience")) / "tokens.json"


def read_toml(path: Path) -> dict[str, object]:
    """Parse a TOML config file; a missing or malformed file is a ConfigError naming it."""
    import tomllib

    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return data


def load_settings(
    config_file: Path | None = None,
    *,
    overrides: Overrides | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings from a TOML file, then command-line flags; the environment only fills secrets.

    Precedence: flags > file > environment (the environment, under Pinterest SDK names, fills only
    credentials and the API base that neither the file nor the flags set).
    """
    overrides = overrides or Overrides()
    env = os.environ if env is None else env
    data: dict[str, object] = read_toml(config_file) if config_file is not None else {}
    where = str(config_file) if config_file is not None else "settings"
    _reject_unknown(data, _TOP_KEYS, where)

    pinterest_data = dict(_table(data, "pinterest", where))
    _reject_unknown(pinterest_data, _PINTEREST_KEYS, f"{where} [pinterest]")
    pinterest_data.update(overrides.pinterest_values())
    pinterest = _pinterest_settings(pinterest_data, env, where)

    defaults = dict(_table(data, "defaults", where))
    _reject_unknown(defaults, _AUDIENCE_KEYS, f"{where} [defaults]")
    raw_audiences = data.get("audience", [])
    if not isinstance(raw_audiences, list) or not all(isinstance(a, dict) for a in raw_audiences):
        raise ConfigError(f"{where}: `audience` must be an array of tables ([[audience]])")
    audience_tables: list[dict[str, object]] = [dict(a) for a in raw_audiences]
    destination = overrides.destination_values()
    if destination:
        if len(audience_tables) > 1:
            raise ConfigError(
                f"{where} defines {len(audience_tables)} audiences; the input and destination flags "
                "(INPUT, --list-name, --audience-name, --audience-id, --customer-list-id) apply to one only",
                resolution="Leave those flags out to sync every audience in the file, or use a file with one.",
            )
        if not audience_tables:
            audience_tables = [{}]
        audience_tables[0].update(destination)
    audiences: list[AudienceSettings] = []
    for index, table in enumerate(audience_tables, start=1):
        label = f"{where} audience {index}" if config_file is not None else "settings"
        _reject_unknown(table, _AUDIENCE_KEYS, label)
        merged = {**defaults, **table, **overrides.run_values()}
        audiences.append(_audience_settings(merged, label, base_dir=config_file.parent if config_file else None))

    state_dir = overrides.state_dir
    if state_dir is None and "state_dir" in data:
        state_dir = _path(data["state_dir"], "state_dir", where, config_file.parent if config_file else None)
    return Settings(pinterest=pinterest, audiences=tuple(audiences), state_dir=state_dir)


def _table(data: Mapping[str, object], name: str, where: str) -> Mapping[str, object]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `{name}` must be a table ([{name}])")
    return value


def _reject_unknown(data: Mapping[str, object], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
            resolution=f"Known settings here: {', '.join(sorted(known))}.",
        )


def _str(value: object, name: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"{where}: `{name}` must be a string")
    return str(value).strip()


def _id(value: object, name: str, where: str) -> str:
    text = _str(value, name, where)
    if not limits.ID_PATTERN.match(text):
        raise ConfigError(f"{where}: `{name}` must be digits only, at most 18 (got {len(text)} characters)")
    return text


def _int(value: object, name: str, where: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{where}: `{name}` must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{where}: `{name}` must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{where}: `{name}` must be at least {minimum}, got {number}")
    return number


def _float(value: object, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: `{name}` must be a number")
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{where}: `{name}` must be a number, got {value!r}") from None


def _bool(value: object, name: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0", "yes", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    raise ConfigError(f"{where}: `{name}` must be true or false")


def _path(value: object, name: str, where: str, base_dir: Path | None) -> Path:
    """A path from a flag (a Path) is relative to the working directory; one from the file, to the file."""
    if isinstance(value, Path):
        return value.expanduser()
    path = Path(_str(value, name, where)).expanduser()
    return base_dir / path if base_dir is not None and not path.is_absolute() else path


def _enum(enum_type: type[E], value: object, name: str, where: str) -> E:
    text = _str(value, name, where).lower()
    try:
        return enum_type(text)
    except ValueError:
        choices = ", ".join(member.value for member in enum_type)
        raise ConfigError(f"{where}: `{name}` must be one of {choices}, got {text!r}") from None


def _rate(value: object, name: str, where: str) -> limits.RateLimit:
    if isinstance(value, limits.RateLimit):
        return value
    try:
        return limits.RateLimit.parse(_str(value, name, where))
    except ValueError as exc:
        raise ConfigError(f"{where}: `{name}`: {exc}") from None


def _secret(value: object, name: str, where: str) -> Secret | None:
    if value is None:
        return None
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: `{name}` must be a string")
    return Secret(value.strip()) if value.strip() else None


def _pinterest_settings(data: dict[str, object], env: Mapping[str, str], where: str) -> PinterestSettings:
    if "ad_account_id" not in data:
        raise ConfigError(
            "the ad account id is missing",
            resolution="Pass --ad-account-id or set ad_account_id under [pinterest] in the config file.",
        )
    ad_account_id = _id(data["ad_account_id"], "ad_account_id", where)
    api_base = data.get("api_base") or env.get(ENV_API_URI) or limits.DEFAULT_API_BASE
    api_base = _str(api_base, "api_base", where).rstrip("/")
    if not api_base.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: `api_base` must be an http(s) URL")
    credentials = Credentials(
        access_token=_secret(data.get("access_token") or env.get(ENV_ACCESS_TOKEN), "access_token", where),
        refresh_token=_secret(data.get("refresh_token") or env.get(ENV_REFRESH_TOKEN), "refresh_token", where),
        app_id=_str(data.get("app_id") or env.get(ENV_APP_ID) or "", "app_id", where) or None,
        app_secret=_secret(data.get("app_secret") or env.get(ENV_APP_SECRET), "app_secret", where),
        token_store=_path(data["token_store"], "token_store", where, None)
        if data.get("token_store")
        else default_token_store(),
    )
    kwargs: dict[str, object] = {}
    if "ads_write_limit" in data:
        kwargs["ads_write_limit"] = _rate(data["ads_write_limit"], "ads_write_limit", where)
    if "ads_read_limit" in data:
        kwargs["ads_read_limit"] = _rate(data["ads_read_limit"], "ads_read_limit", where)
    for key in ("per_second", "max_attempts", "writes_in_flight"):
        if key in data:
            kwargs[key] = _int(data[key], key, where)
    for key in ("timeout_s", "max_retry_s"):
        if key in data:
            number = _float(data[key], key, where)
            if number <= 0:
                raise ConfigError(f"{where}: `{key}` must be positive")
            kwargs[key] = number
    return PinterestSettings(
        ad_account_id=ad_account_id,
        credentials=credentials,
        api_base=api_base,
        **kwargs,  # type: ignore[arg-type]
    )


def _audience_settings(data: dict[str, object], where: str, *, base_dir: Path | None) -> AudienceSettings:
    kwargs: dict[str, object] = {}
    if data.get("input") is not None:
        kwargs["input"] = _path(data["input"], "input", where, base_dir)
    for key in ("list_name", "audience_name", "column"):
        if data.get(key) is not None:
            text = _str(data[key], key, where)
            if not text:
                raise ConfigError(f"{where}: `{key}` must not be empty")
            kwargs[key] = text
    for key in ("audience_id", "customer_list_id"):
        if data.get(key) is not None:
            kwargs[key] = _id(data[key], key, where)
    if data.get("mode") is not None:
        mode_text = _str(data["mode"], "mode", where).lower()
        kwargs["mode"] = SyncMode.MIRROR if mode_text == "replace" else _enum(SyncMode, mode_text, "mode", where)
    if data.get("id_type") is not None:
        kwargs["id_type"] = _enum(IdType, data["id_type"], "id_type", where)
    if data.get("hash") is not None:
        kwargs["hash"] = _enum(HashAlgorithm, data["hash"], "hash", where)
    if data.get("batch_size") is not None:
        batch = _int(data["batch_size"], "batch_size", where)
        if batch > limits.MAX_RECORDS_PER_REQUEST:
            raise ConfigError(
                f"{where}: `batch_size` must be at most {limits.MAX_RECORDS_PER_REQUEST:,}, got {batch:,}"
            )
        kwargs["batch_size"] = batch
    if data.get("sample") is not None:
        kwargs["sample"] = _int(data["sample"], "sample", where)
    for key in ("dry_run", "full"):
        if data.get(key) is not None:
            kwargs[key] = _bool(data[key], key, where)
    if data.get("max_remove_fraction") is not None:
        fraction = _float(data["max_remove_fraction"], "max_remove_fraction", where)
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(f"{where}: `max_remove_fraction` must be between 0 and 1, got {fraction}")
        kwargs["max_remove_fraction"] = fraction
    settings = AudienceSettings(**kwargs)  # type: ignore[arg-type]
    destinations = [k for k in ("audience_id", "customer_list_id", "list_name") if getattr(settings, k)]
    if not destinations:
        raise ConfigError(
            f"{where}: no destination",
            resolution="Give --list-name (found or created by name), --audience-id or --customer-list-id.",
        )
    if settings.audience_id and settings.customer_list_id:
        raise ConfigError(
            f"{where}: give either `audience_id` or `customer_list_id`, not both "
            "(an audience's rule already names its customer list)"
        )
    return settings
