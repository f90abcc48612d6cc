"""A worker process of the shared token store tests (`test_client_token_store_shared.py`).

    python -m tests.pinterest.token_worker access API_BASE STORE GO_FILE
    python -m tests.pinterest.token_worker hold API_BASE STORE

`access`: prints `ready`, waits until GO_FILE exists (so that every worker starts at once), gets an access token from a
`RefreshingTokenProvider` on the token store STORE (a file or a `postgresql://` URL), calls Pinterest with it
and prints one JSON line: the access token's fingerprint (never the token), the call's status and where the
pair came from. `hold`: takes the store's lock on its lineage, prints `locked`, and sleeps until killed.
The seed refresh token, app id and secret come from the environment, under Pinterest's SDK names.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from pinaudience.clock import SystemClock
from pinaudience.config import Credentials, Secret
from pinaudience.emulator import SEED_AD_ACCOUNT_ID
from pinaudience.pinterest.http import new_http_client
from pinaudience.pinterest.providers import RefreshingTokenProvider
from pinaudience.pinterest.token_store import TokenStore, choose_tokens, open_token_store
from pinaudience.pinterest.tokens import fingerprint


def credentials(store: str) -> Credentials:
    return Credentials(
        refresh_token=Secret(os.environ["PINTEREST_REFRESH_ACCESS_TOKEN"]),
        app_id=os.environ["PINTEREST_APP_ID"],
        app_secret=Secret(os.environ["PINTEREST_APP_SECRET"]),
        token_store=store,
    )


async def access(api_base: str, store_location: str, go_file: Path) -> dict[str, object]:
    creds = credentials(store_location)
    assert creds.app_id is not None
    assert creds.app_secret is not None
    store: TokenStore = open_token_store(creds, api_base=api_base)
    print("ready", flush=True)
    while not go_file.exists():
        await asyncio.sleep(0.005)
    async with new_http_client(api_base, timeout_s=30.0) as http:
        provider = RefreshingTokenProvider(
            http,
            app_id=creds.app_id,
            app_secret=creds.app_secret,
            clock=SystemClock(),
            store=store,
            seed_refresh_token=creds.refresh_token,
        )
        token = await provider.access_token()
        answer = await http.get(f"ad_accounts/{SEED_AD_ACCOUNT_ID}", headers={"Authorization": f"Bearer {token}"})
        return {"access": fingerprint(Secret(token)), "status": answer.status_code, "source": provider.status().source}


async def hold(api_base: str, store_location: str) -> None:
    creds = credentials(store_location)
    store = open_token_store(creds, api_base=api_base)
    tokens, _ = choose_tokens(store.load(), app_id=creds.app_id, seed_refresh_token=creds.refresh_token)
    async with store.lock(tokens):
        print("locked", flush=True)
        while True:
            time.sleep(1)  # blocks the loop on purpose: a worker stuck while holding the lock


def main(argv: list[str]) -> int:
    mode, api_base, store_location = argv[:3]
    if mode == "access":
        print(json.dumps(asyncio.run(access(api_base, store_location, Path(argv[3])))), flush=True)
    else:
        asyncio.run(hold(api_base, store_location))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
