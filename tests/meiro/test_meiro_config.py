"""The Meiro component's config.json: Meiro's parameter rules, mapped onto the same settings as the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pinaudience.config import SyncMode
from pinaudience.errors import ConfigError, InputError
from pinaudience.identifiers.types import HashAlgorithm, IdType
from pinaudience.integrations.meiro import ComponentPaths, load_component_settings, settings_from_parameters

TOKEN = "pina_CANARY_meiro_token"


def data_dir(tmp_path: Path, parameters: dict[str, Any], *, table: bool = True) -> Path:
    (tmp_path / "in" / "tables").mkdir(parents=True)
    (tmp_path / "config.json").write_text(json.dumps({"parameters": parameters}))
    if table:
        (tmp_path / "in" / "tables" / "customers.csv").write_text("email\na@example.com\n")
    return tmp_path


def params(**extra: Any) -> dict[str, Any]:
    return {"#access_token": TOKEN, "ad_account_id": "549755885175", **extra}


def test_audience_name_finds_or_creates_and_mirrors_by_default(tmp_path: Path) -> None:
    """Without an audience id, the name names list and audience, and the file is mirrored."""
    settings = load_component_settings(data_dir(tmp_path, params(audience_name="VIP")))
    (audience,) = settings.audiences
    assert (audience.list_name, audience.audience_name, audience.mode) == ("VIP", "VIP", SyncMode.MIRROR)
    assert audience.input == tmp_path / "in" / "tables" / "customers.csv"
    assert settings.state_dir == tmp_path / "state"
    assert settings.pinterest.credentials.token_store == tmp_path / "state" / "tokens.json"
    assert settings.pinterest.credentials.access_token is not None
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("operation", "mode"), [("add", SyncMode.ADD), ("remove", SyncMode.REMOVE), ("replace", SyncMode.MIRROR)]
)
def test_audience_id_applies_the_operation_to_its_list(tmp_path: Path, operation: str, mode: SyncMode) -> None:
    """With an audience id, audience_operation says what to do with that audience's list."""
    settings = load_component_settings(
        data_dir(tmp_path, params(audience_id="2542620905473", audience_operation=operation))
    )
    (audience,) = settings.audiences
    assert (audience.audience_id, audience.list_name, audience.mode) == ("2542620905473", None, mode)


def test_our_parameters_map_onto_settings(tmp_path: Path) -> None:
    """Our own parameters reach the settings with their types."""
    settings = load_component_settings(
        data_dir(
            tmp_path,
            params(
                audience_name="Devices",
                id_type="maid",
                column="gaid",
                hash_algorithm="sha1",
                batch_size=2500,
                max_remove_fraction="0.2",
                dry_run=True,
                api_base="http://127.0.0.1:9/v5",
                state_dir=str(tmp_path / "persist"),
            ),
        )
    )
    (audience,) = settings.audiences
    assert (audience.id_type, audience.column, audience.hash) == (IdType.MAID, "gaid", HashAlgorithm.SHA1)
    assert (audience.batch_size, audience.max_remove_fraction, audience.dry_run) == (2500, 0.2, True)
    assert settings.pinterest.api_base == "http://127.0.0.1:9/v5"
    assert settings.state_dir == tmp_path / "persist"


def test_hash_customer_id_false_sends_plain_emails(tmp_path: Path) -> None:
    """Meiro's hash_customer_id=false means records leave unhashed (lowercased)."""
    settings = load_component_settings(data_dir(tmp_path, params(audience_name="A", hash_customer_id=False)))
    assert settings.audiences[0].hash is HashAlgorithm.NONE


def test_refresh_token_credentials(tmp_path: Path) -> None:
    """A refresh token with app id and secret is accepted instead of an access token."""
    parameters = {
        "ad_account_id": "1",
        "audience_name": "A",
        "#refresh_token": "pinr_x",
        "app_id": "1000001",
        "#app_secret": "s",
    }
    settings = load_component_settings(data_dir(tmp_path, parameters))
    assert settings.pinterest.credentials.can_refresh


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"#access_token": TOKEN, "audience_name": "A"}, "`ad_account_id` is required"),
        (params(ad_account_id="abc", audience_name="A"), "ad_account_id"),
        (params(audience_id="123"), "`audience_operation` is required"),
        (params(), "`audience_name` is required"),
        (params(audience_name="A", audience_operation="merge"), "add, remove or replace"),
        (params(audience_name="A", hash_customer_id="maybe"), "`hash_customer_id` must be true or false"),
        (params(audience_name="A", hash_customer_id=False, hash_algorithm="md5"), "contradicts"),
        (params(audience_name="A", batch_size="lots"), "`batch_size` must be a number"),
        (params(audience_name="A", batch_size=10.5), "whole number"),
        (params(audience_name="A", id_type="phone"), "`id_type` must be one of"),
        (params(audience_name="A", colour="red"), "unknown parameter colour"),
        ({"ad_account_id": "1", "audience_name": "A"}, "no Pinterest credentials"),
    ],
)
def test_bad_config_names_the_parameter(tmp_path: Path, parameters: dict[str, Any], message: str) -> None:
    """Each bad config is a ConfigError naming the parameter and what it expects."""
    with pytest.raises(ConfigError, match=message) as info:
        settings_from_parameters(parameters, ComponentPaths(tmp_path))
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("content", ["{not json", '{"params": {}}', "[]"])
def test_malformed_config_json(tmp_path: Path, content: str) -> None:
    """config.json that is not `{"parameters": {...}}` is a clear ConfigError."""
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(ConfigError, match=r"config\.json"):
        load_component_settings(tmp_path)


def test_missing_input_table_lists_what_is_there(tmp_path: Path) -> None:
    """Without customers.csv the error says which tables were found."""
    root = data_dir(tmp_path, params(audience_name="A"), table=False)
    (root / "in" / "tables" / "segment.csv").write_text("email\n")
    with pytest.raises(InputError, match=r"segment\.csv"):
        load_component_settings(root)


def test_a_postgresql_state_takes_its_password_from_a_secret_parameter(tmp_path: Path) -> None:
    """`state` may be a PostgreSQL URL without a password; `#state_password` completes it and shows nowhere."""
    password = "canary-meiro-pg/pw@x"
    settings = load_component_settings(
        data_dir(
            tmp_path,
            params(audience_name="VIP", state="postgresql://loader@db.internal/cdp", **{"#state_password": password}),
        )
    )
    assert settings.state == "postgresql://loader:canary-meiro-pg%2Fpw%40x@db.internal/cdp"
    assert settings.state_dir is None
    assert settings.pinterest.credentials.token_store == settings.state  # the rotated tokens live there too
    assert password not in repr(settings)
    assert "canary-meiro-pg" not in repr(settings)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"state": "/data/state", "#state_password": "x"}, "needs a PostgreSQL `state`"),
        ({"state": "postgresql://db.internal/cdp", "#state_password": "x"}, "names no user"),
        ({"state": "/a", "state_dir": "/b"}, "both set"),
    ],
)
def test_state_parameters_that_do_not_fit_together_are_refused(
    tmp_path: Path, extra: dict[str, Any], message: str
) -> None:
    """A password without a URL to put it in, a URL without a user, or both names of the state: a ConfigError."""
    with pytest.raises(ConfigError, match=message):
        load_component_settings(data_dir(tmp_path, params(audience_name="VIP", **extra)))
