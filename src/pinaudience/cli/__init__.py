"""The command-line tool: the only part of pinaudience that prints or exits.

Exit codes follow the Meiro/Keboola convention: 0 success, 1 an error the user can fix (bad input,
configuration, credentials, Pinterest refusing), 2 an internal error (a bug: please report it).
"""

from __future__ import annotations

import os
import sys
import traceback

from pinaudience.cli import audiences as _audiences_command  # noqa: F401 - registers `pinaudience audiences`
from pinaudience.cli import auth as _auth_commands  # noqa: F401 - registers `auth login|status|refresh`
from pinaudience.cli import check as _check_command  # noqa: F401 - registers `pinaudience check`
from pinaudience.cli import component as _component_command  # noqa: F401 - registers `pinaudience component`
from pinaudience.cli import demo as _demo_command  # noqa: F401 - registers `pinaudience demo`
from pinaudience.cli import emulator as _emulator_commands  # noqa: F401 - registers `emulator serve`
from pinaudience.cli import events as _events_command  # noqa: F401 - registers `pinaudience events`
from pinaudience.cli import prepare as _prepare_command  # noqa: F401 - registers `pinaudience prepare`
from pinaudience.cli import state as _state_commands  # noqa: F401 - registers `state show|forget`
from pinaudience.cli import status as _status_command  # noqa: F401 - registers `pinaudience status`
from pinaudience.cli import sync as _sync_command  # noqa: F401 - registers `pinaudience sync`
from pinaudience.cli.app import app
from pinaudience.cli.output import render_error, stderr_console
from pinaudience.errors import PinaudienceError

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 2
CLICK_USAGE_ERROR = 2
"""What click exits with on a bad flag or a missing argument."""


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with `argv` and return its exit code instead of exiting."""
    try:
        # Standalone mode lets typer (whichever click it carries: recent typers vendor their own) show usage
        # errors and turn `typer.Exit`, aborts and ^C into SystemExit; everything else comes through to us.
        app(args=argv, prog_name="pinaudience", standalone_mode=True)
    except SystemExit as exc:
        return _exit_code(exc.code)
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


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int) and not isinstance(code, bool):
        # click exits 2 on a usage error (a bad flag, a missing argument): the user's to fix, so 1 here,
        # keeping 2 for bugs. Our commands never exit 2 themselves.
        return EXIT_USER_ERROR if code == CLICK_USAGE_ERROR else code
    return EXIT_USER_ERROR  # sys.exit("message") prints the message and means failure


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:]))
