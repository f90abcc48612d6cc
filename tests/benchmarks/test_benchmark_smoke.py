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


def test_events_prepare_benchmark_runs_and_both_modes_agree() -> None:
    """The conversion events benchmark generates a small file, runs the vectorised preparation and the per-row
    loop as whole processes, finds every count and event id equal, and prints the ratio."""
    out = run_benchmark("events_prepare.py", "--rows", "2000")
    assert (
        "the same work: rows, events sent, rejects by reason, invalid values by field and every event id agree" in out
    )
    assert "vectorised vs loop: " in out
    assert out.count(" rows/s ") == 2
