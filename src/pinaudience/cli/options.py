"""Options shared by several commands, and how a command turns its flags into settings.

Precedence is `pinaudience.config.load_settings`'s: the TOML file < flags; the environment (Pinterest
SDK names) fills only secrets and the API base that neither sets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated

import typer

from pinaudience.cli.logs import LogFormat, logging_to
from pinaudience.config import (
    ENV_ACCESS_TOKEN,
    ENV_APP_SECRET,
    ENV_CONVERSION_TOKEN,
    ENV_RATE_LIMIT_URL,
    ENV_REFRESH_TOKEN,
    Overrides,
    PinterestSettings,
    Settings,
    load_settings,
    read_toml,
)
from pinaudience.support.paths import ENV_STATE
from pinaudience.support.redact import url_secrets

NO_AD_ACCOUNT = "0"
"""Stands in for the ad account in commands that never name one (`auth`); never sent to Pinterest."""

# --- connection ---------------------------------------------------------------------------------------

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="A TOML file with \\[pinterest] and any number of \\[\\[audience]] tables; flags override it.",
        show_default=False,
        rich_help_panel="Connection",
    ),
]
AdAccountOpt = Annotated[
    str | None,
    typer.Option(
        "--ad-account-id",
        help="The ad account owning the lists (digits, from the Ads Manager URL).",
        show_default=False,
        rich_help_panel="Connection",
    ),
]
RateLimitUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--rate-limit-url",
        metavar="REDIS_URL",
        help="Share Pinterest's rate limits with every worker using the same user and app through this Redis "
        "(redis://:PASSWORD@HOST:6379/0); prefer PINAUDIENCE_RATE_LIMIT_URL, which no process listing shows.",
        show_default=False,
        rich_help_panel="Connection",
    ),
]
ApiBaseOpt = Annotated[
    str | None,
    typer.Option(
        "--api-base",
        help="The API's base URL (default https://api.pinterest.com/v5, or PINTEREST_API_URI); the emulator's here.",
        show_default=False,
        rich_help_panel="Connection",
    ),
]
TokenStoreOpt = Annotated[
    str | None,
    typer.Option(
        "--token-store",
        help="Where the tokens of `auth login` and every rotated refresh token are kept: a file (mode 0600), or a "
        "postgresql:// URL shared by every worker (default: the PostgreSQL state, else a file).",
        show_default=False,
        rich_help_panel="Connection",
    ),
]
StateOpt = Annotated[
    str | None,
    typer.Option(
        "--state",
        "--state-dir",
        metavar="DIR|URL",
        help="Where pinaudience keeps what Pinterest confirmed each list holds: a directory, or a "
        "postgresql://user@host/db URL shared by every worker (or PINAUDIENCE_STATE). Keep it between runs.",
        show_default=False,
        rich_help_panel="Connection",
    ),
]

# --- destination --------------------------------------------------------------------------------------

ListNameOpt = Annotated[
    str | None,
    typer.Option(
        "--list-name",
        help="Find the newest customer list with this name, or create it.",
        show_default=False,
        rich_help_panel="Destination",
    ),
]
AudienceNameOpt = Annotated[
    str | None,
    typer.Option(
        "--audience-name",
        help="Name of the audience on the list (default: the list's name).",
        show_default=False,
        rich_help_panel="Destination",
    ),
]
AudienceIdOpt = Annotated[
    str | None,
    typer.Option(
        "--audience-id",
        help="An existing CUSTOMER_LIST audience; its customer list is the one changed.",
        show_default=False,
        rich_help_panel="Destination",
    ),
]
CustomerListIdOpt = Annotated[
    str | None,
    typer.Option(
        "--customer-list-id",
        help="An existing customer list, by id.",
        show_default=False,
        rich_help_panel="Destination",
    ),
]

AudienceSelectOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--audience",
        metavar="NAME",
        help="Only the config file's audience of this name (repeatable): one job per audience "
        "(`pinaudience audiences --config FILE` lists the names).",
        show_default=False,
        rich_help_panel="Destination",
    ),
]

# --- output -------------------------------------------------------------------------------------------

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the result as one JSON document on stdout.", rich_help_panel="Output")
]
ReportOpt = Annotated[
    Path | None,
    typer.Option(
        "--report",
        metavar="FILE",
        help="Write the JSON report here (also when the run fails).",
        show_default=False,
        rich_help_panel="Output",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress and no summary; errors and warnings only.", rich_help_panel="Output"
    ),
]
LogFormatOpt = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="Log lines as plain text or as JSON objects (on stderr; progress bars only on a terminal with plain).",
        case_sensitive=False,
        rich_help_panel="Output",
    ),
]


def env_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """The secrets the environment holds, so log lines can be scrubbed of them even before settings load."""
    env = os.environ if env is None else env
    names = (ENV_ACCESS_TOKEN, ENV_REFRESH_TOKEN, ENV_APP_SECRET, ENV_CONVERSION_TOKEN)
    found = [env[name] for name in names if env.get(name)]
    return found + url_secrets(env.get(ENV_STATE, "")) + url_secrets(env.get(ENV_RATE_LIMIT_URL, ""))


def settings_secrets(settings: Settings | PinterestSettings) -> list[str]:
    pinterest = settings.pinterest if isinstance(settings, Settings) else settings
    creds = pinterest.credentials
    held = (creds.access_token, creds.refresh_token, creds.app_secret, creds.conversion_token)
    found = [s.reveal() for s in held if s]
    if isinstance(creds.token_store, str):
        found += url_secrets(creds.token_store)
    return found + (url_secrets(pinterest.rate_limit_url.reveal()) if pinterest.rate_limit_url else [])


def load(config: Path | None, overrides: Overrides) -> Settings:
    """Settings from the file, the flags and the environment."""
    return load_settings(config, overrides=overrides, env=os.environ)


def load_connection(config: Path | None, overrides: Overrides) -> PinterestSettings:
    """The connection only, for commands that need no ad account (`auth`): a missing one is not an error."""
    has_account = overrides.ad_account_id is not None
    if not has_account and config is not None:
        table = read_toml(config).get("pinterest")
        has_account = isinstance(table, dict) and "ad_account_id" in table
    if not has_account:
        overrides = dataclasses.replace(overrides, ad_account_id=NO_AD_ACCOUNT)
    return load(config, overrides).pinterest


def log_level(quiet: bool) -> int:
    if os.environ.get("PINAUDIENCE_DEBUG"):
        return logging.DEBUG
    return logging.WARNING if quiet else logging.INFO


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


@contextlib.contextmanager
def logged_settings(config: Path | None, overrides: Overrides, log_format: LogFormat) -> Iterator[Settings]:
    """Logging to stderr set up first (so a config error is logged redacted), then the settings, whose secrets
    join the redactor's; the block that runs the command holds both."""
    with logging_to(stream=sys.stderr, fmt=log_format, level=log_level(True), secrets=env_secrets()) as redactor:
        settings = load(config, overrides)
        redactor.secrets.extend(settings_secrets(settings))
        yield settings
