"""`pinaudience state show|forget`: what pinaudience recorded about each customer list, and dropping it."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from pinaudience.cli.app import state_app
from pinaudience.cli.logs import logging_to
from pinaudience.cli.options import AdAccountOpt, ApiBaseOpt, ConfigOpt, JsonOpt, StateOpt, log_level
from pinaudience.cli.output import print_json, stdout_console
from pinaudience.config import read_toml
from pinaudience.errors import ConfigError, StateError
from pinaudience.support.paths import ENV_STATE, default_state_dir, is_postgres_url
from pinaudience.support.redact import redact_url

if TYPE_CHECKING:  # the state store (SQLite, file locks, Parquet) loads when a command opens it
    from pinaudience.state import ListInfo, StateBackend

ListArg = Annotated[
    str,
    typer.Argument(metavar="LIST", help="A customer list id, or a list name.", show_default=False),
]


def state_location(state: str | None, config: Path | None) -> str:
    """--state, else the config file's `state` (or `state_dir`), else PINAUDIENCE_STATE, else the user's state
    directory: a directory, or a PostgreSQL URL."""
    if state is not None and state.strip():
        return state.strip()
    if config is not None:
        data = read_toml(config)
        value = data.get("state", data.get("state_dir"))
        if isinstance(value, str) and value.strip():
            if is_postgres_url(value):
                return value.strip()
            path = Path(value.strip()).expanduser()
            return str(path if path.is_absolute() else config.parent / path)
    if os.environ.get(ENV_STATE, "").strip():
        return os.environ[ENV_STATE].strip()
    return str(default_state_dir())


def _matches(info: ListInfo, ref: str | None, api_base: str | None, ad_account_id: str | None) -> bool:
    if api_base is not None and info.ref.api_base != api_base.rstrip("/"):
        return False
    if ad_account_id is not None and info.ref.ad_account_id != ad_account_id:
        return False
    return ref is None or ref in (info.ref.customer_list_id, info.list_name)


def _date(at: float | None) -> str:
    return "-" if at is None else dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _card(i: ListInfo) -> Table:
    """One list as a small two-column block: narrow enough for any terminal."""
    title = Text(f"customer list {i.ref.customer_list_id}", style="bold")
    title.append(f" {i.list_name!r}" if i.list_name else "", style="")
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 2))
    table.add_column("what", style="dim")
    table.add_column("value")
    table.add_row("ad account", f"{i.ref.ad_account_id} at {i.ref.api_base}")
    table.add_row("type", i.list_type or "-")
    table.add_row("audience", Text(f"{i.audience_id} ({i.audience_name})" if i.audience_id else "-"))
    confirmed = f"{i.snapshot_count:,} in the snapshot"
    if i.acknowledged_batches:
        confirmed += f", and {i.acknowledged_batches} acknowledged batches not yet compacted"
    table.add_row("confirmed", confirmed)
    pending = f"{i.pending_records:,} records in {i.pending_batches} batches" if i.pending_batches else "none"
    table.add_row("outcome unknown", pending + (" (the next run resends them)" if i.pending_batches else ""))
    table.add_row("updated", f"{_date(i.updated_at)}, compacted {_date(i.compacted_at)}")
    return table


def info_dict(info: ListInfo) -> dict[str, object]:
    return {
        "api_base": info.ref.api_base,
        "ad_account_id": info.ref.ad_account_id,
        "customer_list_id": info.ref.customer_list_id,
        "list_name": info.list_name,
        "list_type": info.list_type,
        "audience_id": info.audience_id,
        "audience_name": info.audience_name,
        "confirmed_in_snapshot": info.snapshot_count,
        "acknowledged_batches": info.acknowledged_batches,
        "pending_batches": info.pending_batches,
        "pending_records": info.pending_records,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "compacted_at": info.compacted_at,
    }


def _open(location: str) -> StateBackend:
    """The store at `location`; a directory must already hold one: looking never creates a state directory.

    A PostgreSQL database is opened as a sync opens it (its tables are created on first use).
    """
    from pinaudience.state import open_state
    from pinaudience.state.store import DB_NAME

    if not is_postgres_url(location) and not (Path(location) / DB_NAME).is_file():
        raise StateError(
            f"there is no pinaudience state in {location}",
            resolution="Pass --state with the directory or PostgreSQL URL your syncs use (or --config with its state).",
        )
    return open_state(location)


@state_app.command("show")
def show(
    list_ref: Annotated[
        str | None,
        typer.Argument(metavar="[LIST]", help="Only this customer list (id or name).", show_default=False),
    ] = None,
    state: StateOpt = None,
    config: ConfigOpt = None,
    api_base: ApiBaseOpt = None,
    ad_account_id: AdAccountOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """List the customer lists the state directory knows: confirmed members, pending batches, audience.

    Examples:

    pinaudience state show --state /var/lib/pinaudience

    PGPASSWORD=... pinaudience state show --state postgresql://pinaudience@db.internal/cdp

    pinaudience state show "VIP customers" --json
    """
    location = state_location(state, config)
    shown = redact_url(location)
    with logging_to(stream=sys.stderr, level=log_level(True)), _open(location) as store:
        infos = [i for i in store.lists() if _matches(i, list_ref, api_base, ad_account_id)]
    if list_ref is not None and not infos:
        raise ConfigError(
            f"the state in {shown} holds no customer list {list_ref!r}",
            resolution="Run `pinaudience state show` to see the lists it holds.",
        )
    if json_output:
        print_json({"state": shown, "state_dir": shown, "lists": [info_dict(i) for i in infos]})
        return
    console = stdout_console()
    console.print(Text(f"pinaudience state: {shown}", style="bold"))
    for i in infos:
        console.print()
        console.print(_card(i))
    if not infos:
        console.print("no customer lists recorded yet")


@state_app.command("forget")
def forget(
    list_ref: ListArg,
    state: StateOpt = None,
    config: ConfigOpt = None,
    api_base: ApiBaseOpt = None,
    ad_account_id: AdAccountOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget what pinaudience recorded about one customer list (Pinterest is not touched).

    The next mirror to that list is a first mirror again: it adds every record and cannot remove members
    it no longer knows about. Use it when the list was deleted or changed by other tools. Takes the list's
    lock, so it fails while a sync of that list runs.

    Example:

    pinaudience state forget 4715834587 --state /var/lib/pinaudience --yes
    """
    location = state_location(state, config)
    with logging_to(stream=sys.stderr, level=log_level(True)), _open(location) as store:
        infos = [i for i in store.lists() if _matches(i, list_ref, api_base, ad_account_id)]
        if not infos:
            raise ConfigError(
                f"the state in {redact_url(location)} holds no customer list {list_ref!r}",
                resolution="Run `pinaudience state show` to see the lists it holds.",
            )
        if len(infos) > 1:
            raise ConfigError(
                f"{len(infos)} recorded lists match {list_ref!r}",
                resolution="Narrow it down with the list's id, --api-base or --ad-account-id "
                "(see `pinaudience state show`).",
            )
        (info,) = infos
        if not yes:
            if not sys.stdin.isatty():
                raise ConfigError("state forget asks for confirmation", resolution="Pass --yes to confirm.")
            typer.confirm(f"Forget the state of {info.ref}?", abort=True)
        ref = info.ref
        from pinaudience.state.store import list_target, lock_key

        # The sync engine takes this lock once it knows the list id, so a running sync makes this fail.
        with store.lock(lock_key(ref.api_base, ref.ad_account_id, list_target(ref.customer_list_id))):
            store.forget(ref)
    print(f"forgot the state of {ref}")
