"""How the CLI shows results and errors: rich on a terminal, plain or JSON otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from pinaudience.errors import PinaudienceError


def stdout_console() -> Console:
    return Console(soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout: one JSON document, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def render_error(err: PinaudienceError, console: Console | None = None) -> None:
    """Kind, message and resolution on stderr; the text never holds a token or an identifier."""
    console = console or stderr_console()
    console.print(f"[bold red]error[/] [bold]{err.kind}[/]: {err.message}", markup=True, highlight=False)
    if err.resolution:
        console.print(f"[bold]resolution[/]: {err.resolution}", markup=True, highlight=False)
    request_id = getattr(err, "request_id", None)
    if request_id:
        console.print(f"pinterest request id: {request_id}", markup=False, highlight=False)
