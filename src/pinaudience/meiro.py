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
| `batch_size`, `max_remove_fraction`, `dry_run`, `api_base`, `state_dir` | as the CLI flags |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pinaudience.config import Overrides, Settings, load_settings
from pinaudience.errors import ConfigError, InputError
from pinaudience.identifiers.types import HashAlgorithm

INPUT_TABLE = "customers.csv"
REPORT_TABLE = "pinterest_audience_report.csv"
REPORT_FILE = "pinterest_audience_report.json"

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
    "state_dir",
    "api_base",
    "dry_run",
    "max_remove_fraction",
}


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


def settings_from_parameters(parameters: Mapping[str, object], paths: ComponentPaths) -> Settings:
    """Apply Meiro's rules and map the parameters onto Settings (which validates each value)."""
    unknown = sorted(set(parameters) - KNOWN_PARAMETERS)
    if unknown:
        raise ConfigError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in config.json",
            resolution=f"Known parameters: {', '.join(sorted(KNOWN_PARAMETERS))}.",
        )

    def text(name: str) -> str | None:
        value = parameters.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(f"parameter `{name}` must be a string")
        return str(value).strip()

    def flag(name: str) -> bool | None:
        value = parameters.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            return value.strip().lower() == "true"
        raise ConfigError(f"parameter `{name}` must be true or false")

    ad_account_id = text("ad_account_id")
    if ad_account_id is None:
        raise ConfigError(
            "parameter `ad_account_id` is required", resolution="Set it to the Pinterest ad account id (digits)."
        )
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

    def number(name: str) -> float | None:
        value = parameters.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"parameter `{name}` must be a number")
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"parameter `{name}` must be a number, got {value!r}") from None

    batch_size = number("batch_size")
    if batch_size is not None and not batch_size.is_integer():
        raise ConfigError(f"parameter `batch_size` must be a whole number, got {batch_size}")
    fraction = number("max_remove_fraction")
    state_dir = Path(text("state_dir") or paths.default_state_dir)
    overrides = Overrides(
        ad_account_id=ad_account_id,
        api_base=text("api_base"),
        state_dir=state_dir,
        token_store=state_dir / "tokens.json",
        input=paths.input_table,
        list_name=None if audience_id else audience_name,
        audience_name=None if audience_id else audience_name,
        audience_id=audience_id,
        mode=operation or "replace",
        id_type=text("id_type"),
        column=text("column"),
        hash=algorithm,
        batch_size=int(batch_size) if batch_size is not None else None,
        max_remove_fraction=float(fraction) if fraction is not None else None,
        dry_run=flag("dry_run"),
    )
    env: dict[str, str] = {}
    for param, env_name in (
        ("#access_token", "PINTEREST_ACCESS_TOKEN"),
        ("#refresh_token", "PINTEREST_REFRESH_ACCESS_TOKEN"),
        ("app_id", "PINTEREST_APP_ID"),
        ("#app_secret", "PINTEREST_APP_SECRET"),
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


def load_component_settings(data_dir: Path) -> Settings:
    """Read and validate a component's config and check that its input table exists."""
    paths = ComponentPaths(data_dir)
    settings = settings_from_parameters(read_parameters(paths), paths)
    if not paths.input_table.is_file():
        tables = sorted(p.name for p in paths.input_table.parent.glob("*")) if paths.input_table.parent.is_dir() else []
        found = f"found: {', '.join(tables)}" if tables else "the folder is empty or missing"
        raise InputError(
            f"input table {paths.input_table} does not exist ({found})",
            resolution=f"Map the segment export to the input table {INPUT_TABLE}.",
        )
    return settings


__all__ = [
    "ComponentPaths",
    "load_component_settings",
    "read_parameters",
    "settings_from_parameters",
]
