"""`pinaudience component`: the Meiro Integration loader component (the Docker image's entry point)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pinaudience.cli.app import app
from pinaudience.cli.logs import LogFormat, logging_to
from pinaudience.cli.options import LogFormatOpt, env_secrets, log_level
from pinaudience.cli.output import render_error_parts, stderr_console


@app.command("component")
def component_command(
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir",
            help="The component's data folder: config.json, in/tables/customers.csv, out/.",
        ),
    ] = Path("/data"),
    log_format: LogFormatOpt = LogFormat.PLAIN,
) -> None:
    """Run as a Meiro Integration loader component (the Docker image's entry point).

    Reads the parameters from DATA_DIR/config.json and the segment from DATA_DIR/in/tables/customers.csv;
    writes the report to DATA_DIR/out/tables/pinterest_audience_report.csv and DATA_DIR/out/files/; logs
    on stdout. Exit code 0 ok, 1 a user error (kind, message and resolution on stderr), 2 a bug.

    Example:

    pinaudience component --data-dir /data
    """
    # The engine, and with it Polars and httpx, loads when the component runs, not for every command.
    from pinaudience.cli.progress import LogDisplay, Ticker
    from pinaudience.clock import SystemClock
    from pinaudience.integrations.meiro import run_component, secret_parameters

    secrets = [*env_secrets(), *secret_parameters(data_dir)]
    with logging_to(stream=sys.stdout, fmt=log_format, level=log_level(False), secrets=secrets):
        display = LogDisplay(clock=SystemClock())
        with Ticker(display):
            result = run_component(data_dir, observer=display)
    error = result.error
    if error is not None:
        render_error_parts(error.kind, error.message, error.resolution, error.request_id, stderr_console())
    if result.exit_code:
        raise typer.Exit(result.exit_code)
