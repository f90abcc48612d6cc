"""Settings: file < flags, the environment fills secrets only, and every mistake names its setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinaudience.config import Overrides, Secret, SyncMode, load_settings
from pinaudience.errors import ConfigError
from pinaudience.identifiers.types import HashAlgorithm, IdType
from pinaudience.pinterest.limits import RateLimit

CANARY = "pina_CANARY_TOKEN_do_not_leak"

CONFIG = """
state_dir = "state"

[pinterest]
ad_account_id = "549755885175"
api_base = "http://127.0.0.1:8765/v5"
ads_write_limit = "200/60"

[defaults]
hash = "sha1"
batch_size = 5000

[[audience]]
input = "vip.csv"
list_name = "VIP"

[[audience]]
input = "/abs/lapsed.csv"
audience_id = "2542620905473"
mode = "replace"
id_type = "maid"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pinaudience.toml"
    path.write_text(text)
    return path


def test_file_defines_connection_and_several_audiences(tmp_path: Path) -> None:
    """A config file holds the connection, defaults, and any number of audiences."""
    settings = load_settings(write(tmp_path, CONFIG), env={})
    assert settings.pinterest.ad_account_id == "549755885175"
    assert settings.pinterest.ads_write_limit == RateLimit(200, 60)
    assert settings.state_dir == tmp_path / "state"
    vip, lapsed = settings.audiences
    assert vip.input == tmp_path / "vip.csv"
    assert (vip.list_name, vip.effective_audience_name, vip.hash, vip.batch_size) == (
        "VIP",
        "VIP",
        HashAlgorithm.SHA1,
        5000,
    )
    assert lapsed.input == Path("/abs/lapsed.csv")
    assert (lapsed.mode, lapsed.id_type) == (SyncMode.MIRROR, IdType.MAID)


def test_flags_override_the_file_for_every_audience(tmp_path: Path) -> None:
    """Run flags (mode, dry run, batch size) win over the file and the defaults."""
    overrides = Overrides(dry_run=True, batch_size=100, mode="add", ad_account_id="1234")
    settings = load_settings(write(tmp_path, CONFIG), overrides=overrides, env={})
    assert settings.pinterest.ad_account_id == "1234"
    assert all(a.dry_run and a.batch_size == 100 and a.mode is SyncMode.ADD for a in settings.audiences)


def test_destination_flags_need_a_single_audience(tmp_path: Path) -> None:
    """Destination flags cannot say which of several audiences they mean."""
    with pytest.raises(ConfigError, match="2 audiences"):
        load_settings(write(tmp_path, CONFIG), overrides=Overrides(list_name="Other"), env={})


def test_flags_alone_make_one_audience() -> None:
    """Without a file, flags describe the single audience; relative paths stay relative to the cwd."""
    settings = load_settings(
        overrides=Overrides(ad_account_id="549755885175", input=Path("c.csv"), list_name="L"), env={}
    )
    (audience,) = settings.audiences
    assert audience.input == Path("c.csv")
    assert audience.list_name == "L"


def test_environment_fills_secrets_but_overrides_nothing(tmp_path: Path) -> None:
    """PINTEREST_* variables fill missing credentials; the file's own values stand."""
    text = CONFIG.replace('ads_write_limit = "200/60"', 'ads_write_limit = "200/60"\napp_id = "42"')
    env = {
        "PINTEREST_ACCESS_TOKEN": CANARY,
        "PINTEREST_APP_ID": "1000001",
        "PINTEREST_APP_SECRET": "s3cret",
        "PINTEREST_API_URI": "http://elsewhere/v5",
    }
    creds = load_settings(write(tmp_path, text), env=env).pinterest.credentials
    assert creds.access_token == Secret(CANARY)
    assert creds.app_id == "42"
    assert load_settings(write(tmp_path, text), env=env).pinterest.api_base == "http://127.0.0.1:8765/v5"


def test_secrets_never_show_in_reprs() -> None:
    """Neither the Secret nor the settings holding it print the token."""
    settings = load_settings(
        overrides=Overrides(ad_account_id="1", list_name="L"), env={"PINTEREST_ACCESS_TOKEN": CANARY}
    )
    assert CANARY not in repr(settings)
    assert CANARY not in str(settings.pinterest.credentials.access_token)
    assert settings.pinterest.credentials.access_token is not None
    assert settings.pinterest.credentials.access_token.reveal() == CANARY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[pinterest]\nad_account_id = "12ab"\n[[audience]]\nlist_name="L"', "ad_account_id"),
        ('[pinterest]\nad_account_id = "1234567890123456789"\n[[audience]]\nlist_name="L"', "ad_account_id"),
        ('[[audience]]\nlist_name = "L"', "ad account id is missing"),
        ('[pinterest]\nad_account_id = "1"\ncolour = "red"', "unknown setting colour"),
        ('[pinterest]\nad_account_id = "1"\n[[audience]]\nlist_name="L"\nmode="sideways"', "`mode` must be one of"),
        ('[pinterest]\nad_account_id = "1"\n[[audience]]\nlist_name="L"\nbatch_size=1000000', "at most 100,000"),
        ('[pinterest]\nad_account_id = "1"\n[[audience]]\nlist_name="L"\nmax_remove_fraction=2', "between 0 and 1"),
        ('[pinterest]\nad_account_id = "1"\n[[audience]]\ninput="x.csv"', "no destination"),
        ('[pinterest]\nad_account_id = "1"\n[[audience]]\naudience_id="1"\ncustomer_list_id="2"', "not both"),
        ('[pinterest]\nad_account_id = "1"\nads_write_limit = "fast"\n[[audience]]\nlist_name="L"', "N/SECONDS"),
        ("[pinterest\n", "not valid TOML"),
    ],
)
def test_mistakes_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    """Each bad value is a ConfigError that names what is wrong."""
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), env={})


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist is reported as such, not as a traceback."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


PG_URL = "postgresql://worker:canary-pw@db.example:5432/pinaudience"


def test_a_postgresql_state_holds_the_tokens_unless_a_token_store_is_given(tmp_path: Path) -> None:
    """A PostgreSQL state (file key or PINAUDIENCE_STATE) is the token store too; an explicit token_store wins."""
    in_file = CONFIG.replace('state_dir = "state"', f'state_dir = "{PG_URL}"')
    assert load_settings(write(tmp_path, in_file), env={}).pinterest.credentials.token_store == PG_URL
    from_env = load_settings(
        write(tmp_path, CONFIG.replace('state_dir = "state"', "")), env={"PINAUDIENCE_STATE": PG_URL}
    )
    assert from_env.pinterest.credentials.token_store == PG_URL
    given = in_file.replace('ads_write_limit = "200/60"', 'ads_write_limit = "200/60"\ntoken_store = "t.json"')
    assert load_settings(write(tmp_path, given), env={}).pinterest.credentials.token_store == Path("t.json")
    flag = load_settings(write(tmp_path, CONFIG), overrides=Overrides(token_store="postgres://other/db"), env={})
    assert flag.pinterest.credentials.token_store == "postgres://other/db"
    assert load_settings(write(tmp_path, CONFIG), env={}).pinterest.credentials.token_store != PG_URL
    assert "canary-pw" not in repr(from_env)
    assert "worker:***@db.example" in repr(from_env.pinterest.credentials)


STATE_URL = "postgresql://pinaudience:canary-pg-secret@db.internal:5432/cdp"


def test_the_state_is_a_directory_or_a_postgresql_url(tmp_path: Path) -> None:
    """`state` in the file is a directory (relative to the file) or a PostgreSQL URL; `state_dir` is its old name."""
    base = '[pinterest]\nad_account_id = "549755885175"\n'
    as_dir = load_settings(write(tmp_path, f'state = "var/state"\n{base}'), env={})
    assert as_dir.state == str(tmp_path / "var" / "state")
    assert as_dir.state_dir == tmp_path / "var" / "state"
    as_url = load_settings(write(tmp_path, f'state = "{STATE_URL}"\n{base}'), env={})
    assert as_url.state == STATE_URL
    assert as_url.state_dir is None
    old_name = load_settings(write(tmp_path, f'state_dir = "{STATE_URL}"\n{base}'), env={})
    assert old_name.state == STATE_URL
    with pytest.raises(ConfigError, match="both `state` and `state_dir`"):
        load_settings(write(tmp_path, f'state = "a"\nstate_dir = "b"\n{base}'), env={})


def test_the_state_comes_from_the_flag_then_the_file_then_the_environment(tmp_path: Path) -> None:
    """--state beats the file's `state`, which beats PINAUDIENCE_STATE; the environment fills only what is unset."""
    base = '[pinterest]\nad_account_id = "549755885175"\n'
    env = {"PINAUDIENCE_STATE": STATE_URL}
    assert load_settings(write(tmp_path, base), env=env).state == STATE_URL
    assert load_settings(write(tmp_path, f'state = "s"\n{base}'), env=env).state == str(tmp_path / "s")
    flagged = load_settings(write(tmp_path, f'state = "s"\n{base}'), overrides=Overrides(state="/x"), env=env)
    assert flagged.state == "/x"
    assert load_settings(write(tmp_path, base), env={}).state is None


def test_a_state_password_never_shows_in_settings(tmp_path: Path) -> None:
    """The repr of Settings (and Overrides) shows the state URL without its password."""
    settings = load_settings(overrides=Overrides(ad_account_id="549755885175", state=STATE_URL), env={})
    assert settings.state == STATE_URL
    assert "canary-pg-secret" not in repr(settings)
    assert "canary-pg-secret" not in repr(Overrides(state=STATE_URL))
    assert settings.state_location == "postgresql://pinaudience:***@db.internal:5432/cdp"
    assert "postgresql://pinaudience:***@db.internal:5432/cdp" in repr(settings)
