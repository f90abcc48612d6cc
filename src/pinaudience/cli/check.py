"""`pinaudience check`: can this configuration work? Settings, input files, credentials and access, read-only."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

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
    TokenStoreOpt,
    logged_settings,
)
from pinaudience.cli.output import print_json, stdout_console
from pinaudience.config import AudienceSettings, Overrides, Settings
from pinaudience.errors import InputError, PinaudienceError

if TYPE_CHECKING:  # the client (httpx, asyncio) loads when the command runs, not for every command
    from pinaudience.pinterest.access import CheckResult, CheckStep


def _input_step(audience: AudienceSettings) -> tuple[CheckStep, PinaudienceError | None]:
    from pinaudience.pinterest.access import CheckStep

    path = audience.input
    assert path is not None
    if path.is_file() and os.access(path, os.R_OK):
        return CheckStep("input", True, f"{path} is readable ({path.stat().st_size:,} bytes)"), None
    error = InputError(f"the input file {path} does not exist or cannot be read")
    return CheckStep("input", False, f"{error.kind}: {error.message}"), error


def run_checks(settings: Settings) -> list[tuple[str, CheckResult, list[CheckStep]]]:
    """One check per configured audience (or one of the connection alone), with each input file's step."""
    import asyncio

    from pinaudience.pinterest.access import check

    targets: list[AudienceSettings | None] = list(settings.audiences) or [None]
    results = []
    for audience in targets:
        extra: list[CheckStep] = []
        error: PinaudienceError | None = None
        if audience is not None and audience.input is not None:
            step, error = _input_step(audience)
            extra.append(step)
        result = asyncio.run(
            check(
                settings.pinterest,
                list_name=audience.list_name if audience else None,
                customer_list_id=audience.customer_list_id if audience else None,
                audience_id=audience.audience_id if audience else None,
            )
        )
        if error is not None and result.error is None:
            result = dataclasses.replace(result, error=error)
        label = (audience.list_name or audience.audience_id or audience.customer_list_id or "") if audience else ""
        results.append((label, result, extra))
    return results


def _render(results: list[tuple[str, CheckResult, list[CheckStep]]]) -> None:
    console = stdout_console()
    for label, result, extra in results:
        title = f"pinaudience check: ad account {result.ad_account_id}" + (f", {label}" if label else "")
        table = Table(title=Text(title), title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0))
        table.add_column("ok")
        table.add_column("step", style="bold")
        table.add_column("detail")
        for step in (*extra, *result.steps):
            table.add_row(Text("✓", style="green") if step.ok else Text("✗", style="red"), step.name, Text(step.detail))
        console.print(table)
        console.print()


@app.command("check")
def check_command(
    config: ConfigOpt = None,
    only: AudienceSelectOpt = None,
    ad_account_id: AdAccountOpt = None,
    api_base: ApiBaseOpt = None,
    token_store: TokenStoreOpt = None,
    list_name: ListNameOpt = None,
    audience_id: AudienceIdOpt = None,
    customer_list_id: CustomerListIdOpt = None,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
    log_format: LogFormatOpt = LogFormat.PLAIN,
) -> None:
    """Check the configuration, the credentials and access to the ad account (and list or audience), sending no write.

    Like a destination validated on save: each step that passes is listed, the first that fails stops the
    check and exits 1 with its kind and resolution. A refresh token is refreshed (and its rotation saved), as
    any run would.

    Examples:

    pinaudience check --ad-account-id 549755885175 --list-name "VIP customers"

    pinaudience check --config pinaudience.toml --json
    """
    overrides = Overrides(
        ad_account_id=ad_account_id,
        api_base=api_base,
        token_store=token_store,
        list_name=list_name,
        audience_id=audience_id,
        customer_list_id=customer_list_id,
        audiences=tuple(only or ()),
    )
    with logged_settings(config, overrides, log_format) as settings:
        results = run_checks(settings)
    ok = all(result.ok for _, result, _ in results)
    if json_output:
        checks: list[dict[str, Any]] = []
        for label, result, extra in results:
            data = result.to_dict()
            data["label"] = label
            data["steps"] = [step.to_dict() for step in extra] + data["steps"]
            checks.append(data)
        print_json({"ok": ok, "checks": checks})
    elif not quiet:
        _render(results)
    for _, result, _ in results:
        result.raise_for_error()
