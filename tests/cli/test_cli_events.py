"""`pinaudience events` as users run it, against the served emulator: report, rejects, rerun, errors, privacy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.cli.cli_helpers import ACCOUNT, CANARY_EMAIL, Served, assert_private, config_file, run_cli
from tests.events.conftest import CANARY_PHONE, write_events


def _rows(n: int) -> list[dict[str, Any]]:
    when = int(time.time()) - 3600
    return [{"email": f"buyer{i}@example.com", "event_time": when, "order_id": f"A-{i}"} for i in range(n)]


def test_events_sends_once_writes_the_report_and_rejects_and_stays_private(
    served: Served, tmp_path: Path, env: dict[str, str]
) -> None:
    """A file of 5 good rows and 2 bad ones: 5 sent, 2 rejected by row; the rerun sends nothing; no raw value shows."""
    rows: list[dict[str, Any]] = [
        *_rows(5),
        {"email": CANARY_EMAIL, "phone": CANARY_PHONE, "event_time": "yesterday", "order_id": "X"},
        {"email": "nobody", "phone": "", "event_time": int(time.time()) - 60, "order_id": "Y"},
    ]
    path = write_events(tmp_path / "events.csv", rows, delimiter=";")
    report, rejects = tmp_path / "report.json", tmp_path / "rejects.csv"
    args = (
        "events", path, "--ad-account-id", ACCOUNT, "--api-base", served.api_base, "--state", tmp_path / "state",
        "--event-name", "checkout", "--action-source", "web", "--report", report, "--rejects", rejects,
    )  # fmt: skip
    result = run_cli(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["status"], document["processed"], document["events_rejected"]) == ("ok", 5, 2)
    assert json.loads(report.read_text()) == document
    assert rejects.read_text().splitlines() == ["row,reason", "6,bad_time", "7,no_identifier"]
    again = run_cli(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert "5 acknowledged by an earlier run" in again.stdout
    assert json.loads(report.read_text())["sent"] == 0
    for one in (result, again):
        assert_private(one, files=[report, rejects], raw=[CANARY_PHONE, "867-5309"])


def test_a_config_events_table_maps_columns_and_test_mode_records_nothing(
    served: Served, tmp_path: Path, env: dict[str, str]
) -> None:
    """`[[events]]` with `[events.columns]`; `--test` sends them in test mode and exits 0."""
    rows = [{"Customer E-mail": f"buyer{i}@example.com", "When": int(time.time()) - 60} for i in range(3)]
    path = write_events(tmp_path / "events.csv", rows)
    body = (
        f'[[events]]\ninput = "{path}"\nevent_name = "lead"\naction_source = "web"\n'
        '[events.columns]\nem = "Customer E-mail"\nevent_time = "When"\n'
    )
    config = config_file(tmp_path / "pinaudience.toml", served, body)
    result = run_cli("events", "--config", config, "--test", "--json", "--state", tmp_path / "state", env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["test"], document["processed"], document["prepare"]["columns"]["em"]) == (
        True,
        3,
        ["Customer E-mail"],
    )


def test_a_file_without_an_identifier_column_fails_by_name_without_a_traceback(
    served: Served, tmp_path: Path, env: dict[str, str]
) -> None:
    """Exit code 1, the error's kind and resolution on stderr, nothing sent."""
    path = write_events(tmp_path / "events.csv", [{"customer": CANARY_EMAIL, "event_time": 1}])
    result = run_cli(
        "events", path, "--ad-account-id", ACCOUNT, "--api-base", served.api_base, "--state", tmp_path / "state",
        env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert "invalid_input" in result.stderr
    assert "no identifier column" in result.stderr
    assert_private(result)
