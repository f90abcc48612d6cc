"""`pinaudience demo`: the whole job on a fresh machine, against the emulator, in a few seconds.

It starts the emulator on a free loopback port, writes a sample customers file (padded and uppercase
emails, invalid values, pre-hashed values, duplicates), and shows what a first real run shows: the first
mirror creates the list, but Pinterest matches a list's records to its users asynchronously (hours, up
to 48), so the audience is not there yet (pending) and `pinaudience status` says so. The demo then moves
the emulator's clock past matching (it owns the emulator, so it may), runs the same sync again (the
audience is created; no record is sent again), changes the file (some customers leave, some join),
mirrors again, and prints the emulator's view of the list and the audience. Everything lives in a
temporary directory: the user's state, token store and environment are never read or written.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pinaudience.cli.app import app
from pinaudience.cli.logs import LogFormat
from pinaudience.cli.options import LogFormatOpt, QuietOpt
from pinaudience.cli.output import stderr_console, stdout_console
from pinaudience.config import AudienceSettings, Credentials, PinterestSettings, Secret, Settings
from pinaudience.emulator.seed import SEED_AD_ACCOUNT_ID, SEED_APP_ID, SEED_APP_SECRET, SEED_REFRESH_TOKEN
from pinaudience.errors import ConfigError

# The emulator's web stack, the engine, Polars and httpx load when the demo runs, not for every command.
if TYPE_CHECKING:
    from pinaudience.emulator.app import Emulator
    from pinaudience.engine.report import AudienceReport, RunReport

LIST_NAME = "Demo: VIP customers"
MIN_ROWS = 1_000
MATCHING_S = 60.0
"""How long the demo's Pinterest takes to match a list (`processing_delay_s`); real Pinterest takes hours."""
AUDIENCE_ON_UNMATCHED = "refuse"
"""What the demo's Pinterest does with an audience created on a list still matching (`audience_on_unmatched`):
the realistic profile's choice, so the first run leaves the audience pending, as a first real run may."""


def customer(i: int) -> str:
    return f"customer{i:05d}@example.com"


def sample_rows(ids: list[int]) -> list[str]:
    """One value a row, the way CDP exports look: mostly clean, some messy, a few unusable."""
    rows: list[str] = []
    for i in ids:
        email = customer(i)
        if i % 50 == 7:
            rows.append(f"not-an-email-{i}")
        elif i % 61 == 3:
            rows.append("")
        elif i % 10 == 1:
            rows.append(f"  {email.upper()}  ")
        elif i % 13 == 2:
            rows.append(email.replace("customer", "Customer"))
        elif i % 25 == 4:
            rows.append(hashlib.sha256(email.encode()).hexdigest())
        else:
            rows.append(email)
        if i % 97 == 5:
            rows.append(email)  # the same customer exported twice
    return rows


def write_customers(path: Path, ids: list[int]) -> Path:
    path.write_text("email\n" + "".join(f"{row}\n" for row in sample_rows(ids)), encoding="utf-8")
    return path


def _settings(api_base: str, folder: Path, input_file: Path) -> Settings:
    # Built directly, not from the environment: the demo must never pick up the user's real credentials.
    return Settings(
        pinterest=PinterestSettings(
            ad_account_id=SEED_AD_ACCOUNT_ID,
            api_base=api_base,
            credentials=Credentials(
                refresh_token=Secret(SEED_REFRESH_TOKEN),
                app_id=SEED_APP_ID,
                app_secret=Secret(SEED_APP_SECRET),
                token_store=folder / "tokens.json",
            ),
        ),
        audiences=(AudienceSettings(input=input_file, list_name=LIST_NAME),),
        state_dir=folder / "state",
    )


async def _emulator_view(
    settings: Settings, emulator: Emulator, list_id: str, audience_id: str | None
) -> tuple[Table, bool]:
    """The list's and audience's counters as Pinterest reports them, and whether the members equal the file."""
    from pinaudience.pinterest.client import open_client

    async with open_client(settings.pinterest) as client:
        customer_list = await client.get_customer_list(list_id)
        audience = await client.get_audience(audience_id) if audience_id else None
    members = list(emulator.store.members(int(list_id)))
    equal = set(members) == _desired(settings)
    table = Table(
        title="What the emulator holds", title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0)
    )
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("customer list", Text(f"{customer_list.id} ({customer_list.name}), status {customer_list.status}"))
    table.add_row("  batches received", f"{customer_list.num_batches:,}")
    table.add_row("  records uploaded", f"{customer_list.num_uploaded_user_records:,}")
    table.add_row("  records removed", f"{customer_list.num_removed_user_records:,}")
    table.add_row("  members (admin API)", f"{len(members):,}")
    if audience is not None:
        size = f"{audience.size:,}" if audience.size is not None else "-"
        table.add_row("audience", Text(f"{audience.id} ({audience.name}), status {audience.status}, size {size}"))
        table.add_row("", "size counts members matched to Pinterest users (the emulator matches about 60%)")
    table.add_row("members equal the file", "[green]yes[/]" if equal else "[red]no[/]")
    return table, equal


def _desired(settings: Settings) -> set[str]:
    from pinaudience.input.prepare import prepare

    (audience,) = settings.audiences
    assert audience.input is not None
    prepared = prepare(audience.input)
    try:
        return {record for batch in prepared.records.iter_batches(10_000) for record in batch}
    finally:
        prepared.records.close()


def _step(console: Console, title: str) -> None:
    console.print()
    console.rule(Text(title), align="left")


@app.command("demo")
def demo_command(
    rows: Annotated[int, typer.Option("--rows", help=f"Customers in the sample file (at least {MIN_ROWS:,}).")] = 1_200,
    quiet: QuietOpt = False,
    log_format: LogFormatOpt = LogFormat.PLAIN,
) -> None:
    """Run the whole job against a local Pinterest emulator: two mirror syncs of a sample file, and what changed.

    Nothing leaves the machine and nothing of yours is touched: the emulator, the files, the state and
    the tokens live in a temporary directory that is deleted at the end.

    Example:

    pinaudience demo
    """
    import asyncio

    from pinaudience.cli.render import render_run
    from pinaudience.emulator.app import Emulator
    from pinaudience.emulator.serve import serving
    from pinaudience.emulator.settings import EmulatorSettings

    if rows < MIN_ROWS:
        raise ConfigError(f"--rows must be at least {MIN_ROWS:,}, got {rows:,}")
    out, err = stdout_console(), stderr_console()
    # Pinterest's matching takes time: the first sync cannot build the audience yet (docs/emulator.md).
    emulator = Emulator(EmulatorSettings(processing_delay_s=MATCHING_S, audience_on_unmatched=AUDIENCE_ON_UNMATCHED))
    try:
        with tempfile.TemporaryDirectory(prefix="pinaudience-demo-") as tmp, serving(emulator) as base_url:
            folder = Path(tmp)
            api_base = f"{base_url}/v5"
            first_ids = list(range(rows))
            customers = write_customers(folder / "customers.csv", first_ids)
            settings = _settings(api_base, folder, customers)
            out.print(f"Pinterest emulator at {api_base} (its web page: {base_url}/)", highlight=False)
            out.print(
                f"Sample file: {len(sample_rows(first_ids)):,} rows with padded, uppercase, invalid, "
                "pre-hashed and repeated emails.",
                highlight=False,
            )

            _step(out, "1. First mirror: creates the customer list; Pinterest starts matching it")
            first = _sync(settings, quiet=quiet, log_format=log_format)
            if not quiet:
                render_run(first, out, err)
            _check(first)
            out.print(_pending_line(first.audiences[0]), highlight=False)
            _show_status(out, settings)

            _step(out, "2. Pinterest has matched the list: the same sync again creates the audience")
            emulator.advance(MATCHING_S + 1)  # real Pinterest: hours later, the next scheduled run
            matched = _sync(settings, quiet=quiet, log_format=log_format)
            if not quiet:
                render_run(matched, out, err)
            _check(matched)
            out.print(_matched_line(matched.audiences[0]), highlight=False)

            left = [i for i in first_ids if i % 9 == 0]
            joined = list(range(rows, rows + rows // 8))
            second_ids = [i for i in first_ids if i % 9 != 0] + joined
            write_customers(customers, second_ids)
            _step(out, f"3. The segment changed: {len(left):,} customers left, {len(joined):,} joined; mirror again")
            second = _sync(settings, quiet=quiet, log_format=log_format)
            if not quiet:
                render_run(second, out, err)
            _check(second)

            report = second.audiences[0]
            assert report.customer_list_id is not None
            _step(out, "4. The emulator's view")
            view, equal = asyncio.run(_emulator_view(settings, emulator, report.customer_list_id, report.audience_id))
            out.print(view)
            out.print()
            if not equal:
                raise RuntimeError("the emulator's list does not hold exactly the file's records")
            out.print(
                "Next: a real sync against Pinterest (README: create an app, `pinaudience auth login`, "
                "`pinaudience check`, `pinaudience sync --dry-run`).",
                highlight=False,
            )
    finally:
        emulator.close()
    sys.stdout.flush()


def _check(run: RunReport) -> None:
    if run.status != "ok" or run.audiences[0].customer_list_id is None:
        failed = next((a for a in run.audiences if a.error is not None), None)
        raise RuntimeError(f"the demo's sync failed ({failed.error.kind if failed and failed.error else 'error'})")


def _pending_line(report: AudienceReport) -> str:
    """How the first run leaves the audience: pending (not created yet), or created while its size is unknown."""
    audience_status = report.audience_status
    if audience_status == "pending" or report.audience_id is None:
        return (
            "Audience: pending. Pinterest is still matching the list's records to its users (list "
            f"{report.list_status or 'PROCESSING'}); the next sync creates the audience, without sending them again."
        )
    return (
        f"Audience: created, {audience_status or 'INITIALIZING'}; its size is not known until Pinterest "
        "has matched the list."
    )


def _matched_line(report: AudienceReport) -> str:
    size = "not known yet" if report.audience_size is None else f"{report.audience_size:,}"
    done = "created now" if report.audience_created else "there"
    return (
        f"Audience: {done}, status {report.audience_status or '-'}, size {size}; "
        f"records sent this time: {report.added + report.removed:,}."
    )


def _show_status(out: Console, settings: Settings) -> None:
    from pinaudience.engine.status import status

    (destination,) = status(settings).destinations
    out.print(Text("pinaudience status: ", style="bold").append(destination.verdict.text, style="yellow"))


def _sync(settings: Settings, *, quiet: bool, log_format: LogFormat) -> RunReport:
    from pinaudience.cli.progress import Ticker
    from pinaudience.cli.sync import showing_progress
    from pinaudience.engine.sync import sync

    with showing_progress(quiet=quiet, log_format=log_format, secrets=[]) as (display, _), display, Ticker(display):
        return sync(settings, observer=display)
