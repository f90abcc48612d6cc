"""`kill -9` at seeded random moments: a `pinaudience sync` subprocess against a served emulator with a `--db`.

Each cycle changes the customers file (some members leave, some join), starts `pinaudience sync`, waits
for the phase chosen for this cycle (reading, planning, uploading or finishing) in its log, kills it
with SIGKILL after a seeded random delay, runs the same sync again to completion, and checks that the
emulator's membership equals the file exactly and that no record reached Pinterest more than twice in
the cycle (once from the killed run, once more at most if its batch was in flight). It runs in every
emulator profile (`emulator serve --profile NAME`): 24 cycles in `default`, 4 (one per phase) in `realistic`,
whose per-list write throttle makes every run slower.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pinaudience.emulator import PROFILE_NAMES, SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID
from tests.helpers import emails, expected_members

pytestmark = pytest.mark.reliability

CYCLES = {"default": 24, "realistic": 4}
POSTGRES_CYCLES = 8
PHASES = ("reading", "planning", "uploading", "finishing")
SEED = 20261122
PHASE_LINE = re.compile(r"\b(reading|resolving|planning|uploading|finishing)\b")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pinaudience", *args]


@pytest.fixture(params=PROFILE_NAMES)
def emulator_profile(request: pytest.FixtureRequest) -> str:
    """The kill test runs against every emulator profile."""
    profile: str = request.param
    return profile


@pytest.fixture
def served(tmp_path: Path, emulator_profile: str) -> Iterator[str]:
    """`pinaudience emulator serve --profile NAME` on a free port with a SQLite `--db`; yields its base URL."""
    database = str(tmp_path / "emulator.sqlite3")
    process = subprocess.Popen(
        cli("emulator", "serve", "--port", "0", "--db", database, "--profile", emulator_profile),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    base_url = None
    deadline = time.monotonic() + 60
    for line in process.stdout:
        if line.startswith("base_url:"):
            base_url = line.split(":", 1)[1].strip()
        if line.strip() == "ready" or time.monotonic() > deadline:
            break
    assert base_url, "the emulator did not print its base URL"
    drain = threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True)
    drain.start()
    try:
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)
        drain.join(timeout=30)
        process.stdout.close()


def sync_command(base_url: str, source: Path, tmp_path: Path, state: str | None = None) -> list[str]:
    """The sync of each cycle; its state a directory in `tmp_path`, or `state` (a `postgresql://` URL)."""
    return cli(
        "sync",
        str(source),
        "--ad-account-id",
        SEED_AD_ACCOUNT_ID,
        "--list-name",
        "Kill test",
        "--api-base",
        f"{base_url}/v5",
        "--state",
        state or str(tmp_path / "state"),
        "--token-store",
        str(tmp_path / "tokens.json"),
        "--batch-size",
        "250",
        "--max-remove-fraction",
        "1",
        "--log-format",
        "json",
    )


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINTEREST_")}
    return {**env, "PINTEREST_ACCESS_TOKEN": SEED_ACCESS_TOKEN, "PYTHONUNBUFFERED": "1"}


def kill_during(command: list[str], phase: str, delay_s: float) -> tuple[bool, str]:
    """Run `command`, SIGKILL it `delay_s` after it logs `phase`; True if it was killed (not finished)."""
    seen: list[str] = []
    timer: threading.Timer | None = None
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment()
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            match = PHASE_LINE.search(line)
            if match:
                seen.append(match.group(1))
                if match.group(1) == phase and timer is None:
                    timer = threading.Timer(delay_s, process.send_signal, args=(signal.SIGKILL,))
                    timer.start()
        process.wait(timeout=120)
    if timer is not None:
        timer.cancel()
    return process.returncode == -signal.SIGKILL, " > ".join(seen)


def test_kill_nine_at_random_moments_never_loses_or_repeats(served: str, tmp_path: Path, emulator_profile: str) -> None:
    """Cycles each killed in a seeded phase and moment, then resumed: exact membership, at most two sends."""
    rng = random.Random(SEED)
    with httpx.Client(base_url=served, timeout=30) as admin:
        run_cycles(admin, served, tmp_path, rng, CYCLES[emulator_profile])


@pytest.mark.parametrize("emulator_profile", ["default"])
def test_kill_nine_with_a_postgresql_state(served: str, tmp_path: Path, postgres_url: str) -> None:
    """The same cycles with the state in PostgreSQL (two per phase): a killed run's session, and its lock, go with
    its process; the rerun resends what was pending and ends exact, no record sent more than twice."""
    rng = random.Random(SEED)
    with httpx.Client(base_url=served, timeout=30) as admin:
        run_cycles(admin, served, tmp_path, rng, POSTGRES_CYCLES, state=postgres_url)


def run_cycles(
    admin: httpx.Client, served: str, tmp_path: Path, rng: random.Random, cycles: int, state: str | None = None
) -> None:
    admin.put(
        "/_emulator/settings", json={"track_sends": True, "latency_ms": 15, "latency_per_record_us": 20}
    ).raise_for_status()
    source = tmp_path / "customers.csv"
    members = list(range(0, 3000))
    source.write_text("email\n" + "".join(f"  {e}\n" for e in emails(3000, local="Member.", domain="Example.com")))
    report = tmp_path / "first.json"
    first = subprocess.run(
        [*sync_command(served, source, tmp_path, state), "--report", str(report)],
        env=environment(),
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr[-2000:]
    data = json.loads(report.read_text())
    (audience,) = data.get("audiences", [data])
    list_id = audience["customer_list_id"]

    kills: Counter[str] = Counter()
    next_id = 3000
    for cycle in range(cycles):
        leave = set(rng.sample(members, 300))
        members = [m for m in members if m not in leave] + list(range(next_id, next_id + 400))
        next_id += 400
        values = [f"Member.{i}@Example.com" for i in members]
        source.write_text("email\n" + "".join(f"{v}\n" for v in values))
        admin.delete("/_emulator/sends").raise_for_status()
        phase = PHASES[cycle % len(PHASES)]
        delay = rng.uniform(0.0, 0.25 if phase == "uploading" else 0.02)
        killed, seen = kill_during(sync_command(served, source, tmp_path, state), phase, delay)
        if killed:
            kills[phase] += 1
        resumed = subprocess.run(
            sync_command(served, source, tmp_path, state), env=environment(), capture_output=True, text=True
        )
        assert resumed.returncode == 0, f"cycle {cycle} ({phase}, {seen}): {resumed.stderr[-2000:]}"
        held = admin.get(f"/_emulator/customer_lists/{list_id}/records").json()["records"]
        assert sorted(held) == expected_members(values), f"cycle {cycle}: membership differs after a kill in {phase}"
        sends = admin.get(f"/_emulator/customer_lists/{list_id}/sends").json()["sends"]
        most = max((int(times) for histogram in sends.values() for times in histogram), default=0)
        assert most <= 2, f"cycle {cycle}: a record was sent {most} times ({sends})"
    assert sum(kills.values()) >= cycles * 5 // 6, (
        f"only {sum(kills.values())} runs were killed before finishing: {kills}"
    )
    assert len(kills) >= min(len(PHASES), cycles - 1), f"kills by phase: {kills}"
