"""`kill -9` during `pinaudience events`, then the same command again: every event recorded, few sent twice.

Each cycle writes a new events file, starts `pinaudience events` against the served emulator, SIGKILLs it a seeded
random moment after it logs `uploading`, runs it again to completion, and checks that Pinterest recorded every
event of the file and that the events sent twice are at most the batches that can be in flight at once.
"""

from __future__ import annotations

import csv
import random
import time
from pathlib import Path

import httpx

from pinaudience.emulator import SEED_AD_ACCOUNT_ID
from tests.reliability.test_kill import cli, emulator_profile, kill_during, served

__all__ = ["emulator_profile", "served"]  # the fixtures this module shares with the sync kill test

CYCLES = 4
EVENTS = 3000
BATCH = 100
IN_FLIGHT = 2  # limits.DEFAULT_WRITES_IN_FLIGHT
SEED = 20261206


def _write(path: Path, start: int) -> None:
    when = int(time.time()) - 600
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("email", "event_time", "order_id"))
        writer.writerows((f"buyer{i}@example.com", when, f"K-{i}") for i in range(start, start + EVENTS))


def test_kill_nine_during_upload_then_rerun_records_every_event(served: str, tmp_path: Path) -> None:
    """Killed mid-upload and run again: every event recorded once; at most the in-flight batches sent twice."""
    rng = random.Random(SEED)
    source = tmp_path / "events.csv"
    command = cli(
        "events", str(source), "--ad-account-id", SEED_AD_ACCOUNT_ID, "--api-base", f"{served}/v5",
        "--state", str(tmp_path / "state"), "--token-store", str(tmp_path / "tokens.json"),
        "--event-name", "checkout", "--action-source", "web", "--batch-size", str(BATCH), "--log-format", "json",
    )  # fmt: skip
    with httpx.Client(base_url=served, timeout=30) as admin:
        # Each call takes 40 ms more, so that an upload of 30 batches lasts long enough to be killed in.
        admin.put("/_emulator/settings", json={"latency_ms": 40}).raise_for_status()
        received = kills = 0
        for cycle in range(CYCLES):
            _write(source, cycle * EVENTS)
            killed, phases = kill_during(command, "uploading", rng.uniform(0.0, 0.3))
            kills += killed
            killed_again, _ = kill_during(command, "never", 0.0)
            assert not killed_again, phases
            counts = admin.get(f"/_emulator/ad_accounts/{SEED_AD_ACCOUNT_ID}/events").json()
            assert counts["unique_event_ids"] == (cycle + 1) * EVENTS, (cycle, phases)
            twice = counts["received"] - received - EVENTS
            assert 0 <= twice <= (BATCH * IN_FLIGHT if killed else 0), (cycle, killed, twice)
            received = counts["received"]
    assert kills >= CYCLES // 2, "too few runs were killed before they finished: the test would prove little"
