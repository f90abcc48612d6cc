"""`pinaudience prepare` through its real entry point, in a subprocess: output, files, exit codes, privacy."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

CANARY = "Canary.Person@Private.Example"
VALUES = [CANARY, "ann@example.com", " ANN@example.com", "bad-value", "", hashlib.md5(b"x@example.com").hexdigest()]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pinaudience", "prepare", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_private(result: subprocess.CompletedProcess[str]) -> None:
    """Neither stream holds a raw email from the file, nor a traceback."""
    for stream in (result.stdout, result.stderr):
        lowered = stream.lower()
        assert CANARY.lower() not in lowered
        assert "ann@example.com" not in lowered
        assert "Traceback" not in stream


@pytest.fixture
def customers(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text("id;Email\n" + "".join(f"{i};{value}\n" for i, value in enumerate(VALUES)), encoding="utf-8")
    return path


def test_json_report_out_and_rejects(customers: Path, tmp_path: Path) -> None:
    """--json prints the report's keys; --out writes hashes under a `record` header; --rejects rows and reasons."""
    out, rejects = tmp_path / "records.csv", tmp_path / "rejects.csv"
    result = run_cli(customers, "--json", "--out", out, "--rejects", rejects)
    assert result.returncode == 0, result.stderr
    assert_private(result)
    report = json.loads(result.stdout)
    assert report["rows_read"] == len(VALUES)
    assert report["invalid_by_reason"] == {"empty": 1, "no_at": 1}
    assert report["prehashed_by_algorithm"]["md5"] == 1
    assert (report["hashed"], report["duplicates"], report["records"]) == (3, 1, 3)
    assert any("mix hashing methods" in warning for warning in report["warnings"])
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "record"
    assert hashlib.sha256(CANARY.lower().encode()).hexdigest() in lines
    assert len(lines) == 1 + report["records"]
    assert rejects.read_text(encoding="utf-8").splitlines() == ["row,reason", "4,no_at", "5,empty"]
    assert CANARY.lower() not in out.read_text(encoding="utf-8").lower()


def test_table_on_a_terminal_and_parquet_out(customers: Path, tmp_path: Path) -> None:
    """Without --json the counts are a table; --out FILE.parquet writes the records as Parquet."""
    out = tmp_path / "records.parquet"
    result = run_cli(customers, "--out", out, "--hash", "SHA1")
    assert result.returncode == 0, result.stderr
    assert_private(result)
    assert "records" in result.stdout
    assert "rows read" in result.stdout
    assert "warning" in result.stderr
    records = pl.read_parquet(out).get_column("record").to_list()
    assert hashlib.sha1(b"ann@example.com").hexdigest() in records


def test_plain_output_with_hash_none_stays_in_the_file(customers: Path, tmp_path: Path) -> None:
    """--hash none writes plain emails to --out, but the report on stdout still holds none of them."""
    out = tmp_path / "plain.csv"
    result = run_cli(customers, "--hash", "none", "--json", "--out", out)
    assert result.returncode == 0, result.stderr
    assert_private(result)
    assert CANARY.lower() in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "empty"),
        (b"email\n", "no data rows"),
        (b"\x00\x01binary" + CANARY.encode(), "binary"),
        (CANARY.encode("utf-16"), "UTF-16"),
        (f"email\n{CANARY}\n".encode("latin-1") + b"\xe9\n", "not UTF-8"),
        (f'email\n"{CANARY}\n'.encode(), "never closed"),
    ],
)
def test_bad_input_exits_1_with_a_clear_message(tmp_path: Path, content: bytes | None, message: str) -> None:
    """Each bad input: exit code 1, kind and message on stderr, no traceback, no value."""
    path = tmp_path / "input.csv"
    if content is not None:
        path.write_bytes(content)
    result = run_cli(path)
    assert result.returncode == 1
    assert "invalid_input" in result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert_private(result)


def test_missing_column_exits_1(customers: Path) -> None:
    """An unknown --column exits 1 and lists the columns."""
    result = run_cli(customers, "--column", "nope")
    assert result.returncode == 1
    assert "'id', 'Email'" in result.stderr
    assert_private(result)


def test_bad_out_extension_exits_1(customers: Path, tmp_path: Path) -> None:
    """--out must end in .csv or .parquet; nothing is read or written otherwise."""
    result = run_cli(customers, "--out", tmp_path / "records.txt")
    assert result.returncode == 1
    assert "invalid_config" in result.stderr
    assert not (tmp_path / "records.txt").exists()


def test_plain_records_a_spreadsheet_would_run_are_flagged(tmp_path: Path) -> None:
    """Plain records starting with = + - @ are written unchanged to CSV, with a warning that names only a count."""
    source = tmp_path / "c.csv"
    source.write_text("email\n=cmd|'/ccalc'!a0@x.com\n-dash@example.com\nann@example.com\n", encoding="utf-8")
    out = tmp_path / "plain.csv"
    result = run_cli(source, "--hash", "none", "--json", "--out", out)
    assert result.returncode == 0, result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert any(w.startswith("2 plain-text records") and "formula" in w for w in warnings)
    assert "=cmd|'/ccalc'!a0@x.com" in out.read_text(encoding="utf-8").splitlines()
    assert "cmd" not in result.stdout
    hashed_out = tmp_path / "hashed.csv"
    clean = run_cli(source, "--json", "--out", hashed_out)
    assert not any("formula" in w for w in json.loads(clean.stdout)["warnings"])


def test_counts_only_report_equals_the_report_with_out(customers: Path, tmp_path: Path) -> None:
    """Without --out the command only counts, and its report and rejects are those of a run with --out."""
    rejects_counted, rejects_full = tmp_path / "counted.csv", tmp_path / "full.csv"
    counted = run_cli(customers, "--json", "--rejects", rejects_counted)
    full = run_cli(customers, "--json", "--out", tmp_path / "records.csv", "--rejects", rejects_full)
    assert counted.returncode == full.returncode == 0, counted.stderr + full.stderr
    assert_private(counted)
    assert json.loads(counted.stdout) == json.loads(full.stdout)
    assert rejects_counted.read_bytes() == rejects_full.read_bytes()
