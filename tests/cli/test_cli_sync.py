"""`pinaudience sync`, `check` and `state` through the real entry point, against a served emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pinaudience.cli import run
from tests.cli.cli_helpers import ACCOUNT, CANARY_EMAIL, Served, assert_private, config_file, run_cli, state_files
from tests.helpers import emails, expected_members, write_csv
from tests.servers import PostgresServer


def _first_sync(served: Served, tmp_path: Path, env: dict[str, str], values: list[str]) -> dict[str, object]:
    customers = write_csv(tmp_path / "customers.csv", values)
    report_file = tmp_path / "report.json"
    result = run_cli(
        "sync", customers, "--ad-account-id", ACCOUNT, "--list-name", "VIP", "--api-base", served.api_base,
        "--state", tmp_path / "state", "--report", report_file, "--json",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_private(result, files=[report_file, *state_files(tmp_path / "state")])
    report: dict[str, object] = json.loads(result.stdout)
    assert json.loads(report_file.read_text()) == report
    return report


def test_a_first_sync_creates_the_list_and_a_second_sends_only_the_change(
    served: Served, tmp_path: Path, env: dict[str, str]
) -> None:
    """Mirror twice: the emulator ends with exactly the second file; the report says what was sent. While Pinterest
    matches the list (processing_delay_s), the first sync leaves the audience pending and the second creates it."""
    matching_s = float(served.current_settings()["processing_delay_s"])
    first = [CANARY_EMAIL, *emails(250)]
    report = _first_sync(served, tmp_path, env, first)
    assert report["status"] == "ok"
    assert report["list_created"] is True
    if matching_s:
        assert (report["audience_created"], report["audience_status"]) == (False, "pending")
    else:
        assert report["audience_created"] is True
    assert report["added"] == len(first)
    list_id = str(report["customer_list_id"])
    assert served.records(list_id) == expected_members(first)

    served.advance(matching_s + 1 if matching_s else 0)  # Pinterest has matched the list by the next night's run
    second = emails(240, start=20)
    write_csv(tmp_path / "customers.csv", second)
    result = run_cli(
        "sync", tmp_path / "customers.csv", "--ad-account-id", ACCOUNT, "--list-name", "VIP",
        "--api-base", served.api_base, "--state", tmp_path / "state", "--json",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_private(result, files=state_files(tmp_path / "state"))
    assert served.records(list_id) == expected_members(second)
    again = json.loads(result.stdout)
    assert (again["customer_list_id"], again["planned_adds"], again["planned_removes"]) == (list_id, 10, 21)
    assert again["audience_created"] is bool(matching_s)  # the pending audience is created, records not re-sent
    assert again["audience_id"]
    assert any("48 hours" in warning for warning in again["warnings"])


def test_a_config_with_two_audiences_syncs_both_and_json_logs(
    served: Served, tmp_path: Path, env: dict[str, str]
) -> None:
    """--config with two [[audience]] tables syncs both in one run; --log-format json writes JSON lines."""
    write_csv(tmp_path / "a.csv", emails(220))
    write_csv(tmp_path / "b.csv", emails(230, start=500))
    body = (
        '[defaults]\nbatch_size = 50\n\n[[audience]]\ninput = "a.csv"\nlist_name = "A"\n\n'
        '[[audience]]\ninput = "b.csv"\nlist_name = "B"\nmode = "add"\n'
    )
    config = config_file(tmp_path / "pinaudience.toml", served, body, ads_write_limit="400/60")
    result = run_cli(
        "sync", "--config", config, "--state", tmp_path / "state", "--json", "--log-format", "json", env=env
    )
    assert result.returncode == 0, result.stderr
    assert_private(result)
    run = json.loads(result.stdout)
    assert run["status"] == "ok"
    assert [a["list_name"] for a in run["audiences"]] == ["A", "B"]
    assert [a["batches"] for a in run["audiences"]] == [5, 5]
    for audience, values in zip(run["audiences"], (emails(220), emails(230, start=500)), strict=True):
        assert served.records(audience["customer_list_id"]) == expected_members(values)
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= lines[0].keys()
    uploads = [line for line in lines if line.get("event") == "upload_progress"]
    assert {u["audience"] for u in uploads} == {"A", "B"}
    assert all(u["records_done"] == u["records_total"] for u in uploads if u is uploads[-1])


def test_dry_run_sample_and_quiet(served: Served, tmp_path: Path, env: dict[str, str]) -> None:
    """--dry-run sends no write; --sample 100 sends the first 100 records; --quiet prints nothing on success."""
    served.settings(match_rate=1.0)  # so that 100 records are enough for an audience
    customers = write_csv(tmp_path / "customers.csv", emails(300))
    common: list[str | Path] = [
        "--ad-account-id", ACCOUNT, "--list-name", "S", "--api-base", served.api_base, "--state", tmp_path / "s"
    ]  # fmt: skip
    dry = run_cli("sync", customers, *common, "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["planned_adds"] == 300
    assert served.writes() == []

    sample = run_cli("sync", customers, *common, "--sample", "100", "--quiet", env=env)
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout == ""
    (create,) = [w for w in served.writes() if w["operation"] == "customer_lists/create"]
    assert create["records"] == 100


def test_check_passes_then_names_what_fails(served: Served, tmp_path: Path, env: dict[str, str]) -> None:
    """check lists each verified step; a missing input file fails it with invalid_input and exit code 1."""
    ok = run_cli("check", "--ad-account-id", ACCOUNT, "--api-base", served.api_base, "--list-name", "New", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "ad account 549755885175" in ok.stdout
    assert "the first sync creates it" in ok.stdout
    assert served.writes() == []

    config = config_file(tmp_path / "c.toml", served, '[[audience]]\ninput = "missing.csv"\nlist_name = "L"\n')
    bad = run_cli("check", "--config", config, "--json", env=env)
    assert bad.returncode == 1
    document = json.loads(bad.stdout)
    assert document["ok"] is False
    assert document["checks"][0]["steps"][0] == {
        "name": "input",
        "ok": False,
        "detail": f"invalid_input: the input file {tmp_path / 'missing.csv'} does not exist or cannot be read",
    }
    assert "error invalid_input:" in bad.stderr
    assert_private(ok)
    assert_private(bad)


def test_state_show_and_forget(
    served: Served, tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """state show lists the synced list with its confirmed count; forget drops it, only with --yes."""
    # The sync and the forget run as subprocesses; the other looks run in process, through the same `run`.
    report = _first_sync(served, tmp_path, env, emails(250))
    list_id = str(report["customer_list_id"])
    state = str(tmp_path / "state")
    assert run(["state", "show", "--state", state, "--json"]) == 0
    (info,) = json.loads(capsys.readouterr().out)["lists"]
    assert (info["customer_list_id"], info["list_name"], info["confirmed_in_snapshot"]) == (list_id, "VIP", 250)
    assert run(["state", "show", "VIP", "--state", state]) == 0
    assert list_id in capsys.readouterr().out

    assert run(["state", "forget", list_id, "--state", state]) == 1  # no terminal to confirm on
    assert "--yes" in capsys.readouterr().err
    forgotten = run_cli("state", "forget", list_id, "--state", state, "--yes", env=env)
    assert forgotten.returncode == 0, forgotten.stderr
    assert run(["state", "show", "--state", state, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lists"] == []
    assert run(["state", "forget", list_id, "--state", state, "--yes"]) == 1
    assert "error invalid_config:" in capsys.readouterr().err


def test_every_command_has_help_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    """Each command's --help shows an example invocation of that command."""
    commands = [
        ["demo"], ["sync"], ["check"], ["status"], ["auth", "login"], ["auth", "status"], ["auth", "refresh"],
        ["state", "show"], ["state", "forget"], ["prepare"], ["component"], ["emulator", "serve"],
    ]  # fmt: skip
    for command in commands:
        assert run([*command, "--help"]) == 0
        shown = " ".join(capsys.readouterr().out.split())
        assert "Example" in shown, command
        assert f"pinaudience {' '.join(command)} " in shown, command


def test_a_usage_error_exits_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad flag or an unknown command is the user's to fix: exit code 1 (2 stays for bugs)."""
    assert run(["sync", "customers.csv", "--batch-size", "lots"]) == 1
    assert run(["no-such-command"]) == 1
    assert "--batch-size" in capsys.readouterr().err


def test_sync_and_state_commands_on_a_postgresql_state(
    served: Served,
    tmp_path: Path,
    env: dict[str, str],
    postgres_url: str,
    postgres_server: PostgresServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--state takes a PostgreSQL URL (PINAUDIENCE_STATE too): sync, state show and forget use it, and its password
    is in no output, report or log line."""
    password = postgres_server.password
    customers = write_csv(tmp_path / "customers.csv", emails(250))
    report_file = tmp_path / "report.json"
    result = run_cli(
        "sync", customers, "--ad-account-id", ACCOUNT, "--list-name", "VIP", "--api-base", served.api_base,
        "--report", report_file, "--json", "--log-format", "json",
        env={**env, "PINAUDIENCE_STATE": postgres_url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_private(result, password, files=[report_file])
    list_id = str(json.loads(result.stdout)["customer_list_id"])
    assert run(["state", "show", "--state", postgres_url, "--json"]) == 0
    shown = capsys.readouterr()
    document = json.loads(shown.out)
    (info,) = document["lists"]
    assert (info["customer_list_id"], info["confirmed_in_snapshot"]) == (list_id, 250)
    assert "***" in document["state"]
    assert run(["state", "show", "VIP", "--state-dir", postgres_url]) == 0
    human = capsys.readouterr()
    assert list_id in human.out
    for text in (shown.out, shown.err, human.out, human.err):
        assert password not in text
    forgotten = run_cli("state", "forget", list_id, "--state", postgres_url, "--yes", env=env)
    assert forgotten.returncode == 0, forgotten.stderr
    assert_private(forgotten, password)
    assert run(["state", "show", "--state", postgres_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lists"] == []
