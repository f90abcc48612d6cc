"""Every error kind, provoked for real against a served emulator: exit code 1, kind and resolution on stderr,
the same kind in the --report file, and no token or raw email anywhere.

Each scenario gets its own emulator (served on a loopback port in this process), so their faults and
settings cannot meet; their syncs run as concurrent subprocesses, and one test per kind checks the outcome.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from pinaudience.emulator import PROFILE_NAMES, SEED_ACCESS_TOKEN, SEED_USER, Emulator, serving
from pinaudience.errors import ERROR_KINDS
from pinaudience.state import StateStore
from tests.cli.cli_helpers import (
    ACCOUNT,
    CANARY_EMAIL,
    CLI_TIMEOUT_S,
    Served,
    assert_private,
    clean_env,
    config_file,
    run_cli,
)
from tests.helpers import emails, write_csv

CANARY_TOKEN = "pina_CANARY_4f9c2e7d1b"
QUICK_RETRIES = {"max_attempts": 2, "max_retry_s": 0.1}
"""One retry at most, and no wait that would take longer than 0.1 s: the retry budget runs out at once."""

Args = list[str | Path]


@dataclass
class Scenario:
    """Sets up the emulator and files for one error, and returns the sync's arguments and environment."""

    kind: str
    setup: Callable[[Served, Path, dict[str, str], ExitStack], tuple[Args, dict[str, str]]]


@dataclass
class Outcome:
    result: subprocess.CompletedProcess[str]
    folder: Path
    env: dict[str, str]


def _sync_args(served: Served, tmp: Path, values: list[str], *extra: str | Path, **pinterest: object) -> Args:
    customers = write_csv(tmp / "customers.csv", values)
    config = config_file(tmp / "pinaudience.toml", served, **pinterest)
    return [customers, "--config", config, "--list-name", "L", "--state", tmp / "state", *extra]


def invalid_input(served: Served, tmp: Path, env: dict[str, str], hold: ExitStack) -> tuple[Args, dict[str, str]]:
    args = _sync_args(served, tmp, emails(10))
    args[0] = tmp / "no-such-file.csv"
    return args, env


def invalid_config(served: Served, tmp: Path, env: dict[str, str], hold: ExitStack) -> tuple[Args, dict[str, str]]:
    return _sync_args(served, tmp, emails(10), retries=3), env


def not_enough_records(served: Served, tmp: Path, env: dict[str, str], hold: ExitStack) -> tuple[Args, dict[str, str]]:
    return _sync_args(served, tmp, [CANARY_EMAIL, *emails(49)]), env


def mass_removal_blocked(
    served: Served, tmp: Path, env: dict[str, str], hold: ExitStack
) -> tuple[Args, dict[str, str]]:
    first = run_cli("sync", *_sync_args(served, tmp, [CANARY_EMAIL, *emails(249)]), "--quiet", env=env)
    (tmp / "setup-exit-code").write_text(str(first.returncode))  # checked by the test: the setup sync must succeed
    return _sync_args(served, tmp, emails(100)), env


def state_error(served: Served, tmp: Path, env: dict[str, str], hold: ExitStack) -> tuple[Args, dict[str, str]]:
    blocker = tmp / "not-a-folder"
    blocker.write_text("a file where the state directory should be")
    args = _sync_args(served, tmp, emails(200))
    return [*args, "--state", blocker / "state"], env


def state_locked(served: Served, tmp: Path, env: dict[str, str], hold: ExitStack) -> tuple[Args, dict[str, str]]:
    args = _sync_args(served, tmp, emails(200))
    store = hold.enter_context(StateStore(tmp / "state"))
    # The key the engine locks before anything else: API base, ad account and the configured destination.
    hold.enter_context(store.lock(f"{served.api_base}|{ACCOUNT}|name:L"))
    return args, env


def authorization_error(served: Served, tmp: Path, env: dict[str, str], hold: ExitStack) -> tuple[Args, dict[str, str]]:
    pair = served.tokens_for(SEED_USER)
    served.revoke(pair["access_token"])
    return _sync_args(served, tmp, emails(200)), {**env, "PINTEREST_ACCESS_TOKEN": pair["access_token"]}


def insufficient_permissions(
    served: Served, tmp: Path, env: dict[str, str], hold: ExitStack
) -> tuple[Args, dict[str, str]]:
    pair = served.tokens_for("outsider")  # a Pinterest user with no role on the ad account
    return _sync_args(served, tmp, emails(200)), {**env, "PINTEREST_ACCESS_TOKEN": pair["access_token"]}


def not_found(served: Served, tmp: Path, env: dict[str, str], hold: ExitStack) -> tuple[Args, dict[str, str]]:
    customers = write_csv(tmp / "customers.csv", emails(200))
    config = config_file(tmp / "pinaudience.toml", served)
    return [customers, "--config", config, "--audience-id", "999999999", "--state", tmp / "state"], env


def invalid_request(served: Served, tmp: Path, env: dict[str, str], hold: ExitStack) -> tuple[Args, dict[str, str]]:
    served.settings(max_records_per_request=5)
    return _sync_args(served, tmp, emails(200)), env


def rate_limited(served: Served, tmp: Path, env: dict[str, str], hold: ExitStack) -> tuple[Args, dict[str, str]]:
    served.faults({"operation": "customer_lists/list", "calls": list(range(1, 20)), "status": 429, "retry_after": 0})
    return _sync_args(served, tmp, emails(200), **QUICK_RETRIES), env


def pinterest_unavailable(
    served: Served, tmp: Path, env: dict[str, str], hold: ExitStack
) -> tuple[Args, dict[str, str]]:
    served.faults({"operation": "customer_lists/list", "calls": list(range(1, 20)), "status": 503})
    return _sync_args(served, tmp, emails(200), **QUICK_RETRIES), env


def rate_limiter_unavailable(
    served: Served, tmp: Path, env: dict[str, str], hold: ExitStack
) -> tuple[Args, dict[str, str]]:
    from tests.servers import free_port

    url = f"redis://:canary-redis-password@127.0.0.1:{free_port()}/0"  # nothing listens there
    return _sync_args(served, tmp, emails(200)), {**env, "PINAUDIENCE_RATE_LIMIT_URL": url}


SCENARIOS = [
    Scenario("invalid_input", invalid_input),
    Scenario("invalid_config", invalid_config),
    Scenario("not_enough_records", not_enough_records),
    Scenario("mass_removal_blocked", mass_removal_blocked),
    Scenario("state_error", state_error),
    Scenario("state_locked", state_locked),
    Scenario("authorization_error", authorization_error),
    Scenario("insufficient_permissions", insufficient_permissions),
    Scenario("not_found", not_found),
    Scenario("invalid_request", invalid_request),
    Scenario("rate_limited", rate_limited),
    Scenario("pinterest_unavailable", pinterest_unavailable),
    Scenario("rate_limiter_unavailable", rate_limiter_unavailable),
]


@pytest.fixture(scope="module", params=PROFILE_NAMES)
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Set every scenario up in one emulator profile, then run all their syncs at once (each with --report)."""
    with ExitStack() as stack:
        running: dict[str, tuple[subprocess.Popen[str], Path, dict[str, str]]] = {}
        for scenario in SCENARIOS:
            emulator = Emulator(profile=request.param)
            stack.callback(emulator.close)
            served = Served(stack.enter_context(serving(emulator)))
            stack.callback(served.http.close)
            folder = tmp_path_factory.mktemp(scenario.kind)
            (folder / "home").mkdir()
            env = clean_env(folder / "home", PINTEREST_ACCESS_TOKEN=SEED_ACCESS_TOKEN)
            args, run_env = scenario.setup(served, folder, env, stack)
            command = [
                sys.executable,
                "-m",
                "pinaudience",
                "sync",
                *map(str, args),
                "--report",
                str(folder / "report.json"),
            ]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env)
            running[scenario.kind] = (process, folder, run_env)
        done: dict[str, Outcome] = {}
        for kind, (process, folder, run_env) in running.items():
            out, err = process.communicate(timeout=CLI_TIMEOUT_S)
            done[kind] = Outcome(
                subprocess.CompletedProcess(process.args, process.returncode, out, err), folder, run_env
            )
        yield done


def test_every_error_kind_has_a_scenario() -> None:
    """The scenarios below cover every kind users can meet."""
    assert {s.kind for s in SCENARIOS} == set(ERROR_KINDS)


@pytest.mark.parametrize("kind", [s.kind for s in SCENARIOS])
def test_error_kind(kind: str, outcomes: dict[str, Outcome]) -> None:
    """Exit code 1, `error KIND:` and a resolution on stderr, the kind in the report, nothing private anywhere."""
    outcome = outcomes[kind]
    setup = outcome.folder / "setup-exit-code"
    assert not setup.exists() or setup.read_text() == "0", "the scenario's setup sync failed"
    result = outcome.result
    assert result.returncode == 1, result.stderr
    assert f"error {kind}:" in result.stderr
    assert "resolution:" in result.stderr
    report = outcome.folder / "report.json"
    document = json.loads(report.read_text())
    assert document["status"] == "error"
    assert document["error"]["kind"] == kind
    assert document["error"]["resolution"]
    state = outcome.folder / "state"
    files = [report, *(p for p in state.rglob("*") if p.is_file())] if state.is_dir() else [report]
    assert_private(result, outcome.env["PINTEREST_ACCESS_TOKEN"], files=files)


def test_a_canary_token_never_shows(served: Served, tmp_path: Path, env: dict[str, str]) -> None:
    """A token Pinterest refuses is named by kind only: never in stdout, stderr, logs or the report."""
    args = _sync_args(served, tmp_path, [CANARY_EMAIL, *emails(200)])
    report = tmp_path / "report.json"
    result = run_cli(
        "sync", *args, "--report", report, "--log-format", "json", env={**env, "PINTEREST_ACCESS_TOKEN": CANARY_TOKEN}
    )
    assert result.returncode == 1
    assert json.loads(report.read_text())["error"]["kind"] == "authorization_error"
    assert_private(result, CANARY_TOKEN, files=[report])
