"""What every benchmark measures about itself and the machine: CPU time, peak RSS, the machine, the load."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
from pathlib import Path

import polars as pl

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds() -> float:
    """User plus system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """Another process's CPU time so far (user plus system, all threads), from `/proc/PID/stat`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_kib(path: Path, field: str) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def peak_rss_mib() -> float:
    """This process's peak RSS since it started or since the last `reset_peak_rss` (Linux `VmHWM`)."""
    status = Path("/proc/self/status")
    if status.exists():
        return status_kib(status, "VmHWM") / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Start a new peak: writing 5 to `/proc/self/clear_refs` resets `VmHWM` to the current RSS (Linux)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    memory = 0
    with contextlib.suppress(OSError, StopIteration, ValueError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = next(
            int(line.split()[1]) // 1024 // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory} GB RAM, Python {platform.python_version()}, Polars {pl.__version__}"
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f}"
