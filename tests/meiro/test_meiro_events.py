"""The Meiro component's events loader (`loader: "events"`): the events table sent once, report and rejects."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from pinaudience.clock import FakeClock
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, Emulator
from pinaudience.integrations.meiro import ComponentPaths, run_component
from tests.events.conftest import CANARY_EMAIL, CANARY_PHONE, checkouts, write_events
from tests.helpers import API_BASE


def _data_dir(root: Path, rows: list[dict[str, Any]] | None, **extra: Any) -> Path:
    (root / "in" / "tables").mkdir(parents=True)
    parameters = {
        "#access_token": SEED_ACCESS_TOKEN,
        "ad_account_id": SEED_AD_ACCOUNT_ID,
        "api_base": API_BASE,
        "loader": "events",
        **extra,
    }
    (root / "config.json").write_text(json.dumps({"parameters": parameters}), encoding="utf-8")
    if rows is not None:
        write_events(root / "in" / "tables" / "events.csv", rows)
    return root


def _row(root: Path) -> dict[str, str]:
    table = ComponentPaths(root).report_table.with_name("pinterest_events_report.csv")
    with table.open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    return row


def test_the_events_loader_sends_the_table_once_and_writes_report_and_rejects(
    tmp_path: Path, emulator: Emulator, clock: FakeClock
) -> None:
    """Two runs: the first sends every valid event, the second none; report row, JSON and rejects are written."""
    rows = [*checkouts(clock, 20), {"email": CANARY_EMAIL, "phone": CANARY_PHONE, "event_time": "soon"}]
    root = _data_dir(tmp_path, rows, columns={"em": "email"})
    result = run_component(root, transport=emulator.transport(), clock=clock)
    assert result.exit_code == 0, result.error
    assert result.events is not None
    assert (result.events.processed, result.events.events_rejected) == (20, 1)
    assert _row(root)["processed"] == "20"
    rejects = (root / "out" / "tables" / "pinterest_events_rejects.csv").read_text()
    assert rejects.splitlines() == ["row,reason", "21,no_event_name"]
    again = run_component(root, transport=emulator.transport(), clock=clock)
    assert again.events is not None
    assert (again.exit_code, again.events.already_acknowledged, again.events.sent) == (0, 20, 0)
    written = "\n".join(p.read_text() for p in (root / "out").rglob("*") if p.is_file())
    assert json.loads((root / "out" / "files" / "pinterest_events_report.json").read_text())["sent"] == 0
    for raw in (CANARY_EMAIL, CANARY_EMAIL.lower(), "867-5309"):
        assert raw not in written


def test_a_missing_events_table_and_a_bad_parameter_exit_1_with_a_report(
    tmp_path: Path, emulator: Emulator, clock: FakeClock
) -> None:
    """No events.csv: invalid_input; an audience-only parameter: invalid_config; both write the report."""
    root = _data_dir(tmp_path / "a", None)
    result = run_component(root, transport=emulator.transport(), clock=clock)
    assert (result.exit_code, result.error and result.error.kind) == (1, "invalid_input")
    assert _row(root)["error_kind"] == "invalid_input"
    root = _data_dir(tmp_path / "b", checkouts(clock, 1), audience_name="VIP")
    result = run_component(root, transport=emulator.transport(), clock=clock)
    assert (result.exit_code, result.error and result.error.kind) == (1, "invalid_config")
