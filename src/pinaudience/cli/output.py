"""How the CLI shows results and errors: rich on a terminal, plain or JSON otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

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
    render_error_parts(err.kind, err.message, err.resolution, getattr(err, "request_id", None), console)


def render_error_parts(
    kind: str, message: str, resolution: str | None, request_id: str | None, console: Console | None = None
) -> None:
    """`error KIND: message`, `resolution: ...` and Pinterest's request id, each on its own line.

    Messages quote settings such as `[pinterest]`, so they are escaped, never read as markup.
    """
    console = console or stderr_console()
    console.print(f"[bold red]error[/] [bold]{escape(kind)}[/]: {escape(message)}", markup=True, highlight=False)
    if resolution:
        console.print(f"[bold]resolution[/]: {escape(resolution)}", markup=True, highlight=False)
    if request_id:
        console.print(f"pinterest request id: {request_id}", markup=False, highlight=False)
