"""`pinaudience events`: send an events file to Pinterest's Conversions API, each event once, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from pinaudience.cli.app import app
from pinaudience.cli.logs import LogFormat
from pinaudience.cli.options import (
    AdAccountOpt,
    ApiBaseOpt,
    ConfigOpt,
    JsonOpt,
    LogFormatOpt,
    QuietOpt,
    RateLimitUrlOpt,
    ReportOpt,
    StateOpt,
    TokenStoreOpt,
    env_secrets,
    load,
    settings_secrets,
)
from pinaudience.cli.output import print_json, render_error_parts, stderr_console, stdout_console
from pinaudience.cli.sync import EXIT_INTERNAL_ERROR, EXIT_OK, EXIT_USER_ERROR, showing_progress, write_report
from pinaudience.config import Overrides, Secret, Settings, with_events_flags
from pinaudience.errors import ConfigError, PinaudienceError

if TYPE_CHECKING:
    from pinaudience.engine.conversions import EventsRunReport

PANEL = "What to send"


def parse_map(entries: list[str] | None) -> dict[str, list[str]] | None:
    """`--map field=column` (repeatable; a field given twice reads both columns)."""
    if not entries:
        return None
    mapping: dict[str, list[str]] = {}
    for entry in entries:
        field, sep, column = entry.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise ConfigError(
                f"--map {entry!r} is not FIELD=COLUMN", resolution="For example: --map em='Customer E-mail'."
            )
        mapping.setdefault(field.strip(), []).append(column.strip())
    return mapping


def exit_code(reports: list[EventsRunReport]) -> int:
    kinds = {r.error.kind for r in reports if r.error is not None}
    if not kinds:
        return EXIT_OK
    return EXIT_INTERNAL_ERROR if "internal_error" in kinds else EXIT_USER_ERROR


def render(report: EventsRunReport, out: Console) -> None:
    """A few lines for a person: what was read, sent, acknowledged before, failed, rejected."""
    mode = " (test mode: Pinterest recorded nothing)" if report.test else ""
    out.print(f"[bold]{report.name}[/]{mode}: {report.rows_read:,} rows read, {report.events_ready:,} events ready")
    out.print(
        f"  sent {report.sent:,} in {report.batches:,} batches: {report.processed:,} processed, {report.failed:,} "
        f"failed; {report.already_acknowledged:,} acknowledged by an earlier run, not sent again"
    )
    if report.events_rejected:
        reasons = ", ".join(f"{k} {v:,}" for k, v in report.prepare.get("rejected_by_reason", {}).items())
        out.print(f"  rejected before sending: {report.events_rejected:,} ({reasons})")
    for message, count in report.failed_by_message.items():
        out.print(f"  failed at Pinterest: {count:,} x {message}")
    for message, count in report.warnings_by_message.items():
        out.print(f"  warning from Pinterest: {count:,} x {message}")
    if report.rejects_file and report.rejects_written:
        out.print(f"  {report.rejects_written:,} rejected rows written to {report.rejects_file}")


@app.command("events")
def events_command(
    input_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="The events file (CSV, TSV or Parquet, gzip too), one event a row; optional with --config.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    ad_account_id: AdAccountOpt = None,
    event_name: Annotated[
        str | None,
        typer.Option(
            "--event-name", help="The event_name of rows without one (checkout, lead, ...).", rich_help_panel=PANEL
        ),
    ] = None,
    action_source: Annotated[
        str | None,
        typer.Option(
            "--action-source",
            help="The action_source of rows without one (web, app_android, app_ios, offline).",
            rich_help_panel=PANEL,
        ),
    ] = None,
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="FIELD=COLUMN",
            help="Read a field from a column of another name (repeatable): --map em='Customer E-mail'.",
            show_default=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="Events per request (default 1,000, the most).",
            show_default=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
    test: Annotated[
        bool,
        typer.Option(
            "--test",
            help="Pinterest's test mode: events are judged, not recorded; the journal is left alone.",
            rich_help_panel=PANEL,
        ),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            metavar="FILE",
            help="Write rejected rows here (row,reason): invalid before sending, or failed at Pinterest.",
            show_default=False,
            rich_help_panel="Output",
        ),
    ] = None,
    state: StateOpt = None,
    api_base: ApiBaseOpt = None,
    token_store: TokenStoreOpt = None,
    rate_limit_url: RateLimitUrlOpt = None,
    report: ReportOpt = None,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
    log_format: LogFormatOpt = LogFormat.PLAIN,
) -> None:
    """Send conversion events from FILE to Pinterest's Conversions API: each event once, however often it runs.

    Each row is one event: an identifier (email, phone, device id, or IP address with user agent), event_time
    (Unix seconds or ISO 8601 with a zone), event_name and action_source (or --event-name / --action-source).
    Events Pinterest acknowledged are journaled in the state, so a rerun sends only what is new. Credentials:
    PINTEREST_CONVERSION_TOKEN, or the OAuth token as for sync. Exit code 0: done; 1: an error you can fix; 2: a bug.

    Examples:

    pinaudience events purchases.csv --ad-account-id 549755885175 --event-name checkout --action-source web

    pinaudience events --config pinaudience.toml --report events-report.json --rejects rejects.csv
    """
    flags: dict[str, object] = {
        "input": str(input_file) if input_file is not None else None,
        "event_name": event_name,
        "action_source": action_source,
        "columns": parse_map(column_map),
        "batch_size": batch_size,
        "test": True if test else None,
        "rejects": str(rejects) if rejects is not None else None,
    }
    overrides = Overrides(
        ad_account_id=ad_account_id,
        api_base=api_base,
        token_store=token_store,
        rate_limit_url=Secret(rate_limit_url) if rate_limit_url else None,
        state=state,
    )
    if config is None and input_file is None:
        raise ConfigError("no events file", resolution="Give the events file, or --config FILE with [[events]] tables.")
    reports: list[EventsRunReport] = []
    with showing_progress(quiet=quiet, log_format=log_format, secrets=env_secrets()) as (display, secrets):
        settings: Settings | None = None
        try:
            settings = with_events_flags(load(config, overrides), flags)
            secrets.extend(settings_secrets(settings))
            from pinaudience.cli.progress import Ticker
            from pinaudience.engine.conversions import send_events_file

            with display, Ticker(display):
                for spec in settings.events:
                    reports.append(send_events_file(settings, spec, observer=display))
        except PinaudienceError as exc:
            failed = {
                "status": "error",
                "error": {"kind": exc.kind, "message": exc.message, "resolution": exc.resolution},
            }
            if report is not None:
                write_report(report, failed)
            if json_output:
                print_json(failed)
            raise
    documents = [r.to_dict() for r in reports]
    document: dict[str, Any] = (
        documents[0] if len(documents) == 1 else {"status": _status(reports), "events": documents}
    )
    if report is not None:
        write_report(report, document)
    err = stderr_console()
    if json_output:
        print_json(document)
    elif not quiet:
        for one in reports:
            render(one, stdout_console())
    for one in reports:
        if one.error is not None:
            e = one.error
            render_error_parts(e.kind, e.message, e.resolution, e.request_id, err)
    code = exit_code(reports)
    if code:
        raise typer.Exit(code)


def _status(reports: list[EventsRunReport]) -> str:
    return "ok" if all(r.status == "ok" for r in reports) else "error"
