"""The emulator on a real loopback socket: `serving(...)`, a dropped connection, and `pinaudience emulator serve`."""

from __future__ import annotations

import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from pinaudience.emulator import (
    RID_HEADER,
    SEED_ACCESS_TOKEN,
    SEED_AD_ACCOUNT_ID,
    SEED_APP_ID,
    SEED_APP_SECRET,
    SEED_CONVERSION_TOKEN,
    SEED_REFRESH_TOKEN,
    Emulator,
    EmulatorSettings,
    serving,
)
from pinaudience.emulator.serve import bind
from tests.emulator.emulator_helpers import emails, joined, lists_url

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {SEED_ACCESS_TOKEN}"}
STARTUP_TIMEOUT_S = 30.0


async def test_serving_answers_over_a_socket() -> None:
    """`serving` yields a loopback URL on a free port where the API answers under /v5."""
    emulator = Emulator()
    with serving(emulator) as url:
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
            response = await client.get(f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}")
            assert response.status_code == 200
            assert response.headers[RID_HEADER]
            assert "server" not in response.headers
    emulator.close()


async def test_a_served_drop_is_a_transport_error() -> None:
    """A scripted drop reaches a real client as a closed connection (never a 500), and serving goes on."""
    emulator = Emulator()
    with serving(emulator) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
            plan = {"rules": [{"operation": "customer_lists/create", "calls": [1], "drop": "after"}]}
            assert (await client.put("/_emulator/faults", json=plan)).status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(lists_url(), json={"name": "n", "records": joined(emails(2))})
            listed = await client.get(lists_url())
            assert len(listed.json()["items"]) == 1
    emulator.close()


def test_accepted_connections_send_without_delay() -> None:
    """Connections to the emulator's socket are TCP with Nagle's algorithm off, so asyncio sends a
    response's headers and body at once instead of waiting for the client's delayed ACK (about 40 ms)."""
    listener = bind()
    try:
        with socket.create_connection(listener.getsockname()[:2], timeout=5) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                client.sendall(b"x")
                assert accepted.recv(1) == b"x"
    finally:
        listener.close()


@contextmanager
def served_cli(*args: str) -> Iterator[dict[str, str]]:
    """Run `pinaudience emulator serve` and yield what it printed before `ready`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinaudience", "emulator", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    printed: dict[str, str] = {}
    try:
        while True:
            line = lines.get(timeout=STARTUP_TIMEOUT_S)
            if line is None:
                raise AssertionError(f"serve exited early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}")
            if line == "ready":
                break
            key, _, value = line.partition(": ")
            printed[key] = value
        yield printed
    finally:
        proc.terminate()
        proc.wait(timeout=STARTUP_TIMEOUT_S)
        if proc.stderr is not None:
            proc.stderr.close()
        if proc.stdout is not None:
            proc.stdout.close()


async def test_serve_command_prints_seed_then_ready(tmp_path: Path) -> None:
    """The CLI prints the base URL and the seed credentials, then `ready`; with --db a restart keeps the lists."""
    db = tmp_path / "emulator.sqlite"
    with served_cli("--db", str(db)) as printed:
        assert printed["base_url"].startswith("http://127.0.0.1:")
        assert printed["api_base"] == printed["base_url"] + "/v5"
        assert printed["app_id"] == SEED_APP_ID
        assert printed["app_secret"] == SEED_APP_SECRET
        assert printed["access_token"] == SEED_ACCESS_TOKEN
        assert printed["refresh_token"] == SEED_REFRESH_TOKEN
        assert printed["conversion_token"] == SEED_CONVERSION_TOKEN
        assert printed["ad_account_id"] == SEED_AD_ACCOUNT_ID
        async with httpx.AsyncClient(base_url=printed["base_url"], headers=AUTH) as client:
            created = await client.post(lists_url(), json={"name": "kept", "records": joined(emails(3))})
            assert created.status_code == 200
    with served_cli("--db", str(db)) as printed:
        async with httpx.AsyncClient(base_url=printed["base_url"], headers=AUTH) as client:
            listed = (await client.get(lists_url())).json()["items"]
            assert [item["name"] for item in listed] == ["kept"]


async def test_serve_command_takes_a_profile() -> None:
    """`serve --profile realistic` serves the realistic profile's settings and says so; an unknown one is refused."""
    with served_cli("--profile", "realistic") as printed:
        assert printed["profile"] == "realistic"
        async with httpx.AsyncClient(base_url=printed["base_url"]) as client:
            settings = (await client.get("/_emulator/settings")).json()
    assert settings == EmulatorSettings.from_profile("realistic").to_dict()
    refused = subprocess.run(
        [sys.executable, "-m", "pinaudience", "emulator", "serve", "--port", "0", "--profile", "optimistic"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "--profile" in refused.stderr
