"""The Meiro Integration loader component contract.

A Meiro (Keboola-style) component reads `/data/config.json` (`{"parameters": {...}}`, keys starting
with `#` are secrets), its input table from `/data/in/tables/`, and writes output tables to
`/data/out/tables/` and files to `/data/out/files/`. Exit codes: 0 success, 1 user error, 2 internal.

Parameters (Meiro's Pinterest loader names first, then ours):

| parameter | meaning |
|---|---|
| `#access_token` | Pinterest access token |
| `ad_account_id` | required, digits, at most 18 |
| `hash_customer_id` | bool, default true; false sends emails as lowercased plain text (pre-hashed values pass) |
| `audience_name` | names the customer list and the audience to find or create (required without `audience_id`) |
| `audience_id` | an existing CUSTOMER_LIST audience; its list is the one changed |
| `audience_operation` | `add`, `remove` or `replace` (mirror); required with `audience_id`, default `replace` |
| `#refresh_token`, `app_id`, `#app_secret` | a refresh token and its app, instead of an access token |
| `id_type` | `email` (default), `maid`, `idfa` |
| `column` | the identifier column, detected when absent |
| `hash_algorithm` | `sha256` (default), `sha1`, `md5` when hashing is on |
| `batch_size`, `max_remove_fraction`, `dry_run`, `api_base` | as the CLI flags |
| `state` | `--state`: a directory (default `/data/state`) or a `postgresql://user@host/db` URL (or `state_dir`) |
| `#state_password` | the PostgreSQL password, merged into the `state` URL (so the URL itself need not be secret) |
| `rate_limit_url` | a Redis URL (`redis://HOST:6379/0`): one rate-limit budget for every worker of the user and app |
| `#rate_limit_password` | that Redis's password, merged into the URL (keep it out of `rate_limit_url` itself) |
| `rate_limit_scope` | who shares that budget (default: from the app id and the refresh or access token) |
| `loader` | `audience` (default): the customer list loader above; `events`: the conversion events loader below |

The events loader (`loader: "events"`) sends the input table `events.csv` (or the table `input_table` names) to
Pinterest's Conversions API, each event once (`pinaudience.engine.conversions`, docs/events.md). Its parameters:
`ad_account_id`, the credentials above or `#conversion_token`, `event_name` and `action_source` (defaults for rows
without them), `columns` (an object: field to column name, or list of names), `test` (Pinterest's test mode),
`batch_size`, `retention_days`, `max_age_days`, `state` (the journal lives there), `api_base`, and the rate-limit
parameters. It writes `pinterest_events_report.csv` (one row) and `.json` as the audience loader writes its
report, and the rejected rows (`row,reason`) to `/data/out/tables/pinterest_events_rejects.csv`.

A run (`run_component`; the `pinaudience component` command, the Docker image's entry point): read and
check the parameters, sync, then write the report as one row to
`/data/out/tables/pinterest_audience_report.csv` and as JSON to
`/data/out/files/pinterest_audience_report.json`, also when the run fails. Logs go through `logging`
(the command sends them to stdout); exit code 0 on success, 1 for an error the user can fix, 2 for a bug.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from pinaudience.clock import Clock
from pinaudience.config import (
    ENV_ACCESS_TOKEN,
    ENV_APP_ID,
    ENV_APP_SECRET,
    ENV_CONVERSION_TOKEN,
    ENV_REFRESH_TOKEN,
    Overrides,
    Settings,
    events_settings,
    load_settings,
)
from pinaudience.config.values import as_bool, as_float, as_str
from pinaudience.engine.conversions import EventsRunReport, send_events_file
from pinaudience.engine.events import SyncObserver
from pinaudience.engine.report import AudienceReport, ErrorInfo
from pinaudience.engine.sync import sync
from pinaudience.errors import ConfigError, InputError, PinaudienceError
from pinaudience.identifiers.types import HashAlgorithm
from pinaudience.support.files import write_atomic
from pinaudience.support.paths import is_postgres_url
from pinaudience.support.redact import url_secrets, with_password
from pinaudience.support.secret import Secret

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("pinaudience.integrations.meiro")

T = TypeVar("T")

INPUT_TABLE = "customers.csv"
REPORT_TABLE = "pinterest_audience_report.csv"
REPORT_FILE = "pinterest_audience_report.json"
EVENTS_INPUT_TABLE = "events.csv"
EVENTS_REPORT_TABLE = "pinterest_events_report.csv"
EVENTS_REPORT_FILE = "pinterest_events_report.json"
EVENTS_REJECTS_TABLE = "pinterest_events_rejects.csv"
LOADERS = ("audience", "events")

KNOWN_PARAMETERS = {
    "#access_token",
    "ad_account_id",
    "hash_customer_id",
    "audience_name",
    "audience_id",
    "audience_operation",
    "#refresh_token",
    "app_id",
    "#app_secret",
    "id_type",
    "column",
    "hash_algorithm",
    "batch_size",
    "state",
    "state_dir",
    "#state_password",
    "api_base",
    "dry_run",
    "max_remove_fraction",
    "rate_limit_url",
    "#rate_limit_password",
    "rate_limit_scope",
    "loader",
}
EVENTS_PARAMETERS = {
    "#access_token",
    "ad_account_id",
    "#refresh_token",
    "app_id",
    "#app_secret",
    "#conversion_token",
    "state",
    "state_dir",
    "#state_password",
    "api_base",
    "rate_limit_url",
    "#rate_limit_password",
    "rate_limit_scope",
    "loader",
    "input_table",
    "event_name",
    "action_source",
    "columns",
    "test",
    "batch_size",
    "retention_days",
    "max_age_days",
}
"""The events loader's parameters (`loader: "events"`)."""


@dataclass(frozen=True)
class ComponentPaths:
    """Where a component run reads and writes, under one data directory."""

    data_dir: Path

    @property
    def config(self) -> Path:
        return self.data_dir / "config.json"

    @property
    def input_table(self) -> Path:
        return self.data_dir / "in" / "tables" / INPUT_TABLE

    @property
    def report_table(self) -> Path:
        return self.data_dir / "out" / "tables" / REPORT_TABLE

    @property
    def report_file(self) -> Path:
        return self.data_dir / "out" / "files" / REPORT_FILE

    def events_table(self, name: str | None) -> Path:
        return self.data_dir / "in" / "tables" / (name or EVENTS_INPUT_TABLE)

    @property
    def events_rejects(self) -> Path:
        return self.data_dir / "out" / "tables" / EVENTS_REJECTS_TABLE

    @property
    def default_state_dir(self) -> Path:
        return self.data_dir / "state"


def read_parameters(paths: ComponentPaths) -> dict[str, object]:
    """The `parameters` object of config.json; any problem is a ConfigError naming the file."""
    try:
        raw = json.loads(paths.config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{paths.config} does not exist", resolution="Mount the component's data directory."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{paths.config} cannot be read ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{paths.config} is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("parameters"), dict):
        raise ConfigError(f'{paths.config} must hold an object {{"parameters": {{...}}}}')
    parameters: dict[str, object] = raw["parameters"]
    return parameters


def loader_of(parameters: Mapping[str, object]) -> str:
    """`audience` or `events`: which loader the `loader` parameter selects."""
    loader = parameters.get("loader") or "audience"
    if loader not in LOADERS:
        raise ConfigError(
            f"parameter `loader` must be one of {', '.join(LOADERS)}", resolution="Leave it out for audiences."
        )
    return str(loader)


def settings_from_parameters(parameters: Mapping[str, object], paths: ComponentPaths) -> Settings:
    """Apply Meiro's rules and map the parameters onto Settings (which validates each value)."""
    events = loader_of(parameters) == "events"
    known = EVENTS_PARAMETERS if events else KNOWN_PARAMETERS
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ConfigError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in config.json",
            resolution=f"Known parameters: {', '.join(sorted(known))}.",
        )

    def coerced(name: str, coerce: Callable[[object, str, str], T], *, blank_is_absent: bool = False) -> T | None:
        """The parameter through config's coercer (None when absent); its error names the parameter."""
        value = parameters.get(name)
        if value is None or (blank_is_absent and isinstance(value, str) and not value.strip()):
            return None
        try:
            return coerce(value, name, "config.json")
        except ConfigError as exc:
            raise ConfigError(f"parameter {exc.message.removeprefix('config.json: ')}") from None

    def text(name: str) -> str | None:
        return coerced(name, as_str, blank_is_absent=True)

    def flag(name: str) -> bool | None:
        return coerced(name, as_bool)

    def number(name: str) -> float | None:
        return coerced(name, as_float)

    ad_account_id = text("ad_account_id")
    if ad_account_id is None:
        raise ConfigError(
            "parameter `ad_account_id` is required", resolution="Set it to the Pinterest ad account id (digits)."
        )
    if events:
        return _events_settings(parameters, paths, ad_account_id, text)
    audience_id = text("audience_id")
    audience_name = text("audience_name")
    operation = text("audience_operation")
    if audience_id is not None and operation is None:
        raise ConfigError(
            "parameter `audience_operation` is required with `audience_id`",
            resolution="Set it to add, remove or replace.",
        )
    if audience_id is None and audience_name is None:
        raise ConfigError(
            "parameter `audience_name` is required when `audience_id` is not given",
            resolution="Name the audience to find or create, or give the id of an existing one.",
        )
    if operation is not None and operation.lower() not in {"add", "remove", "replace"}:
        raise ConfigError(f"parameter `audience_operation` must be add, remove or replace, got {operation!r}")

    hash_on = flag("hash_customer_id")
    algorithm = text("hash_algorithm")
    if hash_on is False:
        if algorithm is not None and algorithm.lower() != HashAlgorithm.NONE.value:
            raise ConfigError("parameter `hash_algorithm` contradicts `hash_customer_id: false`")
        algorithm = HashAlgorithm.NONE.value

    batch_size = number("batch_size")
    if batch_size is not None and not batch_size.is_integer():
        raise ConfigError(f"parameter `batch_size` must be a whole number, got {batch_size}")
    fraction = number("max_remove_fraction")
    state = _state(text("state"), text("state_dir"), text("#state_password"), paths)
    overrides = Overrides(
        ad_account_id=ad_account_id,
        api_base=text("api_base"),
        state=state,
        token_store=state if is_postgres_url(state) else Path(state) / "tokens.json",  # tokens beside the state
        input=paths.input_table,
        list_name=None if audience_id else audience_name,
        audience_name=None if audience_id else audience_name,
        audience_id=audience_id,
        mode=operation or "replace",
        id_type=text("id_type"),
        column=text("column"),
        hash=algorithm,
        batch_size=int(batch_size) if batch_size is not None else None,
        max_remove_fraction=fraction,
        dry_run=flag("dry_run"),
        rate_limit_url=_rate_limit_url(text("rate_limit_url"), text("#rate_limit_password")),
        rate_limit_scope=text("rate_limit_scope"),
    )
    env: dict[str, str] = {}
    for param, env_name in (
        ("#access_token", ENV_ACCESS_TOKEN),
        ("#refresh_token", ENV_REFRESH_TOKEN),
        ("app_id", ENV_APP_ID),
        ("#app_secret", ENV_APP_SECRET),
    ):
        value = text(param)
        if value is not None:
            env[env_name] = value
    settings = load_settings(overrides=overrides, env=env)
    creds = settings.pinterest.credentials
    if not creds.access_token and not creds.can_refresh:
        raise ConfigError(
            "no Pinterest credentials: give `#access_token`, or `#refresh_token` with `app_id` and `#app_secret`"
        )
    return settings


def _events_settings(
    parameters: Mapping[str, object], paths: ComponentPaths, ad_account_id: str, text: Callable[[str], str | None]
) -> Settings:
    """The events loader's settings: the connection as for audiences, and one events table."""
    state = _state(text("state"), text("state_dir"), text("#state_password"), paths)
    overrides = Overrides(
        ad_account_id=ad_account_id,
        api_base=text("api_base"),
        state=state,
        token_store=state if is_postgres_url(state) else Path(state) / "tokens.json",
        rate_limit_url=_rate_limit_url(text("rate_limit_url"), text("#rate_limit_password")),
        rate_limit_scope=text("rate_limit_scope"),
    )
    env: dict[str, str] = {}
    for param, env_name in (
        ("#access_token", ENV_ACCESS_TOKEN),
        ("#refresh_token", ENV_REFRESH_TOKEN),
        ("app_id", ENV_APP_ID),
        ("#app_secret", ENV_APP_SECRET),
        ("#conversion_token", ENV_CONVERSION_TOKEN),
    ):
        value = text(param)
        if value is not None:
            env[env_name] = value
    table = {
        key: parameters[key]
        for key in ("event_name", "action_source", "columns", "test", "batch_size", "retention_days", "max_age_days")
        if parameters.get(key) is not None
    }
    table["input"] = str(paths.events_table(text("input_table")))
    table["rejects"] = str(paths.events_rejects)
    settings = load_settings(overrides=overrides, env=env)
    spec = events_settings(table, "config.json", base_dir=None)
    creds = settings.pinterest.credentials
    if not creds.access_token and not creds.can_refresh and not creds.conversion_token:
        raise ConfigError(
            "no Pinterest credentials: give `#conversion_token`, `#access_token`, or `#refresh_token` with `app_id` "
            "and `#app_secret`"
        )
    return dataclasses.replace(settings, events=(spec,))


def _rate_limit_url(url: str | None, password: str | None) -> Secret | None:
    """`rate_limit_url` with the `#rate_limit_password` secret as its password (`redis://:PASSWORD@HOST...`)."""
    if url is None:
        if password is not None:
            raise ConfigError("parameter `#rate_limit_password` is given without `rate_limit_url`")
        return None
    if password is None:
        return Secret(url)
    parts = urlsplit(url)
    if "@" in parts.netloc and parts.password is not None:
        raise ConfigError(
            "parameter `rate_limit_url` already holds a password, and `#rate_limit_password` gives another",
            resolution="Keep the password in `#rate_limit_password` only, and the URL without it.",
        )
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return Secret(urlunsplit(parts._replace(netloc=netloc)))


def _state(state: str | None, state_dir: str | None, password: str | None, paths: ComponentPaths) -> str:
    """The state location: `state` (or its older name `state_dir`), with `#state_password` merged into a URL."""
    if state is not None and state_dir is not None:
        raise ConfigError("parameters `state` and `state_dir` are both set", resolution="Keep `state` only.")
    location = state or state_dir or str(paths.default_state_dir)
    if password is None:
        return location
    if not is_postgres_url(location):
        raise ConfigError(
            "parameter `#state_password` needs a PostgreSQL `state` (postgresql://user@host/db)",
            resolution="Set `state` to the PostgreSQL URL, or leave `#state_password` out.",
        )
    try:
        return with_password(location, password)
    except ValueError:
        raise ConfigError(
            "parameter `state` names no user for `#state_password`",
            resolution="Write the user into the URL: postgresql://user@host/db.",
        ) from None


def load_component_settings(data_dir: Path) -> Settings:
    """Read and validate a component's config and check that its input table exists."""
    paths = ComponentPaths(data_dir)
    settings = settings_from_parameters(read_parameters(paths), paths)
    table = settings.events[0].input if settings.events else paths.input_table
    assert table is not None
    if not table.is_file():
        tables = sorted(p.name for p in table.parent.glob("*")) if table.parent.is_dir() else []
        found = f"found: {', '.join(tables)}" if tables else "the folder is empty or missing"
        raise InputError(
            f"input table {table} does not exist ({found})",
            resolution=f"Map the export to the input table {table.name}.",
        )
    return settings


# --- the run -------------------------------------------------------------------------------------------

EXIT_OK, EXIT_USER_ERROR, EXIT_INTERNAL_ERROR = 0, 1, 2


@dataclass(frozen=True)
class ComponentResult:
    """What a component run did: its report (also written to `/data/out`) and the exit code it calls for."""

    report: AudienceReport
    exit_code: int
    events: EventsRunReport | None = None
    """The events loader's report (`loader: "events"`); `report` is then empty."""

    @property
    def error(self) -> ErrorInfo | None:
        return self.events.error if self.events is not None else self.report.error


def secret_parameters(data_dir: Path) -> list[str]:
    """The values of config.json's `#` parameters, so the caller can scrub its logs of them; [] if unreadable."""
    try:
        parameters = read_parameters(ComponentPaths(data_dir))
    except ConfigError:
        return []
    found = [str(v) for k, v in parameters.items() if k.startswith("#") and isinstance(v, str) and v]
    url = parameters.get("rate_limit_url")
    return found + (url_secrets(url) if isinstance(url, str) else [])


def report_row(report: AudienceReport | EventsRunReport) -> dict[str, Any]:
    """The report as one flat table row: nested values as JSON, the error as four `error_*` columns."""
    data = report.to_dict()
    error = data.pop("error") or {}
    row: dict[str, Any] = {}
    for key, value in data.items():
        row[key] = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
    for key in ("kind", "message", "resolution", "request_id"):
        row[f"error_{key}"] = error.get(key)
    return row


def write_outputs(paths: ComponentPaths, report: AudienceReport | EventsRunReport) -> None:
    """The report as a one-row CSV table and a JSON file; a folder that cannot be written is a ConfigError."""
    row = report_row(report)
    events = isinstance(report, EventsRunReport)
    table = paths.report_table.with_name(EVENTS_REPORT_TABLE) if events else paths.report_table
    file = paths.report_file.with_name(EVENTS_REPORT_FILE) if events else paths.report_file
    document = json.dumps(report.to_dict(), indent=2, default=str)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(row), lineterminator="\n")
    writer.writeheader()
    writer.writerow({k: "" if v is None else v for k, v in row.items()})
    try:
        for path, text in ((table, buffer.getvalue()), (file, document + "\n")):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text, durable=False)  # a rerun writes it again
    except OSError as exc:
        raise ConfigError(
            f"cannot write the report to {paths.data_dir / 'out'} ({exc.strerror})",
            resolution="Mount the component's data directory writable for the container's user.",
        ) from None


def _describe(settings: Settings) -> str:
    (audience,) = settings.audiences
    target = f"audience {audience.audience_id}" if audience.audience_id else f"list and audience {audience.list_name!r}"
    return (
        f"ad account {settings.pinterest.ad_account_id}, {target}, mode {audience.mode.value}, "
        f"id type {audience.id_type.value}, hash {audience.hash.value}"
        + (", dry run" if audience.dry_run else "")
        + f", state {settings.state_location}"
    )


def run_component(
    data_dir: Path,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    observer: SyncObserver | None = None,
) -> ComponentResult:
    """Run the component on `data_dir`: settings from config.json, sync, report to `out/`; never raises a user error.

    A bug (anything but a PinaudienceError) is reported as `internal_error` in the written report, then
    raised for the caller to turn into exit code 2.
    """
    paths = ComponentPaths(Path(data_dir))
    try:
        if loader_of(read_parameters(paths)) == "events":
            return _run_events(paths, transport=transport, clock=clock, observer=observer)
    except ConfigError:
        pass  # the audience loader's run reports it
    report = AudienceReport()
    try:
        settings = load_component_settings(paths.data_dir)
        log.info("pinaudience component: %s", _describe(settings))
        run = sync(settings, transport=transport, clock=clock, observer=observer)
        report = run.audiences[0]
    except PinaudienceError as exc:
        report.fail(exc)
    except Exception as exc:
        report.fail(exc)
        _write_quietly(paths, report)
        raise
    try:
        write_outputs(paths, report)
        log.info("report written to %s and %s", paths.report_table, paths.report_file)
    except ConfigError as exc:
        if report.error is None:
            report.fail(exc)
        log.warning("%s", exc.message)
    if report.error is None:
        return ComponentResult(report, EXIT_OK)
    code = EXIT_INTERNAL_ERROR if report.error.kind == "internal_error" else EXIT_USER_ERROR
    return ComponentResult(report, code)


def _run_events(
    paths: ComponentPaths,
    *,
    transport: httpx.AsyncBaseTransport | None,
    clock: Clock | None,
    observer: SyncObserver | None,
) -> ComponentResult:
    """The events loader: send the events table, write its report and rejects; exit codes as for audiences."""
    report = EventsRunReport(name="events")
    try:
        settings = load_component_settings(paths.data_dir)
        (spec,) = settings.events
        report = EventsRunReport(name=spec.label, input=str(spec.input))
        paths.events_rejects.parent.mkdir(parents=True, exist_ok=True)
        log.info(
            "pinaudience events component: ad account %s, state %s",
            settings.pinterest.ad_account_id,
            settings.state_location,
        )
        report = send_events_file(settings, spec, transport=transport, clock=clock, observer=observer)
    except PinaudienceError as exc:
        report.fail(exc)
    except Exception as exc:
        report.fail(exc)
        _write_quietly(paths, report)
        raise
    _write_quietly(paths, report)
    if report.error is None:
        return ComponentResult(AudienceReport(), EXIT_OK, events=report)
    code = EXIT_INTERNAL_ERROR if report.error.kind == "internal_error" else EXIT_USER_ERROR
    return ComponentResult(AudienceReport(), code, events=report)


def _write_quietly(paths: ComponentPaths, report: AudienceReport | EventsRunReport) -> None:
    try:
        write_outputs(paths, report)
    except ConfigError as exc:
        log.warning("%s", exc.message)


__all__ = [
    "ComponentPaths",
    "ComponentResult",
    "load_component_settings",
    "read_parameters",
    "report_row",
    "run_component",
    "secret_parameters",
    "settings_from_parameters",
    "write_outputs",
]
