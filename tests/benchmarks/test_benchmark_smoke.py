"""The upload and end-to-end benchmarks, run at a tiny size so that they cannot rot.

Each runs as a user would run it (`python benchmarks/NAME.py ...`, serving the emulator in a subprocess of
its own) and must finish, verify the emulator's membership, and print its figures. The figures themselves
are not checked: timing goals belong to the benchmarks, run at their real size (docs/benchmarks.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
TIMEOUT_S = 120


def run_benchmark(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_upload_benchmark_runs_and_loses_nothing() -> None:
    """At the limit and under a shared quota with bare 429s, the upload benchmark completes every sync,
    finds the emulator's membership equal to the file, and prints the utilisation ratio and the 429 share."""
    out = run_benchmark(
        "upload.py",
        "--batches",
        "12",
        "--batch-size",
        "20",
        "--scale",
        "100",
        "--shared",
        "0.02",
        "--cases",
        "limit,bare",
    )
    assert out.count("no loss (the emulator's membership equals the file exactly): yes") == 2
    assert out.count("(write limit x batch size) = ratio") == 2
    assert "against the server's own, shared, limit: ratio" in out
    assert "429s: 0 seen by the client" in out  # at the limit, none
    assert out.count("bound by: ") == 2
    assert "NO" not in out


def test_e2e_benchmark_runs_and_matches_the_files() -> None:
    """The end-to-end benchmark runs a first and an incremental sync of a small generated file, prints each
    phase, and finds the emulator's membership equal to the desired set after each."""
    out = run_benchmark("e2e.py", "--rows", "3000", "--batch-size", "500")
    assert out.count("the emulator's membership equals the desired set exactly: yes") == 2
    for phase in ("reading", "resolving", "planning", "uploading", "finishing"):
        assert out.count(f"  {phase} ") == 2
    assert "list created True, audience created True" in out
    assert "list created False, audience created False" in out


def test_ratelimit_benchmark_runs_both_variants() -> None:
    """The shared-limiter benchmark starts its own Redis, runs the local and the Redis variant, and prints the
    rate over the ceiling and the fullest window of each."""
    from tests.servers import redis_server_binary, require

    if redis_server_binary() is None:
        require("redis-server is not installed")
    out = run_benchmark("ratelimit.py", "--processes", "2", "--seconds", "1", "--limit", "30/1")
    for variant in ("local", "redis"):
        assert f"{variant:6} 2 processes:" in out
    assert out.count("rate/ceiling") == 2


def test_fleet_benchmark_runs_both_fleets_and_finds_them_exact() -> None:
    """A tiny fleet with local shares and a naive one (each worker at the full limit): both complete, every
    audience exact, and the ratio, 429s and refreshes printed for each."""
    out = run_benchmark(
        "fleet.py", "--cases", "share,naive", "--audiences", "4", "--workers", "2", "--records", "100",
        "--window-s", "10",
    )  # fmt: skip
    assert out.count("exact membership for every audience: yes") == 2
    assert out.count("shared ceiling: ") == 2
    assert "case    ratio  busiest window  429s (per user)  refreshes  failed  exact  wall" in out
    assert "NO" not in out


def test_state_backends_benchmark_runs_both_backends() -> None:
    """The state backends benchmark starts its own PostgreSQL, runs every phase against both backends at a tiny
    size, and prints the ratios (each phase checks its own counts)."""
    from tests.servers import postgres_bin_dir, require

    if postgres_bin_dir() is None:
        require("PostgreSQL's server binaries (pg_ctl, initdb) are not installed")
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "state_backends.py"), "--rows", "20000"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    for phase in ("load", "compact", "plan", "journal", "recompact"):
        assert f"  embedded   {phase} " in done.stdout
        assert f"  postgresql {phase} " in done.stdout
    assert "planning and compaction (compact + plan + recompact)" in done.stdout


def test_events_prepare_benchmark_runs_and_both_modes_agree() -> None:
    """The conversion events benchmark generates a small file, runs the vectorised preparation and the per-row
    loop as whole processes, finds every count and event id equal, and prints the ratio."""
    out = run_benchmark("events_prepare.py", "--rows", "2000")
    assert (
        "the same work: rows, events sent, rejects by reason, invalid values by field and every event id agree" in out
    )
    assert "vectorised vs loop: " in out
    assert out.count(" rows/s ") == 2


def test_events_upload_benchmark_runs_and_loses_nothing() -> None:
    """The events upload benchmark completes, finds every event recorded once, a rerun sending nothing, and prints
    the utilisation ratio and the 429 count."""
    out = run_benchmark("events_upload.py", "--calls", "30", "--scale", "0.5")
    assert "no loss, no double count (every event recorded once): yes" in out
    assert "rerun sends nothing: yes" in out
    assert "calls per window achieved / ceiling" in out
    assert "429s: 0 seen by the server" in out
