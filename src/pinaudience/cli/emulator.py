"""`pinaudience emulator serve`: run the Pinterest emulator on a socket until interrupted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pinaudience.cli.app import emulator_app
from pinaudience.emulator.seed import (
    SEED_ACCESS_TOKEN,
    SEED_AD_ACCOUNT_ID,
    SEED_APP_ID,
    SEED_APP_SECRET,
    SEED_CONVERSION_TOKEN,
    SEED_REFRESH_TOKEN,
)
from pinaudience.emulator.settings import PROFILE_NAMES


@emulator_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 8765,
    db: Annotated[
        Path | None, typer.Option(help="Keep the state in this SQLite file (it survives a restart); default: memory.")
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            help=f"Settings profile: {' or '.join(PROFILE_NAMES)} (realistic: the pessimistic choice wherever "
            "Pinterest documents nothing; see docs/emulator.md)."
        ),
    ] = "default",
) -> None:
    """Serve the Pinterest emulator; prints the base URL, the seed credentials, then `ready`.

    Example:

    pinaudience emulator serve --port 8765 --db emulator.sqlite --profile realistic
    """
    if profile not in PROFILE_NAMES:
        raise typer.BadParameter(f"must be one of {', '.join(PROFILE_NAMES)}", param_hint="--profile")
    # The web stack (Starlette, uvicorn) loads here, only when the emulator is served.
    from pinaudience.emulator.app import Emulator
    from pinaudience.emulator.serve import FOREGROUND_LOG_CONFIG, base_url, bind, server

    emulator = Emulator(profile=profile, db_path=db)
    sock = bind(host, port)
    url = base_url(sock)
    lines = [
        f"base_url: {url}",
        f"api_base: {url}/v5",
        f"app_id: {SEED_APP_ID}",
        f"app_secret: {SEED_APP_SECRET}",
        f"access_token: {SEED_ACCESS_TOKEN}",
        f"refresh_token: {SEED_REFRESH_TOKEN}",
        f"conversion_token: {SEED_CONVERSION_TOKEN}",
        f"ad_account_id: {SEED_AD_ACCOUNT_ID}",
        f"profile: {profile}",
        "ready",
    ]
    print("\n".join(lines), flush=True)
    try:
        server(emulator, log_config=FOREGROUND_LOG_CONFIG).run(sockets=[sock])
    finally:
        sock.close()
        emulator.close()
