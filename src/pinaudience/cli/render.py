"""How a sync report looks to a person: a table of what happened, then its warnings and its error."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pinaudience.cli.output import render_error_parts
from pinaudience.engine.report import AudienceReport, RunReport


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _named(ident: str, name: str | None, created: bool) -> Text:
    text = Text(ident)
    if name:
        text.append(f" ({name})")
    if created:
        text.append(" created", style="cyan")
    return text


def report_table(report: AudienceReport, *, title: str | None = None) -> Table:
    """Every count of `report` that a person reads, in the order the run took them."""
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column("what", style="bold")
    table.add_column("value")
    if report.status == "ok":
        status = Text("ok", style="green")
    else:
        status = Text(report.error.kind if report.error else "error", style="red")
    if report.dry_run:
        status.append(" (dry run: nothing sent)")
    table.add_row("status", status)
    table.add_row("mode", report.mode)
    table.add_row("ad account", report.ad_account_id or "-")
    if report.customer_list_id:
        table.add_row("customer list", _named(report.customer_list_id, report.list_name, report.list_created))
    elif report.list_name:
        table.add_row("customer list", Text(f"{report.list_name} (does not exist yet)"))
    if report.audience_id:
        table.add_row("audience", _named(report.audience_id, report.audience_name, report.audience_created))
    table.add_row("rows read", _n(report.rows_read))
    table.add_row("valid / invalid", f"{report.rows_valid:,} / {report.rows_invalid:,}")
    for reason, count in sorted(report.invalid_by_reason.items()):
        table.add_row(f"  invalid: {escape(reason)}", _n(count))
    prehashed = {k: v for k, v in report.prehashed_by_algorithm.items() if v}
    if prehashed:
        table.add_row("pre-hashed", ", ".join(f"{v:,} {k}" for k, v in sorted(prehashed.items())))
    table.add_row("duplicates", _n(report.duplicates))
    table.add_row("records", _n(report.records))
    table.add_row("confirmed before", _n(report.confirmed_before))
    table.add_row("planned", f"+{report.planned_adds:,} / -{report.planned_removes:,}")
    table.add_row("sent", f"+{report.added:,} / -{report.removed:,} in {report.batches:,} batches")
    table.add_row("requests", f"{report.requests:,} ({report.retries:,} retries, {report.rate_limited:,} answered 429)")
    table.add_row("duration", f"{report.duration_s:.1f} s")
    if report.list_status:
        table.add_row("list status", report.list_status)
    if report.audience_status or report.audience_size is not None:
        table.add_row("audience status", f"{report.audience_status or '-'}, size {_n(report.audience_size)}")
    return table


def render_run(run: RunReport, out: Console, err: Console) -> None:
    """Each audience's table on `out`; its warnings and error on `err`."""
    for report in run.audiences:
        label = report.list_name or report.audience_id or report.customer_list_id
        out.print(report_table(report, title=f"pinaudience sync: {escape(label)}" if label else "pinaudience sync"))
        out.print()
        render_warnings(report, err)
        if report.error is not None:
            e = report.error
            render_error_parts(e.kind, e.message, e.resolution, e.request_id, err)


def render_warnings(report: AudienceReport, err: Console) -> None:
    for warning in report.warnings:
        err.print(f"[yellow]warning[/]: {escape(warning)}", markup=True, highlight=False)
