"""Helpers of the CLI tests: run `pinaudience` in a subprocess, talk to a served emulator, check privacy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, SEED_APP_SECRET, SEED_REFRESH_TOKEN

ACCOUNT = SEED_AD_ACCOUNT_ID
CANARY_EMAIL = "Canary.Person@Private.Example"
"""A customer whose address must never show in any output, report, log or state file."""
KNOWN_SECRETS = (SEED_ACCESS_TOKEN, SEED_REFRESH_TOKEN, SEED_APP_SECRET)
CLI_TIMEOUT_S = 60


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without any Pinterest or pinaudience setting, homed in `home`.

    XDG folders point into `home`, so a default state directory or token store never touches the user's.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINTEREST_", "PINAUDIENCE_", "XDG_"))}
    env.update(
        HOME=str(home),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        COLUMNS="200",
        PYTHONIOENCODING="utf-8",
    )
    env.update(extra)
    return env


def run_cli(*args: str | Path, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`pinaudience ARGS` through its real entry point (`python -m pinaudience`)."""
    return subprocess.run(
        [sys.executable, "-m", "pinaudience", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
        env=env,
        cwd=cwd,
    )


def assert_private(
    result: subprocess.CompletedProcess[str], *secrets: str, files: Iterable[Path] = (), raw: Iterable[str] = ()
) -> None:
    """No token, secret or raw email in stdout, stderr or `files`; and no traceback."""
    texts = {"stdout": result.stdout, "stderr": result.stderr}
    for path in files:
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    forbidden = [*KNOWN_SECRETS, *secrets, CANARY_EMAIL, CANARY_EMAIL.lower(), *raw]
    for where, text in texts.items():
        assert "Traceback" not in text, f"a traceback in {where}"
        for value in forbidden:
            assert value not in text, f"a secret or a raw identifier in {where}"


def state_files(state_dir: Path) -> list[Path]:
    return [p for p in state_dir.rglob("*") if p.is_file()] if state_dir.exists() else []


@dataclass
class Served:
    """A `pinaudience emulator serve` subprocess: its URLs and its admin API."""

    base_url: str
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=10)

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/v5"

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"/_emulator{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        self._send("POST", "/reset")

    def settings(self, **changes: Any) -> None:
        self._send("PUT", "/settings", changes)

    def profile(self, name: str) -> None:
        """Every setting to the profile's (`default`, `realistic`)."""
        self._send("PUT", "/profile", {"name": name})

    def advance(self, seconds: float) -> None:
        """Move the emulator's own time on (matching, token expiry, rate windows); the test's clock is untouched."""
        self._send("POST", "/clock/advance", {"seconds": seconds})

    def current_settings(self) -> dict[str, Any]:
        result: dict[str, Any] = self._send("GET", "/settings")
        return result

    def faults(self, *rules: dict[str, Any]) -> None:
        self._send("PUT", "/faults", {"rules": list(rules)})

    def records(self, customer_list_id: str) -> list[str]:
        return sorted(self._send("GET", f"/customer_lists/{customer_list_id}/records")["records"])

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._send("GET", "/requests")["requests"]
        return result

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] in ("POST", "PATCH") and r["operation"] != "oauth/token"]

    def tokens_for(self, user: str, roles: dict[str, str] | None = None) -> dict[str, Any]:
        """A new user (with these Business Access roles) and a token pair of theirs for the seed app."""
        self._send("POST", "/users", {"name": user, "ad_accounts": roles or {}})
        pair: dict[str, Any] = self._send("POST", "/tokens", {"user": user})
        return pair

    def revoke(self, token: str) -> None:
        self._send("POST", "/tokens/revoke", {"token": token})


def config_file(path: Path, served: Served, body: str = "", /, **pinterest: object) -> Path:
    """A TOML config pointing at the served emulator; `pinterest` adds keys to its [pinterest] table."""
    lines = ["[pinterest]", f'ad_account_id = "{ACCOUNT}"', f'api_base = "{served.api_base}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in pinterest.items()]
    path.write_text("\n".join(lines) + "\n" + body, encoding="utf-8")
    return path
