"""Loading settings: TOML file < environment (secrets and the API base only) < command-line flags."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from pinaudience.config.settings import (
    AUDIENCE_KEYS,
    EVENTS_KEYS,
    PINTEREST_KEYS,
    TABLE_ONLY_KEYS,
    TOP_KEYS,
    AudienceSettings,
    EventsSettings,
    Overrides,
    Settings,
    audience_label,
)
from pinaudience.config.values import (
    as_bool,
    as_enum,
    as_float,
    as_id,
    as_int,
    as_path,
    as_rate,
    as_secret,
    as_str,
)
from pinaudience.errors import ConfigError
from pinaudience.identifiers.types import HashAlgorithm, IdType
from pinaudience.pinterest import limits
from pinaudience.pinterest.settings import (
    ENV_ACCESS_TOKEN,
    ENV_API_URI,
    ENV_APP_ID,
    ENV_APP_SECRET,
    ENV_CONVERSION_TOKEN,
    ENV_RATE_LIMIT_URL,
    ENV_REFRESH_TOKEN,
    RATE_LIMIT_SCOPE_PATTERN,
    Credentials,
    PinterestSettings,
    default_token_store,
)
from pinaudience.plan.mode import SyncMode
from pinaudience.support.paths import ENV_STATE, is_postgres_url
from pinaudience.support.redact import redact_url


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
    credentials and the API base that neither the file nor the flags set; `PINAUDIENCE_STATE` fills the
    state the same way). With no token store given, a PostgreSQL state is the token store too.
    """
    overrides = overrides or Overrides()
    env = os.environ if env is None else env
    data: dict[str, object] = read_toml(config_file) if config_file is not None else {}
    where = str(config_file) if config_file is not None else "settings"
    _reject_unknown(data, TOP_KEYS, where)

    pinterest_data = dict(_table(data, "pinterest", where))
    _reject_unknown(pinterest_data, PINTEREST_KEYS, f"{where} [pinterest]")
    pinterest_data.update(overrides.pinterest_values())
    if not pinterest_data.get("token_store"):
        state = overrides.state or data.get("state") or data.get("state_dir") or env.get(ENV_STATE)
        if is_postgres_url(state):
            pinterest_data["token_store"] = state  # tokens live beside a PostgreSQL state
    pinterest = _pinterest_settings(pinterest_data, env, where)

    defaults = dict(_table(data, "defaults", where))
    _reject_unknown(defaults, AUDIENCE_KEYS, f"{where} [defaults]")
    raw_audiences = data.get("audience", [])
    if not isinstance(raw_audiences, list) or not all(isinstance(a, dict) for a in raw_audiences):
        raise ConfigError(f"{where}: `audience` must be an array of tables ([[audience]])")
    audience_tables: list[dict[str, object]] = [dict(a) for a in raw_audiences]
    if overrides.audiences:
        if config_file is None:
            raise ConfigError(
                "--audience selects audiences of a config file, and no --config was given",
                resolution="Give --config FILE with [[audience]] tables, or leave --audience out.",
            )
        audience_tables = select_audiences(audience_tables, defaults, overrides.audiences, where)
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
        _reject_unknown(table, AUDIENCE_KEYS | TABLE_ONLY_KEYS, label)
        merged = {**defaults, **table, **overrides.run_values()}
        audiences.append(_audience_settings(merged, label, base_dir=config_file.parent if config_file else None))

    raw_events = data.get("events", [])
    if not isinstance(raw_events, list) or not all(isinstance(e, dict) for e in raw_events):
        raise ConfigError(f"{where}: `events` must be an array of tables ([[events]])")
    events = tuple(
        events_settings(dict(table), f"{where} events {index}", base_dir=config_file.parent if config_file else None)
        for index, table in enumerate(raw_events, start=1)
    )

    state = overrides.state if overrides.state is not None else _file_state(data, where, config_file)
    if state is None and env.get(ENV_STATE, "").strip():
        state = env[ENV_STATE].strip()
    return Settings(pinterest=pinterest, audiences=tuple(audiences), state=state, events=events)


def with_events_flags(settings: Settings, flags: Mapping[str, object]) -> Settings:
    """The settings with the `events` command's flags (the keys of an `[[events]]` table; `input` among them) applied
    to the config file's one `[[events]]` table, or to a new one; a file of several tables takes no file argument."""
    given = {key: value for key, value in flags.items() if value is not None}
    if "input" in given and len(settings.events) > 1:
        raise ConfigError(
            f"the config file defines {len(settings.events)} [[events]] tables; an events file on the command line "
            "applies to one only",
            resolution="Leave the file argument out to send every [[events]] table, or use a config with one.",
        )
    flag_spec = events_settings(given, "command line", base_dir=None)
    bases = settings.events or (EventsSettings(),)
    merged = []
    for base in bases:
        changes: dict[str, object] = {key: getattr(flag_spec, key) for key in given if key != "columns"}
        if "columns" in given:
            changes["columns"] = tuple({**base.mapping, **flag_spec.mapping}.items())
        spec = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
        if spec.max_age_days is not None and spec.retention_days <= spec.max_age_days:
            raise ConfigError(f"`retention_days` ({spec.retention_days:g}) must be longer than `max_age_days`")
        merged.append(spec)
    return dataclasses.replace(settings, events=tuple(merged))


def events_settings(data: Mapping[str, object], where: str, *, base_dir: Path | None) -> EventsSettings:
    """An `[[events]]` table (or the `events` command's flags, as the same keys), checked."""
    _reject_unknown(data, EVENTS_KEYS, where)
    kwargs: dict[str, object] = {}
    for key in ("input", "rejects"):
        if data.get(key) is not None:
            kwargs[key] = as_path(data[key], key, where, base_dir)
    for key in ("name", "event_name", "action_source"):
        if data.get(key) is not None:
            text = as_str(data[key], key, where).strip()
            if not text:
                raise ConfigError(f"{where}: `{key}` must not be empty")
            kwargs[key] = text.lower() if key != "name" else text
    for key, allowed in (
        ("event_name", limits.CONVERSION_EVENT_NAMES),
        ("action_source", limits.CONVERSION_ACTION_SOURCES),
    ):
        if key in kwargs and kwargs[key] not in allowed:
            raise ConfigError(
                f"{where}: `{key}` is not one of Pinterest's values",
                resolution="Use one of: " + ", ".join(allowed) + ".",
            )
    if data.get("test") is not None:
        kwargs["test"] = as_bool(data["test"], "test", where)
    if data.get("batch_size") is not None:
        batch = as_int(data["batch_size"], "batch_size", where)
        if batch > limits.MAX_EVENTS_PER_REQUEST:
            raise ConfigError(f"{where}: `batch_size` must be at most {limits.MAX_EVENTS_PER_REQUEST:,}, got {batch:,}")
        kwargs["batch_size"] = batch
    for key in ("retention_days", "max_age_days"):
        if data.get(key) is not None:
            number = as_float(data[key], key, where)
            if number <= 0:
                raise ConfigError(f"{where}: `{key}` must be positive")
            kwargs[key] = number
    columns = data.get("columns")
    if columns is not None:
        if not isinstance(columns, Mapping):
            raise ConfigError(f"{where}: `columns` must be a table of field = column name (or a list of names)")
        mapping: list[tuple[str, tuple[str, ...]]] = []
        for field_name, given in columns.items():
            names = (given,) if isinstance(given, str) else tuple(given) if isinstance(given, list) else None
            if not names or not all(isinstance(n, str) and n for n in names):
                raise ConfigError(f"{where}: `columns.{field_name}` must be a column name or a list of names")
            mapping.append((str(field_name), names))
        kwargs["columns"] = tuple(mapping)
    settings = EventsSettings(**kwargs)  # type: ignore[arg-type]
    if settings.max_age_days is not None and settings.retention_days <= settings.max_age_days:
        raise ConfigError(
            f"{where}: `retention_days` ({settings.retention_days:g}) must be longer than `max_age_days` "
            f"({settings.max_age_days:g})",
            resolution="An event the journal forgets must be one Pinterest no longer accepts; raise retention_days.",
        )
    return settings


def _file_state(data: Mapping[str, object], where: str, config_file: Path | None) -> str | None:
    """The file's `state` (a directory, relative to the file, or a PostgreSQL URL); `state_dir` is its older name."""
    if "state" in data and "state_dir" in data:
        raise ConfigError(f"{where} sets both `state` and `state_dir`", resolution="Keep `state` only.")
    name = "state" if "state" in data else "state_dir" if "state_dir" in data else None
    if name is None:
        return None
    text = as_str(data[name], name, where)
    if is_postgres_url(text):
        return text.strip()
    return str(as_path(text, name, where, config_file.parent if config_file else None))


MAX_NAMES_SHOWN = 20
"""An error about audience names lists at most this many of the file's names (and says how many there are)."""


def table_label(table: Mapping[str, object], defaults: Mapping[str, object]) -> str:
    """An `[[audience]]` table's name, as `AudienceSettings.label` will read it once loaded."""
    merged = {**defaults, **table}
    keys = ("name", "audience_name", "list_name", "audience_id", "customer_list_id")
    return audience_label(*(table.get(k) if k == "name" else merged.get(k) for k in keys))


def names_text(names: list[str]) -> str:
    """`N audiences: a, b, c` (at most MAX_NAMES_SHOWN names, then how many more)."""
    shown = ", ".join(repr(n) for n in names[:MAX_NAMES_SHOWN])
    more = f" and {len(names) - MAX_NAMES_SHOWN} more" if len(names) > MAX_NAMES_SHOWN else ""
    return f"{len(names)} audience{'' if len(names) == 1 else 's'}: {shown}{more}" if names else "no audiences"


def check_unique_names(names: list[str], where: str) -> None:
    """Names that select audiences must tell them apart; ConfigError naming the ones given twice."""
    twice = [name for name, count in Counter(names).items() if count > 1]
    if twice:
        repeated = ", ".join(repr(n) for n in twice)
        raise ConfigError(
            f"{where}: several audiences are named {repeated}, so a name cannot select one",
            resolution="Give each [[audience]] table a distinct `name` key (it overrides the list and audience names "
            "as the audience's name in the file).",
        )


def select_audiences(
    tables: list[dict[str, object]], defaults: Mapping[str, object], wanted: tuple[str, ...], where: str
) -> list[dict[str, object]]:
    """The `[[audience]]` tables named in `wanted` (`sync --audience NAME`), in the file's order."""
    names = [table_label(t, defaults) for t in tables]
    check_unique_names(names, where)
    missing = [w for w in dict.fromkeys(wanted) if w not in names]
    if missing:
        listed = ", ".join(repr(m) for m in missing)
        raise ConfigError(
            f"{where}: no audience named {listed}; the file defines {names_text(names)}",
            resolution="Name an audience of the file (`pinaudience audiences --config FILE` lists them): its `name`, "
            "else its `audience_name`, else its `list_name`, else its audience or customer list id.",
        )
    return [t for t, n in zip(tables, names, strict=True) if n in wanted]


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


def _pinterest_settings(data: dict[str, object], env: Mapping[str, str], where: str) -> PinterestSettings:
    if "ad_account_id" not in data:
        raise ConfigError(
            "the ad account id is missing",
            resolution="Pass --ad-account-id or set ad_account_id under [pinterest] in the config file.",
        )
    ad_account_id = as_id(data["ad_account_id"], "ad_account_id", where)
    api_base = data.get("api_base") or env.get(ENV_API_URI) or limits.DEFAULT_API_BASE
    api_base = as_str(api_base, "api_base", where).rstrip("/")
    if not api_base.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: `api_base` must be an http(s) URL")
    credentials = Credentials(
        access_token=as_secret(data.get("access_token") or env.get(ENV_ACCESS_TOKEN), "access_token", where),
        refresh_token=as_secret(data.get("refresh_token") or env.get(ENV_REFRESH_TOKEN), "refresh_token", where),
        app_id=as_str(data.get("app_id") or env.get(ENV_APP_ID) or "", "app_id", where) or None,
        app_secret=as_secret(data.get("app_secret") or env.get(ENV_APP_SECRET), "app_secret", where),
        conversion_token=as_secret(
            data.get("conversion_token") or env.get(ENV_CONVERSION_TOKEN), "conversion_token", where
        ),
        token_store=_token_store(data.get("token_store"), where),
    )
    kwargs: dict[str, object] = {}
    if "ads_write_limit" in data:
        kwargs["ads_write_limit"] = as_rate(data["ads_write_limit"], "ads_write_limit", where)
    if "ads_read_limit" in data:
        kwargs["ads_read_limit"] = as_rate(data["ads_read_limit"], "ads_read_limit", where)
    for key in ("per_second", "max_attempts", "writes_in_flight", "writes_in_flight_per_list"):
        if key in data:
            kwargs[key] = as_int(data[key], key, where)
    kwargs.update(_rate_limit_settings(data, env, where))
    for key in ("timeout_s", "max_retry_s"):
        if key in data:
            number = as_float(data[key], key, where)
            if number <= 0:
                raise ConfigError(f"{where}: `{key}` must be positive")
            kwargs[key] = number
    return PinterestSettings(
        ad_account_id=ad_account_id,
        credentials=credentials,
        api_base=api_base,
        **kwargs,  # type: ignore[arg-type]
    )


def _token_store(value: object, where: str) -> Path | str:
    """A `postgresql://` URL as given, else a path (from a flag or the file; `~` expanded), else the default file."""
    if not value:
        return default_token_store()
    if isinstance(value, str) and is_postgres_url(value.strip()):
        return value.strip()
    return as_path(value, "token_store", where, None)


RATE_LIMIT_URL_SCHEMES = ("redis://", "rediss://", "unix://")


def _rate_limit_settings(data: Mapping[str, object], env: Mapping[str, str], where: str) -> dict[str, object]:
    """`rate_limit_url` (file or flag, else PINAUDIENCE_RATE_LIMIT_URL) and `rate_limit_scope`, checked."""
    out: dict[str, object] = {}
    url = as_secret(data.get("rate_limit_url") or env.get(ENV_RATE_LIMIT_URL), "rate_limit_url", where)
    if url is not None:
        if not url.reveal().startswith(RATE_LIMIT_URL_SCHEMES):
            raise ConfigError(
                f"{where}: `rate_limit_url` must be a Redis URL, got {redact_url(url.reveal())!r}",
                resolution="Give a URL such as redis://:PASSWORD@HOST:6379/0 (rediss:// for TLS).",
            )
        out["rate_limit_url"] = url
    if data.get("rate_limit_scope") is not None:
        scope = as_str(data["rate_limit_scope"], "rate_limit_scope", where)
        if not RATE_LIMIT_SCOPE_PATTERN.match(scope):
            raise ConfigError(
                f"{where}: `rate_limit_scope` must be 1 to 200 letters, digits or the characters _ . : @ = -"
            )
        out["rate_limit_scope"] = scope
    return out


def _audience_settings(data: dict[str, object], where: str, *, base_dir: Path | None) -> AudienceSettings:
    kwargs: dict[str, object] = {}
    if data.get("input") is not None:
        kwargs["input"] = as_path(data["input"], "input", where, base_dir)
    for key in ("name", "list_name", "audience_name", "column"):
        if data.get(key) is not None:
            text = as_str(data[key], key, where)
            if not text:
                raise ConfigError(f"{where}: `{key}` must not be empty")
            kwargs[key] = text
    for key in ("audience_id", "customer_list_id"):
        if data.get(key) is not None:
            kwargs[key] = as_id(data[key], key, where)
    if data.get("mode") is not None:
        mode_text = as_str(data["mode"], "mode", where).lower()
        kwargs["mode"] = SyncMode.MIRROR if mode_text == "replace" else as_enum(SyncMode, mode_text, "mode", where)
    if data.get("id_type") is not None:
        kwargs["id_type"] = as_enum(IdType, data["id_type"], "id_type", where)
    if data.get("hash") is not None:
        kwargs["hash"] = as_enum(HashAlgorithm, data["hash"], "hash", where)
    if data.get("batch_size") is not None:
        batch = as_int(data["batch_size"], "batch_size", where)
        if batch > limits.MAX_RECORDS_PER_REQUEST:
            raise ConfigError(
                f"{where}: `batch_size` must be at most {limits.MAX_RECORDS_PER_REQUEST:,}, got {batch:,}"
            )
        kwargs["batch_size"] = batch
    if data.get("sample") is not None:
        kwargs["sample"] = as_int(data["sample"], "sample", where)
    for key in ("dry_run", "full"):
        if data.get(key) is not None:
            kwargs[key] = as_bool(data[key], key, where)
    if data.get("max_remove_fraction") is not None:
        fraction = as_float(data["max_remove_fraction"], "max_remove_fraction", where)
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
