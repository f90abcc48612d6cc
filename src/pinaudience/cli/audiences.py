"""`pinaudience audiences`: the names of a config file's audiences, so that an orchestrator can fan out over them.

Each name selects one audience for `pinaudience sync --config FILE --audience NAME` (docs/fleet.md). Nothing is
sent and no credentials are needed: only the file is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pinaudience.cli.app import app
from pinaudience.cli.options import JsonOpt, load
from pinaudience.cli.output import print_json, stdout_console
from pinaudience.config import Overrides, check_unique_names


@app.command("audiences")
def audiences_command(
    config: Annotated[
        Path,
        typer.Option("--config", "-c", help="The TOML file whose [[audience]] tables to list.", show_default=False),
    ],
    json_output: JsonOpt = False,
) -> None:
    """List the audiences of a config file by name, one a line (or, with --json, one JSON document).

    An audience's name is its `name` key, else its `audience_name`, else its `list_name`, else its audience or
    customer list id; names must be distinct. Each one is a job: `pinaudience sync --config FILE --audience NAME`.

    Example (the --json document): {"config": "...", "ad_account_id": "549755885175", "names": ["VIP", ...],
    "audiences": [{"name", "list_name", "audience_name", "audience_id", "customer_list_id", "mode", "input"}]}
    """
    settings = load(config, Overrides())
    names = [audience.label for audience in settings.audiences]
    check_unique_names(names, str(config))
    if json_output:
        print_json(
            {
                "config": str(config),
                "ad_account_id": settings.pinterest.ad_account_id,
                "names": names,
                "audiences": [
                    {
                        "name": a.label,
                        "list_name": a.list_name,
                        "audience_name": a.audience_name,
                        "audience_id": a.audience_id,
                        "customer_list_id": a.customer_list_id,
                        "mode": a.mode.value,
                        "input": str(a.input) if a.input is not None else None,
                    }
                    for a in settings.audiences
                ],
            }
        )
        return
    console = stdout_console()
    for name in names:
        console.print(name, markup=False, highlight=False, soft_wrap=True)
