"""One audience per job: `pinaudience audiences` lists a config file's audiences, `sync --audience NAME` runs one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pinaudience.cli import run
from pinaudience.config import Overrides, load_settings
from pinaudience.errors import ConfigError
from tests.cli.cli_helpers import ACCOUNT, Served, assert_private, config_file, run_cli
from tests.helpers import emails, expected_members, write_csv

THREE = f"""\
[pinterest]
ad_account_id = "{ACCOUNT}"

[defaults]
batch_size = 50

[[audience]]
input = "vip.csv"
list_name = "VIP customers"

[[audience]]
name = "app-users"
input = "app.csv"
list_name = "App users"
audience_name = "App users (audience)"

[[audience]]
input = "lapsed.csv"
audience_id = "2542620000001"
mode = "add"
"""


@pytest.fixture
def three(tmp_path: Path) -> Path:
    path = tmp_path / "pinaudience.toml"
    path.write_text(THREE)
    return path


def test_names_are_the_name_key_then_audience_name_then_list_name_then_the_id(three: Path) -> None:
    """An audience's name is `name`, else `audience_name`, else `list_name`, else its id."""
    settings = load_settings(three, env={})
    assert [a.label for a in settings.audiences] == ["VIP customers", "app-users", "2542620000001"]
    assert settings.audiences[1].name == "app-users"


def test_audiences_prints_one_name_a_line(three: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Plain output is the names, one a line, and nothing else: `for name in $(...)` works on it."""
    assert run(["audiences", "--config", str(three)]) == 0
    assert capsys.readouterr().out.splitlines() == ["VIP customers", "app-users", "2542620000001"]


def test_audiences_json_is_one_document_with_the_names(three: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the names (what a DAG expands over), the ad account, and each audience's destination."""
    assert run(["audiences", "--config", str(three), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["names"] == ["VIP customers", "app-users", "2542620000001"]
    assert document["ad_account_id"] == ACCOUNT
    assert document["audiences"][1] == {
        "name": "app-users",
        "list_name": "App users",
        "audience_name": "App users (audience)",
        "audience_id": None,
        "customer_list_id": None,
        "mode": "mirror",
        "input": str(three.parent / "app.csv"),
    }
    assert document["audiences"][2]["mode"] == "add"


def test_audiences_needs_no_credentials_and_no_input_files(
    three: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing reads the file only: no token in the environment, no input file on disk, nothing sent."""
    for name in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_ACCESS_TOKEN", "PINTEREST_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert not (three.parent / "vip.csv").exists()
    assert run(["audiences", "--config", str(three), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["names"]) == 3


def test_duplicate_names_cannot_fan_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two audiences of one name: `audiences` and `sync --audience` refuse, saying to add `name` keys."""
    config = tmp_path / "dup.toml"
    config.write_text(
        f'[pinterest]\nad_account_id = "{ACCOUNT}"\n'
        '[[audience]]\ninput = "a.csv"\nlist_name = "Same"\n[[audience]]\ninput = "b.csv"\nlist_name = "Same"\n'
    )
    assert run(["audiences", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "error invalid_config" in err
    assert "several audiences are named 'Same'" in err
    assert "distinct `name` key" in err
    with pytest.raises(ConfigError, match="several audiences are named 'Same'"):
        load_settings(config, overrides=Overrides(audiences=("Same",)), env={})


def test_an_unknown_name_is_a_config_error_listing_the_names(three: Path) -> None:
    """No audience of that name: invalid_config, with how many audiences the file has and their names."""
    with pytest.raises(ConfigError) as raised:
        load_settings(three, overrides=Overrides(audiences=("VIP", "app-users")), env={})
    message = raised.value.message
    assert "no audience named 'VIP'" in message
    assert "3 audiences: 'VIP customers', 'app-users', '2542620000001'" in message
    assert "pinaudience audiences --config FILE" in raised.value.resolution


def test_many_names_are_counted_not_all_listed(tmp_path: Path) -> None:
    """A file of 45 audiences: the error names 20 of them and says how many more there are."""
    tables = "".join(f'[[audience]]\ninput = "x.csv"\nlist_name = "L{i:02}"\n' for i in range(45))
    config = tmp_path / "many.toml"
    config.write_text(f'[pinterest]\nad_account_id = "{ACCOUNT}"\n{tables}')
    with pytest.raises(ConfigError, match=r"45 audiences: 'L00', .*'L19' and 25 more \("):
        load_settings(config, overrides=Overrides(audiences=("nope",)), env={})


def test_selection_keeps_the_file_order_and_lets_flags_apply_to_one(three: Path) -> None:
    """--audience (repeatable) keeps the chosen tables in the file's order; with one chosen, destination flags
    apply to it as to a file of one audience, and [defaults] still apply."""
    two = load_settings(three, overrides=Overrides(audiences=("2542620000001", "VIP customers")), env={})
    assert [a.label for a in two.audiences] == ["VIP customers", "2542620000001"]
    one = load_settings(three, overrides=Overrides(audiences=("app-users",), input=three.parent / "other.csv"), env={})
    (app,) = one.audiences
    assert (app.list_name, app.input, app.batch_size) == ("App users", three.parent / "other.csv", 50)


def test_name_is_a_key_of_audience_tables_only(tmp_path: Path) -> None:
    """`name` tells the [[audience]] tables apart: [defaults] cannot hold it, and an empty one is refused."""
    config = tmp_path / "c.toml"
    config.write_text(f'[pinterest]\nad_account_id = "{ACCOUNT}"\n[defaults]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"\[defaults\]: unknown setting name"):
        load_settings(config, env={})
    config.write_text(f'[pinterest]\nad_account_id = "{ACCOUNT}"\n[[audience]]\nname = ""\nlist_name = "L"\n')
    with pytest.raises(ConfigError, match="`name` must not be empty"):
        load_settings(config, env={})


def test_audience_without_config_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--audience picks from a config file; with flags only it is a usage mistake, named as such."""
    customers = write_csv(tmp_path / "c.csv", emails(5))
    code = run(["sync", str(customers), "--ad-account-id", ACCOUNT, "--list-name", "L", "--audience", "L"])
    assert code == 1
    assert "--audience selects audiences of a config file" in capsys.readouterr().err


def test_sync_audience_syncs_only_that_audience(served: Served, tmp_path: Path, env: dict[str, str]) -> None:
    """`sync --config FILE --audience NAME` sends the named audience only; another job syncs the next one."""
    write_csv(tmp_path / "a.csv", emails(220))
    write_csv(tmp_path / "b.csv", emails(230, start=500))
    body = (
        '[defaults]\nbatch_size = 50\n\n[[audience]]\nname = "first"\ninput = "a.csv"\nlist_name = "A"\n\n'
        '[[audience]]\ninput = "b.csv"\nlist_name = "B"\n'
    )
    config = config_file(tmp_path / "pinaudience.toml", served, body)
    state = tmp_path / "state"
    listed = run_cli("audiences", "--config", config, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    names = json.loads(listed.stdout)["names"]
    assert names == ["first", "B"]

    first = run_cli("sync", "--config", config, "--audience", "B", "--state", state, "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert_private(first)
    report = json.loads(first.stdout)
    assert report["list_name"] == "B"  # one audience: its report, every key at the top
    assert len([w for w in served.writes() if w["operation"] == "customer_lists/create"]) == 1
    assert served.records(report["customer_list_id"]) == expected_members(emails(230, start=500))

    second = run_cli("sync", "--config", config, "--audience", "first", "--state", state, "--json", env=env)
    assert second.returncode == 0, second.stderr
    other = json.loads(second.stdout)
    assert other["list_name"] == "A"
    assert served.records(other["customer_list_id"]) == expected_members(emails(220))


@pytest.mark.parametrize("command", ["check", "status"])
def test_check_and_status_take_audience_too(command: str, three: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check` and `status` select by name as `sync` does, so a job can check its own audience first."""
    assert run([command, "--config", str(three), "--audience", "nope"]) == 1
    assert "no audience named 'nope'; the file defines 3 audiences" in capsys.readouterr().err


def test_check_audience_checks_only_that_audience(served: Served, tmp_path: Path, env: dict[str, str]) -> None:
    """`check --config FILE --audience NAME --json` checks the one audience named."""
    write_csv(tmp_path / "a.csv", emails(5))
    body = (
        '[[audience]]\nname = "a"\ninput = "a.csv"\nlist_name = "A"\n\n[[audience]]\ninput = "b.csv"\nlist_name = "B"\n'
    )
    config = config_file(tmp_path / "pinaudience.toml", served, body)
    result = run_cli("check", "--config", config, "--audience", "a", "--json", env=env)
    assert result.returncode == 0, result.stderr
    (only,) = json.loads(result.stdout)["checks"]
    assert only["steps"][0]["name"] == "input"
    assert only["steps"][0]["ok"] is True
