"""`pinaudience demo`, as a newcomer runs it, and the docs that promise what the CLI does."""

from __future__ import annotations

import re
from pathlib import Path

from pinaudience.errors import ERROR_KINDS
from tests.cli.cli_helpers import assert_private, clean_env, run_cli

ROOT = Path(__file__).resolve().parents[2]
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"


def test_the_demo_shows_a_first_run_matching_then_the_audience_then_a_change(tmp_path: Path) -> None:
    """Exit 0; the first run leaves the audience to Pinterest's matching, the second has it without re-sending, the
    third mirrors a change; the list equals the changed file; nothing of the user's touched."""
    home = tmp_path / "home"
    home.mkdir()
    result = run_cli("demo", env=clean_env(home), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. First mirror" in out
    assert re.search(r"Audience: (pending\. Pinterest is still matching|created, INITIALIZING)", out)
    assert "pinaudience status: Pinterest is still matching (list PROCESSING" in out
    assert "2. Pinterest has matched the list" in out
    assert re.search(r"Audience: (created now|there), status READY, size [\d,]+; records sent this time: 0\.", out)
    assert "3. The segment changed" in out
    assert "4. The emulator's view" in out
    assert out.count("pinaudience sync: Demo: VIP customers") == 3
    assert re.search(r"members equal the file\s+yes", out)
    assert re.search(r"customer list\s+\d+ \(Demo: VIP customers\) created", out)
    assert "pre-hashed" in out
    assert "invalid: no_at" in out
    assert "duplicates" in out
    assert "@example.com" not in out + result.stderr
    assert_private(result)
    assert list(home.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_the_readme_starts_with_the_demo_then_the_test_command() -> None:
    """The README's first command installs the package and runs the demo; the second is CI's test command, exactly."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks[0].strip() == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/pinaudience demo"
    assert blocks[1].strip() == TEST_COMMAND
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_operations_guide_has_every_error_kind_and_its_resolution() -> None:
    """docs/operations.md has a section per error kind, quoting its resolution exactly, and the exit codes."""
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for kind, error_class in ERROR_KINDS.items():
        assert f"### `{kind}`" in guide, kind
        assert f"> {error_class.default_resolution}" in guide, kind
    for code in ("| 0 |", "| 1 |", "| 2 |"):
        assert code in guide
