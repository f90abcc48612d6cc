"""Benchmark start-up: how long a user waits before pinaudience does any work, whole processes as a user runs them.

    python benchmarks/startup.py                      # 9 rounds, with and without pinaudience's bytecode cached
    python benchmarks/startup.py --runs 15 --bytecode cached
    python benchmarks/startup.py --runs 11 --bytecode cached --before /tmp/before/src   # interleaved with another tree

Cases, each a fresh process started from this one, interleaved round by round (so that a change in the
machine's load touches every case alike), reported as the median of the rounds with the fastest and slowest, and
the median CPU time (user plus system, from `wait4`), the steadier figure on a shared machine:

- `python -c pass`, `import typer`, `import httpx`, `import polars`: what a user would compare with (the
  interpreter alone; the CLI framework, which every command needs; the HTTP client and the dataframe library,
  which `sync` and `prepare` need);
- `pinaudience --help`, through the console script, to its exit;
- `pinaudience prepare tiny.csv --json` (10 rows), through the console script, to its exit;
- `prepare` and `sync --dry-run` to the first byte read: the time from starting the process to the moment it
  opens the input file, found by a Python audit hook (`sys.addaudithook`, the `open` event) that this benchmark
  installs in a small launcher which then calls the console script's own entry point; the hook ends the
  process there. `sync` gets an unreachable API base: nothing before the read speaks to Pinterest.

`--before SRC` runs every pinaudience case a second time in each round with `PYTHONPATH=SRC` (the `src` folder of
another checkout, e.g. `git archive COMMIT src | tar -x -C /tmp/before`), interleaved with this one: a before and
after under the same load. Third-party packages are the same for both.

Bytecode: a user's `pip install` compiles every module (pinaudience's own included) to cached bytecode. An
editable install on a machine that sets PYTHONDONTWRITEBYTECODE=1 never caches pinaudience's modules, and
compiles them on every start. `--bytecode uncached` reproduces that by deleting the `__pycache__` folders of
pinaudience's own package (only when it is an editable install, outside site-packages) and running with
PYTHONDONTWRITEBYTECODE=1; `cached` lets the first run write them and reuses them. Third-party packages keep
the bytecode pip compiled for them in both.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pinaudience
from measure import load, machine

BIN = Path(sys.executable).parent
CONSOLE_SCRIPT = BIN / "pinaudience"

# The launcher of the "first byte read" cases: what the console script does (import `main`, run it), plus an
# audit hook that prints the monotonic clock when the input file is opened and ends the process at once.
LAUNCHER = """
import os, sys, time
target = os.path.realpath(sys.argv.pop(1))
name = os.path.basename(target)
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if path.endswith(name) and os.path.realpath(path) == target:
            os.write(1, str(time.monotonic_ns()).encode())
            os._exit(0)
sys.addaudithook(hook)
from pinaudience.cli import main
sys.argv[0] = "pinaudience"
sys.exit(main())
"""


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    to_first_read: bool = False
    """The process prints the monotonic clock (ns) at its first read of the input; else timed to its exit."""
    pythonpath: str | None = None
    """Prepended to the import path (`--before`): pinaudience from another checkout."""


def cases(tmp: Path) -> list[Case]:
    tiny = tmp / "tiny.csv"
    tiny.write_text("email\n" + "".join(f"customer{index}@example.com\n" for index in range(10)))
    python = sys.executable
    sync_args = [
        "sync",
        str(tiny),
        "--dry-run",
        "--ad-account-id",
        "549755885175",
        "--list-name",
        "start-up",
        "--api-base",
        "http://127.0.0.1:9/v5",
        "--state",
        str(tmp / "state"),
        "--token-store",
        str(tmp / "tokens.json"),
    ]
    return [
        Case("python -c pass", [python, "-c", "pass"]),
        Case("python -c 'import typer'", [python, "-c", "import typer"]),
        Case("python -c 'import httpx'", [python, "-c", "import httpx"]),
        Case("python -c 'import polars'", [python, "-c", "import polars"]),
        Case("pinaudience --help", [str(CONSOLE_SCRIPT), "--help"]),
        Case("pinaudience prepare tiny.csv --json (to exit)", [str(CONSOLE_SCRIPT), "prepare", str(tiny), "--json"]),
        Case(
            "pinaudience prepare tiny.csv (to first byte read)",
            [python, "-c", LAUNCHER, str(tiny), "prepare", str(tiny), "--json"],
            to_first_read=True,
        ),
        Case(
            "pinaudience sync --dry-run (to first byte read)",
            [python, "-c", LAUNCHER, str(tiny), *sync_args],
            to_first_read=True,
        ),
    ]


def with_before(all_cases: list[Case], source: str) -> list[Case]:
    """Each pinaudience case, then the same with pinaudience imported from `source` (its name says `before`)."""
    out: list[Case] = []
    for case in all_cases:
        out.append(case)
        if "pinaudience" in case.name:
            out.append(dataclasses.replace(case, name=f"{case.name} [before]", pythonpath=source))
    return out


def run_once(case: Case, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from starting the process to its exit, or to its first read of the input; and its CPU seconds."""
    if case.pythonpath is not None:
        env = {**env, "PYTHONPATH": case.pythonpath}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic_ns()
    done = subprocess.run(case.argv, env=env, capture_output=True, text=True, check=False)
    ended = time.monotonic_ns()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the processes run one at a time: the delta is this one's
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    code, stdout, stderr = done.returncode, done.stdout, done.stderr
    if case.to_first_read:
        if code != 0 or not stdout.strip().isdigit():
            raise SystemExit(f"{case.name}: never read its input (exit {code})\n{stderr[-2000:]}")
        return (int(stdout) - started) / 1e9, cpu
    if code != 0:
        raise SystemExit(f"{case.name}: exit {code}\n{stderr[-2000:]}")
    return (ended - started) / 1e9, cpu


def package_is_editable() -> bool:
    package = Path(pinaudience.__file__).resolve().parent
    return not package.is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())


def drop_own_bytecode() -> None:
    """Delete the `__pycache__` folders of pinaudience's own package (an editable install's source tree)."""
    package = Path(pinaudience.__file__).resolve().parent
    for cache in sorted(package.rglob("__pycache__")):
        shutil.rmtree(cache)


def environment(cached: bool) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PINTEREST_", "PINAUDIENCE_"))}
    env["PINTEREST_ACCESS_TOKEN"] = "start-up-benchmark"  # noqa: S105 - a fake token; nothing is sent
    env.pop("PYTHONPYCACHEPREFIX", None)
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def measure(label: str, all_cases: list[Case], runs: int, cached: bool, prepare: Callable[[], None]) -> None:
    env = environment(cached)
    prepare()
    for case in all_cases:  # one warm-up each: the page cache, and in `cached` mode the bytecode
        run_once(case, env)
    times: dict[str, list[tuple[float, float]]] = {case.name: [] for case in all_cases}
    print(f"\n{label}: {runs} rounds, load average {load()} at the start", flush=True)
    for _ in range(runs):
        for case in all_cases:
            times[case.name].append(run_once(case, env))
    width = max(len(case.name) for case in all_cases)
    for case in all_cases:
        wall = [w for w, _ in times[case.name]]
        cpu = statistics.median(c for _, c in times[case.name])
        print(
            f"  {case.name:<{width}}  {statistics.median(wall):6.3f} s  ({min(wall):.3f} to {max(wall):.3f})"
            f"  cpu {cpu:6.3f} s"
        )
    print(f"  load average {load()} at the end", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="rounds of every case (default 9)")
    parser.add_argument("--bytecode", choices=["both", "cached", "uncached"], default="both")
    parser.add_argument("--before", metavar="SRC", help="also run the pinaudience cases with PYTHONPATH=SRC")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"pinaudience {pinaudience.__version__} from {Path(pinaudience.__file__).parent}")
    editable = package_is_editable()
    with tempfile.TemporaryDirectory(prefix="pinaudience-startup-") as directory:
        all_cases = cases(Path(directory))
        if args.before:
            all_cases = with_before(all_cases, str(Path(args.before).resolve()))
        if args.bytecode in ("both", "uncached"):
            if editable:
                measure(
                    "pinaudience's bytecode not cached (an editable install with PYTHONDONTWRITEBYTECODE=1)",
                    all_cases,
                    args.runs,
                    cached=False,
                    prepare=drop_own_bytecode,
                )
            else:
                print("\nskipped the uncached runs: pinaudience is installed in site-packages, compiled by pip")
        if args.bytecode in ("both", "cached"):
            measure(
                "bytecode cached (what `pip install pinaudience` gives a user)",
                all_cases,
                args.runs,
                cached=True,
                prepare=lambda: None,
            )


if __name__ == "__main__":
    main()
