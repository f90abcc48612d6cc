"""The typer application and its command groups; command modules attach themselves here."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

COMMAND_ORDER = (
    "demo",
    "sync",
    "events",
    "audiences",
    "check",
    "status",
    "auth",
    "state",
    "prepare",
    "component",
    "emulator",
)
"""How `pinaudience --help` lists the commands: the way a newcomer meets them, not the order of import."""


class _OrderedGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:  # click's Context, or the one recent typers vendor
        names = super().list_commands(ctx)
        rank = {name: index for index, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))


app = typer.Typer(
    name="pinaudience",
    help="Keep a Pinterest customer list and audience exactly equal to a CDP segment file.",
    cls=_OrderedGroup,
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
