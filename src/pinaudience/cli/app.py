"""The typer application and its command groups; command modules attach themselves here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pinaudience",
    help="Keep a Pinterest customer list and audience exactly equal to a CDP segment file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

emulator_app = typer.Typer(help="The local Pinterest emulator.", no_args_is_help=True)
auth_app = typer.Typer(help="Pinterest OAuth: log in, show token expiry, refresh.", no_args_is_help=True)
state_app = typer.Typer(help="Inspect or forget what pinaudience recorded about a list.", no_args_is_help=True)

app.add_typer(emulator_app, name="emulator")
app.add_typer(auth_app, name="auth")
app.add_typer(state_app, name="state")
