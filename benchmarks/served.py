"""What the upload and end-to-end benchmarks share: the emulator served in its own process, and one sync
run in a child process that measures each of its phases.

Not a benchmark itself. `upload.py` and `e2e.py` import it from this directory (a script's own directory
is on `sys.path`), so each of them still runs alone: `python benchmarks/upload.py`.

- `Server`: `pinaudience emulator serve --port 0` as a subprocess, so the emulator and the client never
  share a GIL or a core's worth of Python; the admin API, and the server's own CPU time and peak RSS read
  from `/proc`.
- `run_sync`: `pinaudience.sync` in a fresh interpreter (`python served.py SPEC.json`). At every
  `PhaseStarted` event the child notes the wall clock, its CPU time (user plus system, all threads) and its
  peak RSS since the previous phase began (`VmHWM`, reset through `/proc/self/clear_refs` at each phase, so
  that each phase's peak is its own), then prints one JSON line: the phases, the sync report, the times
  at which each upload batch was acknowledged, the times at which each ADD/REMOVE request left, and how
  long each write waited for the rate limiter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from measure import cpu_seconds, peak_rss_mib, process_cpu_seconds, reset_peak_rss, status_kib

STARTUP_TIMEOUT_S = 60.0


# --- the emulator in its own process ---------------------------------------------------------------


class Server:
    """`pinaudience emulator serve` on a free loopback port, in a subprocess, until `close()`."""

    def __init__(self, db: Path | None = None) -> None:
        command = [sys.executable, "-m", "pinaudience", "emulator", "serve", "--port", "0"]
        if db is not None:
            command += ["--db", str(db)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        printed: dict[str, str] = {}
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                line = None
            if line is None:
                self.close()
                raise RuntimeError("`pinaudience emulator serve` did not print `ready`")
            if line == "ready":
                break
            name, _, value = line.partition(": ")
            printed[name] = value
        self.base_url = printed["base_url"]
        self.api_base = printed["api_base"]
        self.access_token = printed["access_token"]
        self.ad_account_id = printed["ad_account_id"]
        self.admin = httpx.Client(base_url=self.base_url, timeout=600.0)

    def close(self) -> None:
        with contextlib.suppress(AttributeError):
            self.admin.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.admin.request(method, f"/_emulator{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self, **settings: Any) -> None:
        """Forget every list, window and logged request, then apply `settings` (`EmulatorSettings` names)."""
        self.call("POST", "/reset")
        if settings:
            self.call("PUT", "/settings", settings)

    def requests(self) -> list[dict[str, Any]]:
        """The Pinterest calls the emulator logged (the last 10,000): operation, status, records."""
        result: list[dict[str, Any]] = self.call("GET", "/requests")["requests"]
        return result

    def members(self, customer_list_id: str) -> pl.Series:
        """The list's membership as the emulator holds it (through the admin API; Pinterest cannot list it)."""
        response = self.admin.get(f"/_emulator/customer_lists/{customer_list_id}/records")
        response.raise_for_status()
        return pl.Series("record", json.loads(response.content)["records"], dtype=pl.String)

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far (user plus system, all threads)."""
        return process_cpu_seconds(self.process.pid)

    def peak_rss_mib(self) -> float:
        return status_kib(Path(f"/proc/{self.process.pid}/status"), "VmHWM") / 1024


def same_records(members: pl.Series, expected: pl.Series) -> bool:
    """Whether the emulator's membership is exactly the expected set of records (no loss, nothing extra)."""
    if members.len() != expected.len():
        return False
    return bool((members.sort() == expected.sort()).all())


# --- one sync in a child process -----------------------------------------------------------------


@dataclasses.dataclass
class SyncSpec:
    """Everything a child process needs to run one sync against the served emulator."""

    api_base: str
    access_token: str
    ad_account_id: str
    input: str
    list_name: str
    state_dir: str
    batch_size: int
    write_limit: tuple[int, float]
    read_limit: tuple[int, float]
    per_second: int
    writes_in_flight: int
    writes_in_flight_per_list: int | None = None
    """None: the product's default."""
    max_attempts: int = 10
    max_remove_fraction: float = 0.5
    server_pid: int | None = None
    """The served emulator's process: its CPU time is noted at each phase too."""


def run_sync(spec: SyncSpec, workdir: Path) -> dict[str, Any]:
    """Run one sync in a fresh interpreter; returns its phases, report and batch times (see `child`)."""
    path = workdir / f"sync-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(dataclasses.asdict(spec)))
    done = subprocess.run([sys.executable, __file__, str(path)], capture_output=True, text=True)
    path.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"the sync's child process failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def child(spec_path: Path) -> None:
    from pinaudience import sync
    from pinaudience.clock import SystemClock
    from pinaudience.config import AudienceSettings, Credentials, PinterestSettings, Secret, Settings, SyncMode
    from pinaudience.engine.events import PhaseStarted, SyncEvent, UploadProgress
    from pinaudience.pinterest.events import RequestSent
    from pinaudience.pinterest.limits import Category, RateLimit
    from pinaudience.pinterest.ratelimit import LocalRateLimiter

    spec = SyncSpec(**json.loads(spec_path.read_text()))
    settings = Settings(
        pinterest=PinterestSettings(
            ad_account_id=spec.ad_account_id,
            credentials=Credentials(access_token=Secret(spec.access_token)),
            api_base=spec.api_base,
            ads_write_limit=RateLimit(*spec.write_limit),
            ads_read_limit=RateLimit(*spec.read_limit),
            per_second=spec.per_second,
            writes_in_flight=spec.writes_in_flight,
            max_attempts=spec.max_attempts,
            **(
                dict[str, Any](writes_in_flight_per_list=spec.writes_in_flight_per_list)
                if spec.writes_in_flight_per_list is not None
                else {}
            ),
        ),
        audiences=(
            AudienceSettings(
                input=Path(spec.input),
                list_name=spec.list_name,
                mode=SyncMode.MIRROR,
                batch_size=spec.batch_size,
                max_remove_fraction=spec.max_remove_fraction,
            ),
        ),
        state_dir=Path(spec.state_dir),
    )
    phases: list[dict[str, Any]] = []
    acknowledged: list[float] = []
    updates_sent: list[float] = []
    start = time.perf_counter()

    def server_cpu() -> float:
        return process_cpu_seconds(spec.server_pid) if spec.server_pid else 0.0

    def close_phase() -> None:
        if phases:
            phase = phases[-1]
            phase["seconds"] = time.perf_counter() - phase.pop("_start")
            phase["cpu_seconds"] = cpu_seconds() - phase.pop("_cpu")
            phase["server_cpu_seconds"] = server_cpu() - phase.pop("_server_cpu")
            phase["peak_rss_mib"] = peak_rss_mib()
            reset_peak_rss()

    def observe(event: SyncEvent) -> None:
        if isinstance(event, PhaseStarted):
            close_phase()
            phases.append(
                {
                    "phase": event.phase,
                    "_start": time.perf_counter(),
                    "_cpu": cpu_seconds(),
                    "_server_cpu": server_cpu(),
                }
            )
        elif isinstance(event, UploadProgress):
            acknowledged.append(time.perf_counter() - start)
        elif isinstance(event, RequestSent) and event.operation == "customer_lists/update":
            updates_sent.append(time.perf_counter() - start)

    write_waits: list[float] = []

    class TimedLimiter(LocalRateLimiter):
        """The engine's limiter, noting how long each write waited for its slot."""

        async def acquire(self, category: Category, *, key: str | None = None) -> None:
            began = time.perf_counter()
            await super().acquire(category, key=key)
            if category is Category.ADS_WRITE:
                write_waits.append(time.perf_counter() - began)

    clock = SystemClock()
    limiter = TimedLimiter.from_settings(settings.pinterest, clock)
    startup_peak = peak_rss_mib()
    reset_peak_rss()
    run = sync(settings, observer=observe, clock=clock, limiter=limiter)
    close_phase()
    report = run.audiences[0]
    result = {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": cpu_seconds(),
        "startup_peak_rss_mib": startup_peak,
        "phases": phases,
        "acknowledged_at": acknowledged,
        "updates_sent_at": updates_sent,
        "write_waits": write_waits,
        "report": report.to_dict(),
    }
    print(json.dumps(result))


# --- measuring a process -----------------------------------------------------------------------------


if __name__ == "__main__":
    child(Path(sys.argv[1]))
