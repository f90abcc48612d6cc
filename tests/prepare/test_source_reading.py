"""Reading customer files: formats, delimiters, encodings, header detection, column choice, and every bad input."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest

from pinaudience import InputError, prepare
from pinaudience.identifiers.reference import prepare_value
from pinaudience.identifiers.types import HashAlgorithm, IdType
from pinaudience.input.source import SNIFF_BYTES, open_source
from pinaudience.records.recordset import RecordSet

CANARY = "Secret.Person@Canary.Example"
EMAILS = ["ann@example.com", " Bob@Example.COM ", "carl@example.org", "not-an-email", "dana@example.net"]
UUID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


def expected_records(values: Sequence[str | None], id_type: IdType = IdType.EMAIL) -> list[str]:
    """The reference's records for these values, in the RecordSet's order."""
    records = [prepare_value(value, id_type, HashAlgorithm.SHA256).record for value in values]
    return RecordSet.from_records([record for record in records if record is not None]).to_list()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def assert_input_error(path: Path, match: str, **options: object) -> InputError:
    """prepare() refuses the file with an InputError whose text names no value from it."""
    with pytest.raises(InputError, match=match) as caught:
        prepare(path, **options)  # type: ignore[arg-type]
    error = caught.value
    for text in (str(error), error.message, error.resolution, repr(error.to_dict())):
        assert CANARY.lower() not in text.lower()
        assert "example.com" not in text
    return error


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    """Comma, semicolon, tab and pipe files are split on their delimiter and the email column is found."""
    lines = [delimiter.join(["id", "Email", "name"])]
    lines += [delimiter.join([str(i), email, f"Name {i}"]) for i, email in enumerate(EMAILS)]
    path = write(tmp_path / "customers.csv", "\n".join(lines) + "\n")
    prepared = prepare(path)
    assert prepared.source.delimiter == delimiter
    assert prepared.source.column == "Email"
    assert prepared.report.rows_read == len(EMAILS)
    assert prepared.records.to_list() == expected_records(EMAILS)


def test_quoted_fields_hold_delimiters_quotes_and_line_breaks(tmp_path: Path) -> None:
    """RFC 4180 quoting: embedded delimiters, doubled quotes and line breaks stay inside their field."""
    text = (
        'name,email\r\n"Doe, John",john@example.com\r\n"say ""hi""\r\nthere",ann@example.com\r\n'
        '"x","bob,smith@example.com"\r\nplain,"carl@example.com"\r\n'
    )
    prepared = prepare(write(tmp_path / "quoted.csv", text))
    assert prepared.source.delimiter == ","
    assert prepared.report.rows_read == 4
    assert prepared.report.invalid_by_reason == {"bad_local": 1}
    assert prepared.records.to_list() == expected_records(["john@example.com", "ann@example.com", "carl@example.com"])


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("bom", [False, True])
def test_line_ends_and_byte_order_mark(tmp_path: Path, eol: str, bom: bool) -> None:
    """LF, CRLF and CR files, with or without a UTF-8 BOM, read the same."""
    text = ("\ufeff" if bom else "") + eol.join(["email", *EMAILS]) + eol
    prepared = prepare(write(tmp_path / "eol.csv", text))
    assert prepared.source.has_header
    assert prepared.report.rows_read == len(EMAILS)
    assert prepared.records.to_list() == expected_records(EMAILS)


@pytest.mark.parametrize("name", ["customers.csv.gz", "customers.csv", "customers.gzip"])
def test_gzip_is_detected_by_content(tmp_path: Path, name: str) -> None:
    """A gzip-compressed CSV is read whatever its name."""
    path = tmp_path / name
    path.write_bytes(gzip.compress(("email\n" + "\n".join(EMAILS) + "\n").encode()))
    prepared = prepare(path)
    assert prepared.source.compression == "gzip"
    assert prepared.records.to_list() == expected_records(EMAILS)


def test_parquet_is_read(tmp_path: Path) -> None:
    """A Parquet file is read by its signature; the email column is found by name."""
    path = tmp_path / "customers.data"
    pl.DataFrame({"id": list(range(len(EMAILS))), "EMAIL": EMAILS}).write_parquet(path)
    prepared = prepare(path)
    assert prepared.source.format == "parquet"
    assert prepared.source.column == "EMAIL"
    assert prepared.records.to_list() == expected_records(EMAILS)


def test_parquet_categorical_and_null_values(tmp_path: Path) -> None:
    """Categorical text columns are read as text; nulls are empty values."""
    path = tmp_path / "customers.parquet"
    values = [*EMAILS, None]
    pl.DataFrame({"email": pl.Series(values, dtype=pl.Categorical)}).write_parquet(path)
    prepared = prepare(path)
    assert prepared.report.invalid_by_reason == {"empty": 1, "no_at": 1}
    assert prepared.records.to_list() == expected_records(values)


def test_parquet_nested_column_is_refused(tmp_path: Path) -> None:
    """A column that holds lists is not text."""
    path = tmp_path / "nested.parquet"
    pl.DataFrame({"email": [["a@example.com"]]}).write_parquet(path)
    assert_input_error(path, "not text")


@pytest.mark.parametrize(
    ("first", "id_type"),
    [
        ("ann@example.com", IdType.EMAIL),
        ("not-an-email@", IdType.EMAIL),
        ("B4C9A289323B21A01C3E940F150EB9B8C542587F1ABFD8F0E1CC1FFC5E475514", IdType.EMAIL),
        ("d41d8cd98f00b204e9800998ecf8427e", IdType.EMAIL),
        (UUID.upper(), IdType.MAID),
        ('"ann@example.com"', IdType.EMAIL),
    ],
)
def test_headerless_file_starts_with_a_value(tmp_path: Path, first: str, id_type: IdType) -> None:
    """A first row that is an email, a hash or a UUID is data: every row is counted."""
    path = write(tmp_path / "bare.csv", f"{first}\n{UUID}\ncarl@example.org\n")
    prepared = prepare(path, id_type=id_type)
    assert not prepared.source.has_header
    assert prepared.source.columns == ("column_1",)
    assert prepared.report.rows_read == 3


def test_headerless_multi_column_file_needs_a_column(tmp_path: Path) -> None:
    """Without a header and with several columns, the error names the numbered columns; --column 2 works."""
    path = write(tmp_path / "bare.csv", f"1,{CANARY}\n2,ann@example.com\n")
    error = assert_input_error(path, "no header row and 2 columns")
    assert "column_1" in error.message
    assert "column_2" in error.message
    for column in ("2", "column_2", "COLUMN_2"):
        prepared = prepare(path, column=column)
        assert prepared.records.to_list() == expected_records([CANARY, "ann@example.com"])


@pytest.mark.parametrize(
    ("header", "id_type", "chosen"),
    [
        (["id", " E-Mail ", "name"], IdType.EMAIL, "E-Mail"),
        (["EMAIL_ADDRESS", "name"], IdType.EMAIL, "EMAIL_ADDRESS"),
        (["Customer_ID", "segment"], IdType.EMAIL, "Customer_ID"),
        (["customer_id", "email"], IdType.EMAIL, "email"),
        (["customer_id", "GAID"], IdType.MAID, "GAID"),
        (["adid", "x"], IdType.MAID, "adid"),
        (["aaid", "x"], IdType.MAID, "aaid"),
        (["idfa", "customer_id"], IdType.IDFA, "idfa"),
        (["anything"], IdType.EMAIL, "anything"),
    ],
)
def test_column_is_chosen_by_known_name(tmp_path: Path, header: list[str], id_type: IdType, chosen: str) -> None:
    """A recognised name wins (any case, spaces trimmed; the id type's own names first); else the only column."""
    row = ["x"] * len(header)
    path = write(tmp_path / "named.csv", ",".join(header) + "\n" + ",".join(row) + "\n")
    assert open_source(path, id_type=id_type).info.column == chosen


def test_column_option_wins(tmp_path: Path) -> None:
    """--column picks a column by exact name, by name ignoring case, or by 1-based position."""
    path = write(tmp_path / "two.csv", "email,Work Email\nx,ann@example.com\n")
    assert open_source(path).info.column == "email"
    for column in ("Work Email", "work email", "2"):
        assert open_source(path, column=column).info.column == "Work Email"


def test_unknown_column_lists_the_columns(tmp_path: Path) -> None:
    """A --column that does not exist is an error naming the columns found."""
    path = write(tmp_path / "two.csv", f"email,name\n{CANARY},x\n")
    error = assert_input_error(path, "not found", column="e_mail")
    assert "'email', 'name'" in error.message


def test_no_recognised_column_lists_the_columns(tmp_path: Path) -> None:
    """Several columns, none recognised: an error naming them and pointing at --column."""
    path = write(tmp_path / "two.csv", f"contact,name\n{CANARY},x\n")
    error = assert_input_error(path, "cannot tell which column")
    assert "'contact', 'name'" in error.message
    assert "--column" in error.resolution


def test_duplicate_known_names_are_ambiguous(tmp_path: Path) -> None:
    """Two columns both named email (ignoring case) need --column."""
    path = write(tmp_path / "dup.csv", f"Email,email \n{CANARY},x\n")
    assert_input_error(path, "2 columns named 'email'")


def test_missing_file(tmp_path: Path) -> None:
    """A file that does not exist is invalid input."""
    assert_input_error(tmp_path / "nope.csv", "does not exist")


def test_directory(tmp_path: Path) -> None:
    """A directory is not a file."""
    assert_input_error(tmp_path, "is a directory")


@pytest.mark.parametrize("content", [b"", b"   \n\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n \t\r\n"])
def test_empty_files(tmp_path: Path, content: bytes) -> None:
    """Empty, whitespace-only and BOM-only files are refused."""
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    assert_input_error(path, "empty")


@pytest.mark.parametrize("content", ["email\n", "email", "id,email,name\r\n"])
def test_header_only(tmp_path: Path, content: str) -> None:
    """A header without data rows is refused."""
    assert_input_error(write(tmp_path / "header.csv", content), "header row but no data rows")


def test_column_empty_in_every_row(tmp_path: Path) -> None:
    """A header followed by blank lines, or a column empty in every row, is refused."""
    assert_input_error(write(tmp_path / "blank.csv", "email\n\n\n"), "empty in all 2 rows")
    assert_input_error(write(tmp_path / "blank2.csv", "id,email\n1,\n2, \n"), "empty in all 2 rows")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"email\n" + CANARY.encode() + b"\x00\n", "binary"),
        (b"\x00\x01\x02\x03" * 100, "binary"),
    ],
)
def test_binary_files(tmp_path: Path, content: bytes, match: str) -> None:
    """Content with NUL bytes is binary, not CSV."""
    path = tmp_path / "binary.csv"
    path.write_bytes(content)
    assert_input_error(path, match)


def test_latin1_file_is_not_utf8(tmp_path: Path) -> None:
    """Windows-1252/Latin-1 text is refused with the offset of the first bad byte, not the value."""
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"email\n{CANARY}\njürgen@example.de\n".encode("latin-1"))
    error = assert_input_error(path, "not UTF-8")
    assert "offset" in error.message


def test_invalid_utf8_after_the_sniffed_start(tmp_path: Path) -> None:
    """A bad byte beyond the first MiB is caught while streaming, with our message."""
    path = tmp_path / "late.csv"
    rows = b"".join(b"user%d@example.com\n" % i for i in range(SNIFF_BYTES // 20 + 10_000))
    path.write_bytes(b"email\n" + rows + CANARY.encode() + b"\xff\n")
    assert_input_error(path, "not valid UTF-8")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_is_refused(tmp_path: Path, encoding: str) -> None:
    """UTF-16 text (with its BOM) is refused with a hint to save as UTF-8."""
    path = tmp_path / "utf16.csv"
    text = f"email\n{CANARY}\n".encode(encoding)
    path.write_bytes(text if encoding == "utf-16" else b"\xfe\xff" + text)
    assert_input_error(path, "UTF-16")


def test_zip_is_refused(tmp_path: Path) -> None:
    """A ZIP archive (or an Excel workbook) is refused with a hint."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("customers.csv", f"email\n{CANARY}\n")
    path = tmp_path / "customers.zip"
    path.write_bytes(buffer.getvalue())
    assert_input_error(path, "ZIP archive")


def test_corrupt_gzip(tmp_path: Path) -> None:
    """A truncated gzip file is refused."""
    path = tmp_path / "cut.csv.gz"
    data = gzip.compress(("email\n" + "\n".join([CANARY] * 1000) + "\n").encode())
    path.write_bytes(data[: len(data) // 2])
    assert_input_error(path, "gzip")


def test_gzip_of_nothing(tmp_path: Path) -> None:
    """A gzip file that holds no data is empty."""
    path = tmp_path / "nothing.csv.gz"
    path.write_bytes(gzip.compress(b""))
    assert_input_error(path, "empty")


def test_truncated_parquet(tmp_path: Path) -> None:
    """A Parquet file cut short is refused."""
    path = tmp_path / "cut.parquet"
    pl.DataFrame({"email": [CANARY] * 100}).write_parquet(path)
    path.write_bytes(path.read_bytes()[:200])
    assert_input_error(path, "not a readable Parquet file")


def test_parquet_name_on_a_csv(tmp_path: Path) -> None:
    """A .parquet name without the Parquet signature is refused."""
    assert_input_error(write(tmp_path / "fake.parquet", f"email\n{CANARY}\n"), "not a Parquet file")


def test_unclosed_quote(tmp_path: Path) -> None:
    """A quoted field that never closes is refused without quoting it."""
    path = write(tmp_path / "quote.csv", f'email\nann@example.com\n"{CANARY}\nbob@example.com\n')
    assert_input_error(path, "never closed")


def test_rows_with_more_fields_than_the_header(tmp_path: Path) -> None:
    """A row with an unquoted extra delimiter is refused, naming the problem, not the row."""
    rows = "".join(f"{i},user{i}@example.com\n" for i in range(50))
    path = write(tmp_path / "ragged.csv", f"id,email\n{rows}51,{CANARY},extra\n")
    assert_input_error(path, "more fields")


@pytest.mark.parametrize(("eol", "header"), [("\n", "email\n"), ("\r\n", "email\r\n"), ("\n", "")])
def test_row_size_is_estimated_from_the_sampled_rows(tmp_path: Path, eol: str, header: str) -> None:
    """Bytes per row come from the rows sampled, not from the whole sniffed start (which holds many more)."""
    rows = [f"user{index:07d}@example.com" for index in range(100_000)]
    path = write(tmp_path / "many.csv", header + eol.join(rows) + eol)
    opened = open_source(path)
    data_bytes = path.stat().st_size - len(header)
    assert opened.disk_bytes_per_row == pytest.approx(data_bytes / len(rows))


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_named(tmp_path: Path, encoding: str) -> None:
    """UTF-16 text without a byte order mark is named as such, not as binary."""
    path = tmp_path / "utf16.csv"
    path.write_bytes(f"email\n{CANARY}\nann@example.com\n".encode(encoding))
    assert_input_error(path, "UTF-16 text without a byte order mark")


def test_binary_with_nul_bytes_is_still_binary(tmp_path: Path) -> None:
    """Random bytes with NULs are called binary, not UTF-16."""
    path = tmp_path / "blob.csv"
    path.write_bytes(bytes(range(256)) * 8)
    assert_input_error(path, "binary")
