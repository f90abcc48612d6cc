"""Start-up: each command loads only what it uses (checked by the modules loaded, never by timing).

The timings are in `benchmarks/startup.py` and docs/benchmarks.md; these tests keep a heavy import from
creeping back into the path of `--help`, `prepare` or `sync` in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pinaudience

HEAVY = ("polars", "pyarrow", "httpx", "starlette", "uvicorn", "filelock", "sqlite3", "asyncio")
"""Libraries that take tens of milliseconds to import (asyncio too: 0.03 to 0.07 s on a loaded machine)."""

# Runs a CLI command in this fresh interpreter and prints, as JSON on the last line of stdout, which of the
# HEAVY packages were loaded: at the command's end, or (FIRST_READ set) when it opens that file, ending there.
PROBE = """
import contextlib, io, json, os, sys
heavy = json.loads(sys.argv[1])
args = sys.argv[2:]
first_read = os.environ.get("FIRST_READ")

def loaded():
    return sorted(name for name in heavy if name in sys.modules)

def hook(event, hook_args):
    if first_read and event == "open" and str(hook_args[0]) == first_read:
        sys.__stdout__.write("\\n" + json.dumps(loaded()) + "\\n")
        sys.__stdout__.flush()
        os._exit(0)

sys.addaudithook(hook)
from pinaudience.cli import run
with contextlib.redirect_stdout(io.StringIO()):
    code = run(args)
print(json.dumps(loaded()) if code == 0 else f"exit {code}")
"""


def loaded_by(*args: str, first_read: Path | None = None, code: str = PROBE) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINTEREST_", "PINAUDIENCE_"))}
    env["PINTEREST_ACCESS_TOKEN"] = "start-up-test"
    if first_read is not None:
        env["FIRST_READ"] = str(first_read)
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(HEAVY), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("["), f"the probe ended with {last!r}; stderr: {done.stderr[-2000:]}"
    result: list[str] = json.loads(last)
    return result


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text("email\n" + "".join(f"customer{i}@example.com\n" for i in range(10)))
    return path


def test_help_loads_no_dataframe_http_or_state_library() -> None:
    """`pinaudience --help` loads neither Polars nor httpx, the web stack nor the state store's libraries."""
    assert loaded_by("--help") == []


@pytest.mark.parametrize("command", [["sync", "--help"], ["emulator", "serve", "--help"], ["auth", "--help"]])
def test_command_help_loads_nothing_heavy(command: list[str]) -> None:
    """A command's own `--help` (the emulator's included) loads none of the heavy libraries either."""
    assert loaded_by(*command) == []


def test_prepare_loads_no_http_or_web_stack(tiny: Path) -> None:
    """`prepare` loads Polars to read the file, but neither httpx nor Starlette nor uvicorn."""
    loaded = loaded_by("prepare", str(tiny), "--json")
    assert "polars" in loaded
    assert not {"httpx", "starlette", "uvicorn"} & set(loaded)


@pytest.mark.parametrize("out", [[], ["--out", "records.csv"]], ids=["counts", "records"])
def test_prepare_reads_its_file_before_loading_polars(tiny: Path, tmp_path: Path, out: list[str]) -> None:
    """`prepare` opens its input (and checks its head) before it loads Polars or anything else heavy."""
    args = [a if a != "records.csv" else str(tmp_path / a) for a in out]
    assert loaded_by("prepare", str(tiny), "--json", *args, first_read=tiny) == []


def test_sync_reads_its_file_before_loading_the_engine(tiny: Path, tmp_path: Path) -> None:
    """`sync` opens its input before it loads the engine: no Polars, httpx, state store (SQLite, file locks),
    asyncio, nor the emulator's web stack yet."""
    loaded = loaded_by(
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
        str(tmp_path / "state"),
        "--token-store",
        str(tmp_path / "tokens.json"),
        first_read=tiny,
    )
    assert loaded == []


def test_package_and_config_import_light() -> None:
    """`import pinaudience` and `pinaudience.config` (which every command loads) load none of the heavy libraries."""
    code = "import json, sys; import pinaudience, pinaudience.config, pinaudience.identifiers.types\n" + (
        "print(json.dumps(sorted(n for n in json.loads(sys.argv[1]) if n in sys.modules)))"
    )
    assert loaded_by(code=code) == []


def test_every_public_name_resolves() -> None:
    """Every name of `pinaudience.__all__` imports on first use and shows in `dir()`; `from` imports work."""
    from pinaudience import Settings, prepare, sync  # noqa: F401 - the imports are the test

    for name in pinaudience.__all__:
        assert getattr(pinaudience, name) is not None
    assert set(pinaudience.__all__) <= set(dir(pinaudience))


@pytest.mark.parametrize("package", ["pinaudience.identifiers", "pinaudience.emulator"])
def test_lazy_subpackage_names_resolve(package: str) -> None:
    """The lazily loaded names of `identifiers` and `emulator` all resolve; an unknown one is an AttributeError."""
    module = __import__(package, fromlist=["__all__"])
    for name in module.__all__:
        assert getattr(module, name) is not None
    with pytest.raises(AttributeError, match="NoSuchThing"):
        _ = module.NoSuchThing
