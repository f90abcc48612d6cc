"""The Dockerfile, checked where no Docker engine runs: its base, user, entry point and copied paths exist."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from pinaudience.cli import run
from pinaudience.integrations.meiro import ComponentPaths

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    result = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def only(keyword: str) -> str:
    (value,) = [rest for key, rest in instructions() if key == keyword]
    return value


def test_a_slim_python_base_and_a_user_that_is_not_root() -> None:
    """FROM a python slim image the package supports; USER names neither root nor uid 0."""
    assert re.fullmatch(r"python:3\.1[1-9]-slim", only("FROM"))
    user = only("USER")
    assert user not in {"root", "0"}
    assert not user.startswith("0:")


def test_the_entry_point_is_the_component_on_slash_data() -> None:
    """ENTRYPOINT runs the installed `pinaudience component`; CMD points it at /data, Meiro's mount."""
    assert json.loads(only("ENTRYPOINT")) == ["pinaudience", "component"]
    assert json.loads(only("CMD")) == ["--data-dir", "/data"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["pinaudience"] == "pinaudience.cli:main"
    paths = ComponentPaths(Path("/data"))
    assert str(paths.input_table) == "/data/in/tables/customers.csv"
    assert str(paths.report_table) == "/data/out/tables/pinterest_audience_report.csv"


def test_component_help_names_the_data_dir(capsys: pytest.CaptureFixture[str]) -> None:
    """The entry point's command exists and takes --data-dir."""
    assert run(["component", "--help"]) == 0
    assert "--data-dir" in capsys.readouterr().out


def test_every_copied_path_exists_and_is_not_ignored() -> None:
    """COPY sources exist in the repository, and .dockerignore keeps them in the build context."""
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copies = [rest.split() for key, rest in instructions() if key == "COPY"]
    assert copies
    for *sources, _destination in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source not in ignored
    assert {".venv", ".git"} <= ignored
