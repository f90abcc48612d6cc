"""The Meiro component's run: sync, then the report as one CSV row and a JSON file, exit codes, logs.

In process against the emulator (its ASGI transport, the test's clock), and twice through the real
entry point, `pinaudience component --data-dir`, against the emulator served on a loopback port.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import SEED_ACCESS_TOKEN, SEED_AD_ACCOUNT_ID, Emulator, serving
from pinaudience.integrations.meiro import ComponentPaths, run_component
from tests.helpers import API_BASE, emails

CANARY_EMAIL = "Canary.Person@Private.Example"


def make_data_dir(root: Path, parameters: dict[str, Any], values: list[str] | None, *, header: bool = True) -> Path:
    """A Meiro data folder: config.json, and in/tables/customers.csv unless `values` is None."""
    (root / "in" / "tables").mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"parameters": parameters}), encoding="utf-8")
    if values is not None:
        lines = (["email"] if header else []) + values
        (root / "in" / "tables" / "customers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def params(api_base: str = API_BASE, **extra: Any) -> dict[str, Any]:
    return {"#access_token": SEED_ACCESS_TOKEN, "ad_account_id": SEED_AD_ACCOUNT_ID, "api_base": api_base, **extra}


def read_row(root: Path) -> dict[str, str]:
    with ComponentPaths(root).report_table.open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    return row


def private_texts(root: Path) -> str:
    """Everything the run wrote under out/ and state/."""
    written = [p for folder in ("out", "state") for p in (root / folder).rglob("*") if p.is_file()]
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in written)


def test_a_run_syncs_and_writes_the_report_row_and_file(
    tmp_path: Path, emulator: Emulator, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Replace by name: the list and audience are created, the report is one CSV row and a JSON file."""
    values = [CANARY_EMAIL, *emails(249)]
    root = make_data_dir(tmp_path, params(audience_name="Meiro VIP"), values, header=False)
    caplog.set_level(logging.INFO, logger="pinaudience")
    result = run_component(root, transport=emulator.transport(), clock=clock)
    assert result.exit_code == 0, result.report.error
    row = read_row(root)
    assert (row["status"], row["mode"], row["list_created"], row["audience_created"]) == (
        "ok",
        "mirror",
        "True",
        "True",
    )
    assert int(row["added"]) == 250
    assert row["error_kind"] == ""
    assert json.loads(row["invalid_by_reason"]) == {}
    report = json.loads(ComponentPaths(root).report_file.read_text())
    assert report["customer_list_id"] == row["customer_list_id"]
    expected = sorted(hashlib.sha256(v.lower().encode()).hexdigest() for v in values)
    assert sorted(emulator.store.members(int(row["customer_list_id"]))) == expected
    assert (root / "state").is_dir()
    assert any("pinaudience component: ad account" in r.getMessage() for r in caplog.records)
    for text in (private_texts(root), caplog.text):
        assert SEED_ACCESS_TOKEN not in text
        assert CANARY_EMAIL.lower() not in text.lower()


def test_audience_id_with_an_operation_changes_that_audiences_list(
    tmp_path: Path, emulator: Emulator, clock: FakeClock
) -> None:
    """With audience_id, audience_operation=remove takes the file's records out of that audience's list."""
    first = run_component(
        make_data_dir(tmp_path / "a", params(audience_name="VIP"), emails(250)),
        transport=emulator.transport(),
        clock=clock,
    )
    assert first.exit_code == 0
    audience_id = first.report.audience_id
    root = make_data_dir(tmp_path / "b", params(audience_id=audience_id, audience_operation="remove"), emails(50))
    result = run_component(root, transport=emulator.transport(), clock=clock)
    assert result.exit_code == 0, result.report.error
    row = read_row(root)
    assert (row["mode"], row["removed"], row["customer_list_id"]) == ("remove", "50", first.report.customer_list_id)
    assert len(list(emulator.store.members(int(row["customer_list_id"])))) == 200
    assert first.report.audience_size is not None
    assert int(row["audience_size"]) < first.report.audience_size  # read after the upload, not before


@pytest.mark.parametrize(
    ("parameters", "values", "kind", "fragment"),
    [
        (params(audience_name="Small"), emails(40), "not_enough_records", "at least 100"),
        (params(audience_id="2542620905473"), emails(200), "invalid_config", "`audience_operation` is required"),
        ({"ad_account_id": SEED_AD_ACCOUNT_ID, "audience_name": "A"}, emails(200), "invalid_config", "credentials"),
        (params(audience_name="A"), None, "invalid_input", "customers.csv"),
    ],
    ids=["too-few-rows", "audience-id-without-operation", "no-credentials", "no-input-table"],
)
def test_a_failed_run_still_writes_its_report(
    tmp_path: Path,
    emulator: Emulator,
    clock: FakeClock,
    parameters: dict[str, Any],
    values: list[str] | None,
    kind: str,
    fragment: str,
) -> None:
    """A user error ends with exit code 1 and a report row whose error columns name the kind and the fix."""
    root = make_data_dir(tmp_path, parameters, values)
    result = run_component(root, transport=emulator.transport(), clock=clock)
    assert result.exit_code == 1
    row = read_row(root)
    assert (row["status"], row["error_kind"]) == ("error", kind)
    assert fragment in row["error_message"]
    assert row["error_resolution"]
    assert SEED_ACCESS_TOKEN not in private_texts(root)


def test_an_unwritable_out_folder_is_a_user_error(tmp_path: Path, emulator: Emulator, clock: FakeClock) -> None:
    """When out/ cannot be written the run ends with exit code 1 and says which folder."""
    root = make_data_dir(tmp_path, params(audience_name="A", dry_run=True), emails(200))
    (root / "out").write_text("a file where the out folder should be")
    result = run_component(root, transport=emulator.transport(), clock=clock)
    assert result.exit_code == 1
    assert result.report.error is not None
    assert result.report.error.kind == "invalid_config"
    assert "out" in result.report.error.message


def _component(root: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINTEREST_", "PINAUDIENCE_"))}
    env.update(HOME=str(root / "home"), XDG_STATE_HOME=str(root / "home" / "state"), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "pinaudience", "component", "--data-dir", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_the_component_command_against_a_served_emulator(tmp_path: Path) -> None:
    """`pinaudience component`: logs on stdout, exit 0 and a report; a bad config exits 1 naming the parameter."""
    emulator = Emulator()
    try:
        with serving(emulator) as url:
            good = make_data_dir(
                tmp_path / "good", params(f"{url}/v5", audience_name="VIP"), [CANARY_EMAIL, *emails(249)]
            )
            result = _component(good)
            assert result.returncode == 0, result.stderr
            assert "pinaudience component: ad account" in result.stdout
            assert "report written" in result.stdout
            assert read_row(good)["status"] == "ok"

            bad = make_data_dir(
                tmp_path / "bad", params(f"{url}/v5", audience_name="VIP", batch_size="lots"), emails(9)
            )
            failed = _component(bad)
            assert failed.returncode == 1
            assert "error invalid_config: parameter `batch_size` must be a number" in failed.stderr
            assert read_row(bad)["error_kind"] == "invalid_config"
    finally:
        emulator.close()
    for run in (result, failed):
        for text in (run.stdout, run.stderr):
            assert SEED_ACCESS_TOKEN not in text
            assert CANARY_EMAIL.lower() not in text.lower()
            assert "Traceback" not in text
