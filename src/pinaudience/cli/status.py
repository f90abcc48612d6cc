"""`pinaudience status`: what Pinterest says about each destination now, beside what the state confirms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pinaudience.cli.app import app
from pinaudience.cli.logs import LogFormat
from pinaudience.cli.options import (
    AdAccountOpt,
    ApiBaseOpt,
    AudienceIdOpt,
    AudienceSelectOpt,
    ConfigOpt,
    CustomerListIdOpt,
    JsonOpt,
    ListNameOpt,
    LogFormatOpt,
    QuietOpt,
    StateOpt,
    TokenStoreOpt,
    logged_settings,
)
from pinaudience.cli.output import print_json, stdout_console
from pinaudience.config import Overrides

if TYPE_CHECKING:  # the engine (the client, the state store) loads when the command runs
    from pinaudience.engine.status import DestinationStatus, StatusReport

GOOD = frozenset({"audience_ready"})
WAITING = frozenset({"matching", "audience_pending", "no_list", "no_audience"})


def _n(value: int) -> str:
    return f"{value:,}"


def _verdict_text(destination: DestinationStatus) -> Text:
    code = destination.verdict.code
    style = "green" if code in GOOD else "yellow" if code in WAITING else "red"
    return Text(destination.verdict.text, style=style)


def destination_table(destination: DestinationStatus, state_dir: str) -> Table:
    """One destination as a two-column block: the verdict, Pinterest's view, then the state's."""
    table = Table(
        title=Text(f"pinaudience status: {destination.label}", style="bold"),
        title_justify="left",
        show_header=False,
        box=None,
        padding=(0, 2, 0, 0),
    )
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("verdict", _verdict_text(destination))
    table.add_row("Pinterest now", "")
    cl, audience = destination.customer_list, destination.audience
    if cl is None:
        table.add_row("  customer list", "-")
    else:
        table.add_row("  customer list", Text(f"{cl.id} ({cl.name}), status {cl.status or '-'}"))
        table.add_row(
            "  counters",
            f"{_n(cl.num_batches)} batches, {_n(cl.num_uploaded_user_records)} records uploaded, "
            f"{_n(cl.num_removed_user_records)} removed",
        )
    if audience is None:
        table.add_row("  audience", "none" if cl is not None else "-")
    else:
        size = "not known yet" if audience.size is None else _n(audience.size)
        table.add_row("  audience", Text(f"{audience.id} ({audience.name}), status {audience.status or '-'}"))
        table.add_row("  audience size", size)
    table.add_row("state", Text(state_dir))
    state = destination.state
    if state is None:
        table.add_row("  customer list", "no record")
    else:
        table.add_row("  customer list", state.customer_list_id)
        confirmed = f"{_n(state.confirmed_in_snapshot)} in the snapshot"
        if state.acknowledged_batches:
            confirmed += f", and {state.acknowledged_batches} acknowledged batches not yet compacted"
        table.add_row("  confirmed", confirmed)
        pending = (
            f"{_n(state.pending_records)} records in {state.pending_batches} batches (the next sync resends them)"
            if state.pending_batches
            else "none"
        )
        table.add_row("  outcome unknown", pending)
        recorded = state.audience or "none"
        if recorded == "pending":
            recorded = "pending (the next sync creates it)"
        table.add_row("  audience", recorded)
    return table


def render_status(report: StatusReport, console: Console) -> None:
    for destination in report.destinations:
        console.print(destination_table(destination, report.state if report.state_found else "none found"))
        for note in destination.notes:
            console.print(Text(f"note: {note}", style="yellow"))
        console.print()


@app.command("status")
def status_command(
    config: ConfigOpt = None,
    only: AudienceSelectOpt = None,
    ad_account_id: AdAccountOpt = None,
    api_base: ApiBaseOpt = None,
    token_store: TokenStoreOpt = None,
    state: StateOpt = None,
    list_name: ListNameOpt = None,
    audience_id: AudienceIdOpt = None,
    customer_list_id: CustomerListIdOpt = None,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
    log_format: LogFormatOpt = LogFormat.PLAIN,
) -> None:
    """Show what Pinterest says about each destination now (list status and counters, audience status and
    size) beside what the state confirms, with a verdict: is the audience ready, or what comes next. Reads only.

    Exits 1 with the error's kind and resolution when a destination cannot be read (a list id Pinterest does
    not know, no access); a list or audience that does not exist yet is not an error.

    Examples:

    pinaudience status --ad-account-id 549755885175 --list-name "VIP customers"

    pinaudience status --config pinaudience.toml --json
    """
    overrides = Overrides(
        ad_account_id=ad_account_id,
        api_base=api_base,
        token_store=token_store,
        state=state,
        list_name=list_name,
        audience_id=audience_id,
        customer_list_id=customer_list_id,
        audiences=tuple(only or ()),
    )
    with logged_settings(config, overrides, log_format) as settings:
        from pinaudience.engine.status import status

        report = status(settings)
    if json_output:
        print_json(report.to_dict())
    elif not quiet:
        render_status(report, stdout_console())
    report.raise_for_error()
