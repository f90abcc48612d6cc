"""`pinaudience sync`: keep a Pinterest customer list and audience equal to a file, with progress and a report."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from pinaudience.cli.app import app
from pinaudience.cli.logs import LogFormat, logging_to
from pinaudience.cli.options import (
    AdAccountOpt,
    ApiBaseOpt,
    AudienceIdOpt,
    AudienceNameOpt,
    AudienceSelectOpt,
    ConfigOpt,
    CustomerListIdOpt,
    JsonOpt,
    ListNameOpt,
    LogFormatOpt,
    QuietOpt,
    RateLimitUrlOpt,
    ReportOpt,
    StateOpt,
    TokenStoreOpt,
    env_secrets,
    load,
    log_level,
    settings_secrets,
)
from pinaudience.cli.output import print_json, render_error_parts, stderr_console, stdout_console
from pinaudience.config import Overrides, Secret, Settings, SyncMode
from pinaudience.errors import ConfigError, PinaudienceError
from pinaudience.identifiers.types import HashAlgorithm, IdType
from pinaudience.support.files import write_atomic

# The engine (Polars, httpx, the state store) and the progress display load when a sync runs, so that the
# other commands, and `--help`, start without them; the engine after the input's first bytes are read.
if TYPE_CHECKING:
    from pinaudience.cli.progress import Display
    from pinaudience.clock import Clock
    from pinaudience.engine.report import AudienceReport, RunReport

EXIT_OK, EXIT_USER_ERROR, EXIT_INTERNAL_ERROR = 0, 1, 2


def choose_display(*, quiet: bool, log_format: LogFormat, console: Console, clock: Clock) -> Display:
    """Bars on a terminal, log lines elsewhere (and always with JSON logs), nothing with --quiet."""
    from pinaudience.cli.progress import LogDisplay, QuietDisplay, RichDisplay

    if quiet:
        return QuietDisplay()
    if console.is_terminal and log_format is LogFormat.PLAIN:
        return RichDisplay(console, clock=clock)
    return LogDisplay(clock=clock)


@contextmanager
def showing_progress(
    *, quiet: bool, log_format: LogFormat, secrets: list[str], clock: Clock | None = None
) -> Iterator[tuple[Display, list[str]]]:
    """Logging and the progress display for one run; yields the display and the (extendable) secret list."""
    from pinaudience.cli.progress import RichDisplay
    from pinaudience.clock import SystemClock

    clock = clock or SystemClock()
    console = stderr_console()
    display = choose_display(quiet=quiet, log_format=log_format, console=console, clock=clock)
    rich_mode = isinstance(display, RichDisplay)
    level = log_level(quiet)
    with logging_to(
        console=console if rich_mode else None,
        stream=None if rich_mode else sys.stderr,
        fmt=log_format,
        level=max(level, 30) if rich_mode and not os.environ.get("PINAUDIENCE_DEBUG") else level,
        secrets=secrets,
    ) as redactor:
        yield display, redactor.secrets


def report_document(run: RunReport) -> dict[str, Any]:
    """One audience: its report (every key at the top); several: `{"status", "audiences": [...]}`."""
    if len(run.audiences) == 1:
        return run.audiences[0].to_dict()
    return run.to_dict()


def write_report(path: Path, document: dict[str, Any]) -> None:
    """Write the JSON report atomically; a path that cannot be written is the user's to fix."""
    try:
        write_atomic(path, json.dumps(document, indent=2, default=str) + "\n", durable=False)  # a rerun rewrites it
    except OSError as exc:
        raise ConfigError(
            f"cannot write the report file {path} ({exc.strerror})",
            resolution="Give --report a path in a folder that exists and is writable.",
        ) from None


def _failed_report(
    settings: Settings | None,
    exc: PinaudienceError,
    *,
    mode: SyncMode | None,
    dry_run: bool,
    ad_account_id: str | None,
) -> AudienceReport:
    """The report of a run that failed before any audience's sync could report for itself."""
    from pinaudience.engine.report import AudienceReport

    if settings is not None:
        first = settings.audiences[0] if settings.audiences else None
        report = AudienceReport(
            mode=(first.mode if first else SyncMode.MIRROR).value,
            dry_run=first.dry_run if first else dry_run,
            ad_account_id=settings.pinterest.ad_account_id,
            list_name=first.list_name if first else None,
        )
    else:
        report = AudienceReport(mode=(mode or SyncMode.MIRROR).value, dry_run=dry_run, ad_account_id=ad_account_id)
    report.fail(exc)
    return report


def run_exit_code(run: RunReport) -> int:
    if run.status == "ok":
        return EXIT_OK
    kinds = {a.error.kind for a in run.audiences if a.error is not None}
    return EXIT_INTERNAL_ERROR if "internal_error" in kinds else EXIT_USER_ERROR


@app.command("sync")
def sync_command(
    input_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="INPUT",
            help="The customers file (CSV, TSV or Parquet, gzip too); optional with --config.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    only: AudienceSelectOpt = None,
    ad_account_id: AdAccountOpt = None,
    list_name: ListNameOpt = None,
    audience_name: AudienceNameOpt = None,
    audience_id: AudienceIdOpt = None,
    customer_list_id: CustomerListIdOpt = None,
    mode: Annotated[
        SyncMode | None,
        typer.Option(
            "--mode",
            help="mirror: the list ends equal to the file (default); add; remove.",
            case_sensitive=False,
            show_default=False,
            rich_help_panel="What to send",
        ),
    ] = None,
    id_type: Annotated[
        IdType | None,
        typer.Option(
            "--id-type",
            help="What the column holds (default email).",
            case_sensitive=False,
            show_default=False,
            rich_help_panel="What to send",
        ),
    ] = None,
    column: Annotated[
        str | None,
        typer.Option(
            "--column",
            help="The identifier column, by name or 1-based position (default: detected).",
            show_default=False,
            rich_help_panel="What to send",
        ),
    ] = None,
    hash_algorithm: Annotated[
        HashAlgorithm | None,
        typer.Option(
            "--hash",
            help="How plain values are hashed (default sha256); `none` sends emails as lower-cased text.",
            case_sensitive=False,
            show_default=False,
            rich_help_panel="What to send",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="Records per request (default 10,000).",
            show_default=False,
            rich_help_panel="What to send",
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            metavar="N",
            help="Send only the first N valid records, as adds: try a destination with a small audience first.",
            show_default=False,
            rich_help_panel="What to send",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="In add mode, resend every record, not only new ones.", rich_help_panel="What to send"
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Resolve and plan with reads only; send nothing.", rich_help_panel="Safety"),
    ] = False,
    max_remove_fraction: Annotated[
        float | None,
        typer.Option(
            "--max-remove-fraction",
            help="A mirror removing more than this share of the list stops (default 0.5).",
            show_default=False,
            rich_help_panel="Safety",
        ),
    ] = None,
    state: StateOpt = None,
    api_base: ApiBaseOpt = None,
    token_store: TokenStoreOpt = None,
    ads_write_limit: Annotated[
        str | None,
        typer.Option(
            "--ads-write-limit",
            metavar="N/SECONDS",
            help="Write calls allowed per window (default 400/60, Pinterest's standard tier).",
            show_default=False,
            rich_help_panel="Connection",
        ),
    ] = None,
    ads_read_limit: Annotated[
        str | None,
        typer.Option(
            "--ads-read-limit",
            metavar="N/SECONDS",
            help="Read calls allowed per window (default 1000/60).",
            show_default=False,
            rich_help_panel="Connection",
        ),
    ] = None,
    rate_limit_url: RateLimitUrlOpt = None,
    report: ReportOpt = None,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
    log_format: LogFormatOpt = LogFormat.PLAIN,
) -> None:
    """Keep a Pinterest customer list, and the audience on it, equal to INPUT: send only what changed.

    The first run creates the list (and the audience once it holds 100 records); later runs add the new
    members and remove those who left. Credentials come from the environment (PINTEREST_ACCESS_TOKEN, or
    PINTEREST_APP_ID and PINTEREST_APP_SECRET after `pinaudience auth login`). Exit code 0: done; 1: an error
    you can fix (kind, message and resolution on stderr); 2: a bug.

    Examples:

    pinaudience sync customers.csv --ad-account-id 549755885175 --list-name "VIP customers" --dry-run

    pinaudience sync --config pinaudience.toml --report report.json --log-format json

    pinaudience sync --config pinaudience.toml --audience "VIP customers"   (one job per audience)
    """
    overrides = Overrides(
        ad_account_id=ad_account_id,
        api_base=api_base,
        token_store=token_store,
        ads_write_limit=ads_write_limit,
        ads_read_limit=ads_read_limit,
        rate_limit_url=Secret(rate_limit_url) if rate_limit_url else None,
        state=state,
        input=input_file,
        list_name=list_name,
        audience_name=audience_name,
        audience_id=audience_id,
        customer_list_id=customer_list_id,
        mode=mode.value if mode else None,
        id_type=id_type.value if id_type else None,
        column=column,
        hash=hash_algorithm.value if hash_algorithm else None,
        batch_size=batch_size,
        dry_run=True if dry_run else None,
        sample=sample,
        full=True if full else None,
        max_remove_fraction=max_remove_fraction,
        audiences=tuple(only or ()),
    )
    if config is None and input_file is None:
        raise ConfigError(
            "no input file", resolution="Give the customers file to sync, or --config FILE with [[audience]] tables."
        )
    from pinaudience.cli.progress import Ticker
    from pinaudience.cli.render import render_run
    from pinaudience.engine.inputs import open_first_input

    with showing_progress(quiet=quiet, log_format=log_format, secrets=env_secrets()) as (display, secrets):
        settings: Settings | None = None
        try:
            settings = load(config, overrides)
            secrets.extend(settings_secrets(settings))
            # The input's head is read before the engine (Polars, httpx, the state store) loads; the engine
            # takes it at the read step, after the state lock. Nothing before the read speaks to Pinterest.
            opened = open_first_input(settings)
            from pinaudience.engine.sync import sync

            with display, Ticker(display):
                run = sync(settings, observer=display, opened=opened)
        except PinaudienceError as exc:
            failed = _failed_report(settings, exc, mode=mode, dry_run=dry_run, ad_account_id=ad_account_id)
            if report is not None:
                write_report(report, failed.to_dict())
            if json_output:
                print_json(failed.to_dict())
            raise
    document = report_document(run)
    if report is not None:
        write_report(report, document)
    err = stderr_console()
    if json_output:
        print_json(document)
        for audience in run.audiences:
            if audience.error is not None:
                e = audience.error
                render_error_parts(e.kind, e.message, e.resolution, e.request_id, err)
    elif quiet:
        for audience in run.audiences:
            if audience.error is not None:
                e = audience.error
                render_error_parts(e.kind, e.message, e.resolution, e.request_id, err)
    else:
        render_run(run, stdout_console(), err)
    code = run_exit_code(run)
    if code:
        raise typer.Exit(code)
