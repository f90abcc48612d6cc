"""The command-line tool: the only part of pinaudience that prints or exits.

Exit codes follow the Meiro/Keboola convention: 0 success, 1 an error the user can fix (bad input,
configuration, credentials, Pinterest refusing), 2 an internal error (a bug: please report it).
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from pinaudience.cli import emulator as _emulator_commands  # noqa: F401 - registers `emulator serve`
from pinaudience.cli import prepare as _prepare_command  # noqa: F401 - registers `pinaudience prepare`
from pinaudience.cli.app import app
from pinaudience.cli.output import render_error, stderr_console
from pinaudience.errors import PinaudienceError

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 2


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with `argv` and return its exit code instead of exiting."""
    try:
        app(args=argv, prog_name="pinaudience", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        stderr_console().print("aborted", markup=False)
        return EXIT_USER_ERROR
    except click.ClickException as exc:
        exc.show()
        return EXIT_USER_ERROR
    except PinaudienceError as exc:
        render_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        stderr_console().print("interrupted", markup=False)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: report, never leak
        console = stderr_console()
        console.print(
            f"[bold red]internal error[/]: {type(exc).__name__}. This is a bug in pinaudience; "
            "run again with PINAUDIENCE_DEBUG=1 to see the traceback and report it.",
            markup=True,
            highlight=False,
        )
        if os.environ.get("PINAUDIENCE_DEBUG"):
            traceback.print_exc()
        return EXIT_INTERNAL_ERROR
    return EXIT_OK


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:]))
