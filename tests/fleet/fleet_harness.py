"""The fleet harness: one served emulator, many `pinaudience sync --audience NAME` worker processes, the checks.

A fleet is what docs/fleet.md describes: one Pinterest user and app, several ad accounts, one config file per
ad account, one job per audience (`pinaudience sync --config FILE --audience NAME`), a few jobs at a time, all
sharing one state (a directory today, or a `postgresql://` URL) and one rate limit (local limiters at a share
of it each, or one limiter in Redis through `--rate-limit-url`).

- `ServedEmulator`: `pinaudience emulator serve --port 0` in a process of its own, with time scaled through its
  `window_s` (Pinterest's 400 writes a minute become 400 in `window_s` seconds), extra ad accounts owned by its
  seed user, and a fresh token pair; its admin API answers the counters the checks read.
- `Fleet`: writes the customer files and one config per ad account, then `run` starts the workers, at most
  `workers` at once, each `python -m pinaudience sync --config CFG --audience NAME --state STATE
  [--rate-limit-url URL]`. While they run it can expire the shared access token once a share of the writes went
  through, and SIGKILL chosen jobs a moment after they log `uploading`; a killed job is queued again, as an
  orchestrator's retry would run it. It returns every attempt (exit code, report, last log lines).
- The checks: exact membership per audience, 429s by cause, refreshes seen, and `ceiling_ratio`: how close the
  admitted writes came to the shared ceiling over the busy span.

No pytest here: `benchmarks/fleet.py` runs the same harness at a larger size.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pinaudience.emulator import SEED_AD_ACCOUNT_ID, SEED_APP_ID, SEED_APP_SECRET, SEED_USER
from tests.helpers import emails, expected_members, write_csv

STARTUP_TIMEOUT_S = 60.0
WORKER_TIMEOUT_S = 180.0
PHASE_LINE = re.compile(r"\b(reading|resolving|planning|uploading|finishing)\b")
PER_USER_CAUSES = ("ads_write", "ads_read", "per_second")
"""429 causes that mean the fleet overran the limits of its one Pinterest user and app."""
EXTRA_AD_ACCOUNTS = ("549755885176", "549755885177", "549755885178", "549755885179")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pinaudience", *args]


# --- the emulator ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """Pinterest's limits with time running faster: `ads_write_per_window` writes in any `window_s` seconds."""

    ads_write_per_window: int = 400
    ads_read_per_window: int = 1000
    window_s: float = 40.0
    """Pinterest's window is 60 s: 40 s runs time 1.5 times faster. The ceiling (10 writes a second) must stay well
    below what the workers can send, or the machine, not the limiter, bounds the ratio: on the 2-core machine at a
    load of 20, six workers at the full limit each sent 16 writes a second at most."""
    per_second: int = 100


class ServedEmulator:
    """`pinaudience emulator serve --port 0` in a subprocess, and a synchronous client of its admin API."""

    def __init__(self, home: Path) -> None:
        self.process = subprocess.Popen(
            cli("emulator", "serve", "--port", "0"),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**clean_env(home), "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        printed: dict[str, str] = {}
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        for line in self.process.stdout:
            if line.strip() == "ready" or time.monotonic() > deadline:
                break
            key, _, value = line.strip().partition(": ")
            printed[key] = value
        if "base_url" not in printed:
            self.close()
            raise RuntimeError("the emulator did not print its base URL")
        threading.Thread(target=lambda: [None for _ in self.process.stdout or []], daemon=True).start()
        self.base_url = printed["base_url"]
        self.api_base = f"{self.base_url}/v5"
        self.http = httpx.Client(base_url=f"{self.base_url}/_emulator", timeout=60)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def prepare(self, scale: Scale, ad_accounts: int) -> tuple[list[str], dict[str, Any]]:
        """Scale time, add ad accounts owned by the seed user, start counting afresh; the accounts and a new token
        pair of the seed user for the seed app (one user and app for the whole fleet)."""
        self.admin(
            "PUT",
            "/settings",
            {
                "ads_write_per_window": scale.ads_write_per_window,
                "ads_read_per_window": scale.ads_read_per_window,
                "window_s": scale.window_s,
                "per_second": scale.per_second,
                "track_sends": True,
            },
        )
        accounts = [SEED_AD_ACCOUNT_ID, *EXTRA_AD_ACCOUNTS[: ad_accounts - 1]]
        for account in accounts[1:]:
            self.admin("POST", "/ad_accounts", {"id": account, "name": f"Fleet {account}", "owner": SEED_USER})
        tokens: dict[str, Any] = self.admin("POST", "/tokens", {"user": SEED_USER, "app_id": SEED_APP_ID})
        self.admin("DELETE", "/counters")
        return accounts, tokens

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "/counters")
        return result

    def records(self, customer_list_id: str) -> list[str]:
        return sorted(self.admin("GET", f"/customer_lists/{customer_list_id}/records")["records"])

    def sends(self, customer_list_id: str) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = self.admin("GET", f"/customer_lists/{customer_list_id}/sends")["sends"]
        return result

    def cpu_s(self) -> float:
        """The emulator process's CPU time so far (user plus system), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def expire(self, token: str) -> None:
        self.admin("POST", "/tokens/expire", {"token": token})

    def close(self) -> None:
        if hasattr(self, "http"):
            self.http.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def served_emulator(home: Path) -> Iterator[ServedEmulator]:
    emulator = ServedEmulator(home)
    try:
        yield emulator
    finally:
        emulator.close()


def children_cpu_s() -> float:
    """CPU time of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without Pinterest or pinaudience settings, its XDG folders in `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINTEREST_", "PINAUDIENCE_", "XDG_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_STATE_HOME=str(home / "state"), XDG_CONFIG_HOME=str(home / "config"))
    env.update(extra)
    return env


# --- the fleet -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backends:
    """What the workers share besides Pinterest.

    `state` is a directory (the embedded store, shared by every worker on this machine) or a `postgresql://` URL
    (tokens then live there too). `rate_limit_url` is a `redis://` URL of the shared limiter, or None: then each
    worker paces itself with a local limiter at `local_share` of the limits (1/workers: the fleet's sum is the
    ceiling; 1.0: each worker at the full limit, the naive fleet that overruns it).
    """

    state: str
    rate_limit_url: str | None = None
    local_share: float = 1.0
    token_store: Path | None = None
    """A token store file shared by every worker (with an embedded state); None with a PostgreSQL state."""

    @property
    def label(self) -> str:
        state = "PostgreSQL state" if self.state.startswith("postgresql") else "shared state directory"
        if self.rate_limit_url:
            return f"{state}, Redis rate limiter"
        return f"{state}, local limiters at {self.local_share:.3g} of the limit each"


@dataclass(frozen=True)
class Job:
    """One audience: a job of the fleet."""

    config: Path
    name: str
    ad_account_id: str
    values: tuple[str, ...]


@dataclass
class Attempt:
    """One worker process running one job."""

    job: Job
    number: int
    report_path: Path
    process: subprocess.Popen[str]
    started: float
    kill_after_s: float | None = None
    phases: list[str] = field(default_factory=list)
    phase_times: list[float] = field(default_factory=list)
    """When each phase was first logged (this process's monotonic clock)."""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=30))
    killed: bool = False
    returncode: int | None = None
    ended: float | None = None

    @property
    def report(self) -> dict[str, Any] | None:
        if not self.report_path.is_file():
            return None
        data: dict[str, Any] = json.loads(self.report_path.read_text())
        return data

    @property
    def error_kind(self) -> str | None:
        report = self.report
        error = (report or {}).get("error") or {}
        kind = error.get("kind") if isinstance(error, dict) else None
        return str(kind) if kind is not None else None

    def timeline(self) -> str:
        """Seconds from the start to each phase, and to the end."""
        marks = [f"{phase} {at - self.started:.1f}" for phase, at in zip(self.phases, self.phase_times, strict=True)]
        end = f"end {self.ended - self.started:.1f}" if self.ended is not None else "running"
        return f"{self.job.name}#{self.number}: " + ", ".join([*marks, end])

    def describe(self) -> str:
        return (
            f"{self.job.name} attempt {self.number}: exit {self.returncode}, error {self.error_kind}, "
            f"phases {' > '.join(self.phases)}\n    " + "\n    ".join(self.tail)
        )


@dataclass
class FleetRun:
    """What one run of the fleet did."""

    attempts: list[Attempt]
    wall_s: float
    expired_at_writes: int | None = None
    workers_cpu_s: float = 0.0
    """CPU time (user plus system) of every worker process of the run."""
    emulator_cpu_s: float = 0.0
    """CPU time of the emulator's process during the run."""

    def final(self) -> dict[str, Attempt]:
        """The last attempt of each job."""
        return {attempt.job.name: attempt for attempt in self.attempts}

    def failures(self) -> list[Attempt]:
        """Attempts that ended in an error and were not killed on purpose."""
        return [a for a in self.attempts if not a.killed and a.returncode != 0]

    def killed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.killed]


class Fleet:
    """The files, configs and workers of one fleet; `run` runs every job once (killed ones again)."""

    def __init__(
        self,
        root: Path,
        emulator: ServedEmulator,
        backends: Backends,
        *,
        scale: Scale,
        accounts: list[str],
        tokens: dict[str, Any],
        audiences: int = 30,
        records: int = 300,
        batch_size: int = 20,
        workers: int = 6,
    ) -> None:
        self.root = root
        self.emulator = emulator
        self.backends = backends
        self.scale = scale
        self.accounts = accounts
        self.tokens = tokens
        self.workers = workers
        self.batch_size = batch_size
        self.home = root / "home"
        self.reports = root / "reports"
        self.reports.mkdir(parents=True, exist_ok=True)
        self.jobs: list[Job] = []
        per_account: dict[str, list[str]] = {a: [] for a in accounts}
        for index in range(audiences):
            account = accounts[index % len(accounts)]
            name = f"fleet-{index:03d}"
            values = tuple(emails(records, start=index * 1_000_000, local=f"a{index}.member"))
            write_csv(root / f"{name}.csv", values)
            per_account[account].append(name)
            self.jobs.append(Job(root / f"account-{account}.toml", name, account, values))
        for account, names in per_account.items():
            self._write_config(root / f"account-{account}.toml", account, names)

    def _write_config(self, path: Path, account: str, names: list[str]) -> None:
        share = 1.0 if self.backends.rate_limit_url else self.backends.local_share
        scale = self.scale
        write = max(int(scale.ads_write_per_window * share), 2)
        read = max(int(scale.ads_read_per_window * share), 2)
        lines = [
            "[pinterest]",
            f'ad_account_id = "{account}"',
            f'api_base = "{self.emulator.api_base}"',
            f'ads_write_limit = "{write}/{scale.window_s:g}"',
            f'ads_read_limit = "{read}/{scale.window_s:g}"',
            f"per_second = {max(int(scale.per_second * share), 1)}",
        ]
        if self.backends.token_store is not None:
            lines.append(f'token_store = "{self.backends.token_store}"')
        lines += ["", "[defaults]", f"batch_size = {self.batch_size}", "max_remove_fraction = 1.0", ""]
        for name in names:
            lines += ["[[audience]]", f'name = "{name}"', f'input = "{name}.csv"', f'list_name = "List {name}"', ""]
        path.write_text("\n".join(lines), encoding="utf-8")

    def change(self, job: Job, values: tuple[str, ...]) -> Job:
        """The job with a new customer file (the next night's segment)."""
        write_csv(self.root / f"{job.name}.csv", values)
        changed = Job(job.config, job.name, job.ad_account_id, values)
        self.jobs = [changed if j.name == job.name else j for j in self.jobs]
        return changed

    @property
    def expected_writes(self) -> int:
        """Writes of a first sync of every job: one per batch (the create carries the first) and the audience."""
        return sum(-(-len(job.values) // self.batch_size) + 1 for job in self.jobs)

    def env(self, home: Path | None = None) -> dict[str, str]:
        return clean_env(
            home or self.home,
            PINTEREST_APP_ID=SEED_APP_ID,
            PINTEREST_APP_SECRET=SEED_APP_SECRET,
            PINTEREST_REFRESH_ACCESS_TOKEN=self.tokens["refresh_token"],
            PINTEREST_ACCESS_TOKEN=self.tokens["access_token"],
            PYTHONUNBUFFERED="1",
        )

    def command(self, job: Job, report: Path) -> list[str]:
        args = ["sync", "--config", str(job.config), "--audience", job.name, "--state", self.backends.state]
        if self.backends.rate_limit_url:
            args += ["--rate-limit-url", self.backends.rate_limit_url]
        return cli(*args, "--report", str(report), "--log-format", "json")

    def run(
        self,
        *,
        kill: dict[str, float] | None = None,
        expire_after_writes: int | None = None,
        on_tick: Callable[[float], None] | None = None,
        deadline_s: float = 480.0,
    ) -> FleetRun:
        """Every job once, at most `workers` at a time; `kill` maps job names to seconds after their `uploading`
        line at which their first attempt gets SIGKILL (then the job is queued again); `expire_after_writes`
        expires the shared access token once the emulator admitted that many writes; `on_tick(elapsed_s)` is
        called about every 0.1 s while workers run (a test stops a server from it)."""
        kill = dict(kill or {})
        pending: deque[Job] = deque(self.jobs)
        running: list[Attempt] = []
        attempts: list[Attempt] = []
        numbers: dict[str, int] = {}
        expired_at: int | None = None
        cpu_before = children_cpu_s()
        emulator_before = self.emulator.cpu_s()
        started = time.monotonic()
        last_poll = 0.0
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    job = pending.popleft()
                    numbers[job.name] = numbers.get(job.name, 0) + 1
                    attempt = self._start(job, numbers[job.name], kill.pop(job.name, None))
                    running.append(attempt)
                    attempts.append(attempt)
                time.sleep(0.05)
                now = time.monotonic()
                if now - started > deadline_s:
                    raise AssertionError(f"the fleet did not finish in {deadline_s} s")
                if on_tick is not None:
                    on_tick(now - started)
                if expire_after_writes is not None and expired_at is None and now - last_poll > 0.25:
                    last_poll = now
                    admitted = int(self.emulator.counters()["admitted"].get("ads_write", 0))
                    if admitted >= expire_after_writes:
                        self.emulator.expire(self.tokens["access_token"])
                        expired_at = admitted
                for attempt in list(running):
                    code = attempt.process.poll()
                    if code is None:
                        continue
                    attempt.returncode = code
                    attempt.ended = now
                    running.remove(attempt)
                    if attempt.killed:
                        pending.appendleft(attempt.job)  # the orchestrator's retry, before the jobs not yet started
        finally:
            for attempt in running:  # only when the loop failed: no worker outlives the harness
                attempt.process.kill()
        for attempt in attempts:
            attempt.process.wait(timeout=10)
        return FleetRun(
            attempts,
            time.monotonic() - started,
            expired_at,
            workers_cpu_s=children_cpu_s() - cpu_before,
            emulator_cpu_s=self.emulator.cpu_s() - emulator_before,
        )

    def _start(self, job: Job, number: int, kill_after_s: float | None) -> Attempt:
        report = self.reports / f"{job.name}.{number}.json"
        # Without a shared token store file, each worker gets a home of its own, as on a machine of its own:
        # nothing local can carry a rotated token from one worker to the next, only the PostgreSQL state.
        home = self.home if self.backends.token_store is not None else self.root / "homes" / f"{job.name}.{number}"
        env = self.env(home)
        process = subprocess.Popen(
            self.command(job, report),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=self.root,
        )
        attempt = Attempt(job, number, report, process, time.monotonic(), kill_after_s)
        threading.Thread(target=self._watch, args=(attempt,), daemon=True).start()
        return attempt

    @staticmethod
    def _watch(attempt: Attempt) -> None:
        """Drain the worker's log; SIGKILL it `kill_after_s` after it says `uploading`, if it is to be killed."""
        assert attempt.process.stderr is not None
        timer: threading.Timer | None = None

        def kill() -> None:
            if attempt.process.poll() is None:
                attempt.killed = True
                attempt.process.send_signal(signal.SIGKILL)

        for line in attempt.process.stderr:
            attempt.tail.append(line.rstrip()[-300:])
            match = PHASE_LINE.search(line)
            if match and (not attempt.phases or attempt.phases[-1] != match.group(1)):
                attempt.phases.append(match.group(1))
                attempt.phase_times.append(time.monotonic())
                if match.group(1) == "uploading" and attempt.kill_after_s is not None and timer is None:
                    timer = threading.Timer(attempt.kill_after_s, kill)
                    timer.start()
        attempt.process.stderr.close()


# --- the checks ------------------------------------------------------------------------------------


def seeded_kills(names: list[str], workers: int, seed: int, count: int = 2) -> dict[str, float]:
    """`count` jobs, neither among the first `workers` nor the last, each killed a seeded 0.3 to 2 s after it
    starts uploading."""
    rng = random.Random(seed)
    middle = names[workers : max(len(names) - workers, workers + count)]
    return {name: round(rng.uniform(0.3, 2.0), 3) for name in rng.sample(middle, count)}


def membership_errors(fleet: Fleet, run: FleetRun) -> list[str]:
    """Audiences whose Pinterest membership is not exactly their file (or that never reported a list)."""
    problems: list[str] = []
    final = run.final()
    for job in fleet.jobs:
        attempt = final.get(job.name)
        report = attempt.report if attempt is not None else None
        list_id = (report or {}).get("customer_list_id")
        if not list_id:
            problems.append(f"{job.name}: no customer list in its report")
            continue
        held = fleet.emulator.records(str(list_id))
        wanted = expected_members(job.values)
        if held != wanted:
            missing, extra = len(set(wanted) - set(held)), len(set(held) - set(wanted))
            problems.append(f"{job.name}: {missing} missing, {extra} extra")
    return problems


def list_ids(run: FleetRun) -> dict[str, str]:
    ids: dict[str, str] = {}
    for attempt in run.attempts:
        report = attempt.report
        if report and report.get("customer_list_id"):
            ids[attempt.job.name] = str(report["customer_list_id"])
    return ids


def per_user_429s(counters: dict[str, Any]) -> int:
    return sum(int(counters["rate_limited"].get(cause, 0)) for cause in PER_USER_CAUSES)


@dataclass(frozen=True)
class CeilingRatio:
    """How close the admitted writes came to the shared ceiling (`per_window` writes in any `window_s`)."""

    writes: int
    span_s: float
    per_window: int
    window_s: float
    busiest_window: int
    """The most writes admitted in any window of `window_s` (never above `per_window`)."""
    full_windows: tuple[int, ...]
    """Writes in each consecutive whole window from the first write."""

    @property
    def ratio(self) -> float:
        """Writes over the busy span (first to last admitted write) / what the ceiling allows in it."""
        if self.span_s <= 0:
            return 0.0
        return self.writes / (self.per_window * self.span_s / self.window_s)

    def text(self) -> str:
        windows = ", ".join(str(n) for n in self.full_windows)
        return (
            f"{self.writes} writes in {self.span_s:.1f} s against a ceiling of {self.per_window} per "
            f"{self.window_s:g} s: ratio {self.ratio:.3f}; busiest window {self.busiest_window}/{self.per_window}; "
            f"whole windows [{windows}]"
        )


def ceiling_ratio(times: list[float], per_window: int, window_s: float) -> CeilingRatio:
    """The ratio from the emulator's admitted write times (`GET /_emulator/counters`, `admitted_at.ads_write`)."""
    times = sorted(times)
    if not times:
        return CeilingRatio(0, 0.0, per_window, window_s, 0, ())
    busiest = 0
    start = 0
    for end, at in enumerate(times):
        while times[start] <= at - window_s:
            start += 1
        busiest = max(busiest, end - start + 1)
    first, span = times[0], times[-1] - times[0]
    full = []
    for k in range(int(span // window_s)):
        low, high = first + k * window_s, first + (k + 1) * window_s
        full.append(sum(1 for t in times if low <= t < high))
    return CeilingRatio(len(times), span, per_window, window_s, busiest, tuple(full))


def summary(fleet: Fleet, run: FleetRun, counters: dict[str, Any]) -> str:
    """The figures of one run, for the test's output and the benchmark's."""
    ratio = ceiling_ratio(
        counters["admitted_at"].get("ads_write", []), fleet.scale.ads_write_per_window, fleet.scale.window_s
    )
    refreshes = counters["token_grants"].get("refresh_token", 0)
    return (
        f"fleet ({fleet.backends.label}): {len(fleet.jobs)} audiences on {len(fleet.accounts)} ad accounts, "
        f"{fleet.workers} workers, {len(run.attempts)} attempts ({len(run.killed())} killed, "
        f"{len(run.failures())} failed) in {run.wall_s:.1f} s; CPU: workers {run.workers_cpu_s:.1f} s "
        f"({run.workers_cpu_s / max(len(run.attempts), 1):.2f} s each), emulator {run.emulator_cpu_s:.1f} s; "
        f"load average {os.getloadavg()[0]:.1f}\n"
        f"  shared ceiling: {ratio.text()}\n"
        f"  429s by cause: {counters['rate_limited']} (per user and app: {per_user_429s(counters)})\n"
        f"  token refreshes seen by Pinterest: {refreshes} (access token expired after {run.expired_at_writes} writes)"
    )
