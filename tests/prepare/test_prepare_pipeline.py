"""prepare(): counts, records, rejects, sample, progress and warnings, checked against the scalar reference."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pinaudience import ConfigError, HashAlgorithm, IdType, InputError, PrepareProgress, prepare
from pinaudience.identifiers.reference import Result, prepare_value
from pinaudience.input.prepare import BATCH_ROWS, _query, prepare_counts
from pinaudience.input.source import open_source
from pinaudience.records.recordset import RecordSet

REPORT_KEYS = [
    "rows_read",
    "rows_valid",
    "rows_invalid",
    "invalid_by_reason",
    "duplicates",
    "prehashed_by_algorithm",
    "hashed",
    "records",
    "warnings",
]
MIXED = [
    "ann@example.com",
    "  ANN@example.com ",
    "bob@example.org",
    "",
    "no-at-sign",
    "two@@example.com",
    "@example.com",
    "carl@example",
    "dana smith@example.com",
    hashlib.sha256(b"erin@example.com").hexdigest().upper(),
    hashlib.sha256(b"erin@example.com").hexdigest(),
    hashlib.md5(b"fay@example.com").hexdigest(),
    "Jürgen@Bücher.de",
    "\u00a0gil@example.com\u200b",
    "bob@example.org",
]


def write_column(path: Path, values: list[str], header: str | None = "email") -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        if header is not None:
            writer.writerow([header])
        writer.writerows([value] for value in values)
    return path


def reference_report(
    values: list[str], id_type: IdType = IdType.EMAIL, algorithm: HashAlgorithm = HashAlgorithm.SHA256
) -> tuple[dict[str, Any], list[str], list[Result]]:
    """Counts and records computed one value at a time with the scalar reference."""
    results = [prepare_value(value, id_type, algorithm) for value in values]
    records = [result.record for result in results if result.record is not None]
    origins = Counter(result.origin for result in results)
    reasons = Counter(result.reason for result in results if result.reason)
    distinct = RecordSet.from_records(records).to_list()
    return (
        {
            "rows_read": len(values),
            "rows_valid": len(records),
            "rows_invalid": origins["invalid"],
            "invalid_by_reason": dict(reasons),
            "duplicates": len(records) - len(distinct),
            "prehashed_by_algorithm": {name: origins[name] for name in ("md5", "sha1", "sha256")},
            "hashed": origins["hashed"],
            "records": len(distinct),
        },
        distinct,
        results,
    )


def test_counts_and_records_match_the_reference(tmp_path: Path) -> None:
    """Every count of the report, and the records in order, are what the per-value reference gives."""
    prepared = prepare(write_column(tmp_path / "mixed.csv", MIXED))
    expected, records, _ = reference_report(MIXED)
    report = prepared.report.to_dict()
    assert list(report) == REPORT_KEYS
    assert {key: report[key] for key in expected} == expected
    assert prepared.records.to_list() == records
    assert prepared.records.count == expected["records"]
    json.dumps(report)


def test_report_warns_when_hashing_methods_mix(tmp_path: Path) -> None:
    """Pre-hashed MD5 beside emails hashed here with SHA-256 draws a warning; SHA-256 on both sides does not."""
    mixed = prepare(write_column(tmp_path / "mixed.csv", MIXED)).report.warnings
    assert any("mix hashing methods" in warning for warning in mixed)
    same = [hashlib.sha256(b"x@example.com").hexdigest(), "y@example.com"]
    assert prepare(write_column(tmp_path / "same.csv", same)).report.warnings == []


def test_plain_emails_with_hash_none(tmp_path: Path) -> None:
    """With hash none the records are the lower-cased emails; pre-hashed values beside them draw the warning."""
    prepared = prepare(write_column(tmp_path / "mixed.csv", MIXED), hash=HashAlgorithm.NONE)
    expected, records, _ = reference_report(MIXED, algorithm=HashAlgorithm.NONE)
    assert prepared.records.to_list() == records
    assert prepared.report.hashed == expected["hashed"] == 0
    assert "ann@example.com" in records
    assert any("plain text" in warning for warning in prepared.report.warnings)


def test_device_ids_with_hash_none_are_hashed_with_a_warning(tmp_path: Path) -> None:
    """MAIDs are hashed with SHA-256 even when hashing is off, and the report says so."""
    values = ["6D92078A-8246-4BA4-AE5B-76104861E7DC", "00000000-0000-0000-0000-000000000000", "bad"]
    prepared = prepare(
        write_column(tmp_path / "maid.csv", values, header="maid"), id_type=IdType.MAID, hash=HashAlgorithm.NONE
    )
    assert prepared.records.to_list() == [hashlib.sha256(b"6d92078a-8246-4ba4-ae5b-76104861e7dc").hexdigest()]
    assert prepared.report.invalid_by_reason == {"zero_id": 1, "bad_uuid": 1}
    assert any("hashed with sha256" in warning for warning in prepared.report.warnings)


def test_no_valid_values_warns(tmp_path: Path) -> None:
    """A file with values but none valid for the id type says to check the id type and column."""
    prepared = prepare(
        write_column(tmp_path / "emails.csv", ["ann@example.com"], header="customer_id"), id_type=IdType.IDFA
    )
    assert prepared.report.rows_valid == 0
    assert any("no valid idfa values" in warning for warning in prepared.report.warnings)


def test_rejects_file_holds_row_numbers_and_reasons_only(tmp_path: Path) -> None:
    """--rejects: header row,reason; data rows numbered from 1 without the header; never a value."""
    rejects = tmp_path / "rejects.csv"
    prepare(write_column(tmp_path / "mixed.csv", MIXED), rejects=rejects)
    _, _, results = reference_report(MIXED)
    expected = [[str(row), result.reason] for row, result in enumerate(results, start=1) if result.reason]
    lines = list(csv.reader(rejects.read_text(encoding="utf-8").splitlines()))
    assert lines[0] == ["row", "reason"]
    assert lines[1:] == expected
    text = rejects.read_text(encoding="utf-8")
    assert "example" not in text
    assert "no-at-sign" not in text


def test_rejects_file_is_not_left_behind_when_reading_fails(tmp_path: Path) -> None:
    """A run that fails leaves neither the rejects file nor its partial copy."""
    rejects = tmp_path / "rejects.csv"
    source = tmp_path / "quote.csv"
    source.write_text('email\nbad\n"unclosed@example.com\n', encoding="utf-8")
    with pytest.raises(InputError):
        prepare(source, rejects=rejects)
    assert list(tmp_path.iterdir()) == [source]


def test_unwritable_rejects_path_is_a_config_error(tmp_path: Path) -> None:
    """--rejects in a directory that does not exist is refused before reading."""
    with pytest.raises(ConfigError, match="rejects"):
        prepare(write_column(tmp_path / "a.csv", MIXED), rejects=tmp_path / "missing" / "rejects.csv")


def test_sample_keeps_the_first_distinct_records_in_file_order(tmp_path: Path) -> None:
    """sample=N: the first N distinct valid records; the counts cover the rows up to the N-th."""
    values = ["ann@example.com", "bad", "ANN@example.com", "bob@example.com", "", "carl@example.com", "dan@example.com"]
    prepared = prepare(write_column(tmp_path / "s.csv", values), sample=3)
    expected = RecordSet.from_records(
        [
            hashlib.sha256(email.encode()).hexdigest()
            for email in ("ann@example.com", "bob@example.com", "carl@example.com")
        ]
    )
    assert prepared.records.to_list() == expected.to_list()
    report = prepared.report
    assert (report.rows_read, report.rows_valid, report.rows_invalid, report.duplicates) == (6, 4, 2, 1)
    assert any("stopped at row 6" in warning for warning in report.warnings)


def test_sample_larger_than_the_file(tmp_path: Path) -> None:
    """A sample bigger than the file's distinct records keeps them all and says so."""
    prepared = prepare(write_column(tmp_path / "s.csv", MIXED), sample=1000)
    expected, records, _ = reference_report(MIXED)
    assert prepared.records.to_list() == records
    assert prepared.report.rows_read == len(MIXED)
    assert any(f"only {expected['records']} distinct" in warning for warning in prepared.report.warnings)


def test_sample_must_be_positive(tmp_path: Path) -> None:
    """sample=0 is a configuration error."""
    with pytest.raises(ConfigError, match="sample"):
        prepare(write_column(tmp_path / "s.csv", MIXED), sample=0)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """More rows than one batch: a long run of one address, then distinct and invalid rows spread out."""
    rows = BATCH_ROWS + 50_000
    path = tmp_path_factory.mktemp("big") / "big.csv"
    index = pl.int_range(rows, eager=True)
    values = (
        pl.select(
            pl.when(index < BATCH_ROWS)
            .then(pl.lit("same@example.com"))
            .when(index % 1000 == 7)
            .then(pl.lit("invalid"))
            .otherwise(pl.format("user{}@example.com", index))
        )
        .to_series()
        .alias("email")
    )
    values.to_frame().write_csv(path)
    return path


def test_counts_across_batches(big_file: Path, tmp_path: Path) -> None:
    """A file of several batches: counts, rejects in order, and every record, as if read at once."""
    rejects = tmp_path / "rejects.csv"
    prepared = prepare(big_file, rejects=rejects)
    values = pl.read_csv(big_file).get_column("email")
    invalid_rows = [row for row, value in enumerate(values.to_list(), start=1) if value == "invalid"]
    distinct = values.filter(values != "invalid").unique()
    report = prepared.report
    assert report.rows_read == values.len()
    assert report.invalid_by_reason == {"no_at": len(invalid_rows)}
    assert report.records == distinct.len()
    assert report.duplicates == report.rows_valid - distinct.len()
    written = pl.read_csv(rejects)
    assert written.get_column("row").to_list() == invalid_rows


def test_sample_reads_past_a_batch_of_duplicates(big_file: Path) -> None:
    """The distinct records of a sample may lie beyond the first batch."""
    prepared = prepare(big_file, sample=3)
    assert prepared.records.count == 3
    assert prepared.report.rows_read == BATCH_ROWS + 2
    assert prepared.report.duplicates == BATCH_ROWS - 1


def test_progress_reports_rows_and_bytes(big_file: Path) -> None:
    """The callback sees rows and bytes grow, never past the file size, and ends at the whole file."""
    seen: list[PrepareProgress] = []
    prepare(big_file, progress=seen.append)
    size = big_file.stat().st_size
    assert len(seen) >= 2
    assert all(update.total_bytes == size for update in seen)
    assert [update.rows_read for update in seen] == sorted(update.rows_read for update in seen)
    assert [update.bytes_read for update in seen] == sorted(update.bytes_read for update in seen)
    assert all(0 <= update.bytes_read <= size for update in seen)
    assert (seen[-1].rows_read, seen[-1].bytes_read) == (BATCH_ROWS + 50_000, size)


@pytest.mark.parametrize("algorithm", [HashAlgorithm.SHA256, HashAlgorithm.NONE])
def test_reading_stays_in_the_streaming_engine(tmp_path: Path, algorithm: HashAlgorithm) -> None:
    """No step of the first pass falls back to Polars' in-memory engine (which would load the whole file)."""
    for values, header in ((MIXED, "email"), (["a@example.com,1"], "email,id")):
        path = write_column(tmp_path / "g.csv", values, header=header)
        opened = open_source(path)
        query = _query(opened, IdType.EMAIL, algorithm)
        graph = query.show_graph(engine="streaming", plan_stage="physical", raw_output=True, show=False)
        assert graph is not None
        # The legend names the colour of fallback nodes; no node may be filled with it.
        assert '<FONT COLOR="0.0 0.3 1.0">⬤</FONT> in-memory engine fallback' in graph
        assert 'fillcolor="0.0 0.3 1.0"' not in graph


def counted_and_prepared(path: Path, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report of `prepare_counts` and of `prepare` on one file with the same options."""
    counted = prepare_counts(path, **options).report.to_dict()
    prepared = prepare(path, **options)
    prepared.records.close()
    return counted, prepared.report.to_dict()


@pytest.mark.parametrize(
    ("id_type", "algorithm"),
    [
        (IdType.EMAIL, HashAlgorithm.SHA256),
        (IdType.EMAIL, HashAlgorithm.NONE),
        (IdType.EMAIL, HashAlgorithm.MD5),
        (IdType.MAID, HashAlgorithm.NONE),
    ],
)
def test_counts_only_equals_prepare(tmp_path: Path, id_type: IdType, algorithm: HashAlgorithm) -> None:
    """Duplicates, pre-hashed values, invalid rows, plain emails: the counts-only report is prepare's."""
    values = [*MIXED, "8f14e45f-ceea-467f-a0e6-d1b0c1e5a7a2", "8F14E45F-CEEA-467F-A0E6-D1B0C1E5A7A2"]
    path = write_column(tmp_path / "mixed.csv", values)
    counted, prepared = counted_and_prepared(path, id_type=id_type, hash=algorithm)
    assert counted == prepared
    expected, _, _ = reference_report(values, id_type, algorithm)
    assert {key: counted[key] for key in expected} == expected


def test_counts_only_tells_apart_hashes_with_one_prefix(tmp_path: Path) -> None:
    """Pre-hashed values sharing their first 16 or 32 hex digits are distinct records, exactly counted."""
    base = hashlib.sha256(b"x").hexdigest()
    values = [base, base[:32], base[:40], base[:16] + "0" * 48, base.upper(), base[:32]]
    counted, prepared = counted_and_prepared(write_column(tmp_path / "h.csv", values))
    assert counted == prepared
    assert (counted["records"], counted["duplicates"]) == (4, 2)


def test_counts_only_across_batches(big_file: Path, tmp_path: Path) -> None:
    """Several batches: the same report and the same rejects file as prepare, and no file left behind."""
    counted_rejects, prepared_rejects = tmp_path / "counted.csv", tmp_path / "prepared.csv"
    report = prepare_counts(big_file, rejects=counted_rejects, workdir=tmp_path / "work").report
    prepared = prepare(big_file, rejects=prepared_rejects)
    prepared.records.close()
    assert report.to_dict() == prepared.report.to_dict()
    assert counted_rejects.read_bytes() == prepared_rejects.read_bytes()
    assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []


def test_counts_only_refuses_what_prepare_refuses(tmp_path: Path) -> None:
    """A header without data rows, or a column of empty values, is the same InputError."""
    for values in ([], ["", " "]):
        path = write_column(tmp_path / "empty.csv", values)
        with pytest.raises(InputError) as counted:
            prepare_counts(path)
        with pytest.raises(InputError) as prepared:
            prepare(path)
        assert str(counted.value) == str(prepared.value)


@pytest.mark.parametrize("algorithm", [HashAlgorithm.SHA256, HashAlgorithm.NONE])
def test_counts_only_reading_stays_in_the_streaming_engine(tmp_path: Path, algorithm: HashAlgorithm) -> None:
    """The counts-only first pass (no sort prefix) does not fall back to the in-memory engine either."""
    path = write_column(tmp_path / "g.csv", MIXED)
    query = _query(open_source(path), IdType.EMAIL, algorithm, prefix=False)
    graph = query.show_graph(engine="streaming", plan_stage="physical", raw_output=True, show=False)
    assert graph is not None
    assert 'fillcolor="0.0 0.3 1.0"' not in graph
