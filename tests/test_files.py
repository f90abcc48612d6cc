"""`support.files`: atomic replacement of a file, its permission bits, and the folder fsync policy."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pinaudience.support.files import atomic_file, fsync_dir, write_atomic


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.mark.parametrize("durable", [True, False])
def test_write_atomic_replaces_the_file(tmp_path: Path, durable: bool) -> None:
    """Text and bytes replace the old content whole, and no temporary file stays behind."""
    path = tmp_path / "report.json"
    path.write_text("old", encoding="utf-8")
    write_atomic(path, "naïve\n", durable=durable)
    assert path.read_bytes() == "naïve\n".encode()
    write_atomic(path, b"\x00\x01", durable=durable)
    assert path.read_bytes() == b"\x00\x01"
    assert leftovers(tmp_path, {"report.json"}) == []


def test_mode_is_applied_exactly(tmp_path: Path) -> None:
    """mode=0o600 gives the owner alone read and write, whatever the file's mode was before."""
    path = tmp_path / "tokens.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o644)
    write_atomic(path, "{}", durable=True, mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_without_mode_the_umask_decides(tmp_path: Path) -> None:
    """With no mode the new file gets what open() would give it: 0o666 less the umask."""
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "report.json", "{}", durable=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o644


def test_a_write_that_fails_midway_leaves_the_old_file(tmp_path: Path) -> None:
    """An exception after part of the new content was written leaves the old file and no temporary file."""
    path = tmp_path / "state.json"
    path.write_text("old", encoding="utf-8")

    def write_half_then_fail() -> None:
        with atomic_file(path, durable=True) as handle:
            handle.write(b"new, half of it")
            raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        write_half_then_fail()
    assert path.read_text(encoding="utf-8") == "old"
    assert leftovers(tmp_path, {"state.json"}) == []


def test_data_that_cannot_be_encoded_leaves_the_old_file(tmp_path: Path) -> None:
    """Text that is not valid Unicode is refused before anything is written."""
    path = tmp_path / "report.json"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "bad \ud800 text", durable=False)
    assert path.read_text(encoding="utf-8") == "old"
    assert leftovers(tmp_path, {"report.json"}) == []


def test_a_rename_that_fails_leaves_the_target_and_no_temporary_file(tmp_path: Path) -> None:
    """When the target cannot be replaced (here: a folder holding a file), it stays and the temp file goes."""
    path = tmp_path / "report.json"
    path.mkdir()
    (path / "inside").write_text("kept", encoding="utf-8")
    with pytest.raises(OSError, match=r"Is a directory|Directory not empty|File exists"):
        write_atomic(path, "{}", durable=True)
    assert (path / "inside").read_text(encoding="utf-8") == "kept"
    assert leftovers(tmp_path, {"report.json"}) == []


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    """write_atomic does not create folders, and fsync_dir raises for a folder that is not there."""
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "report.json", "{}", durable=False)
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "missing")


def test_fsync_dir_syncs_an_existing_folder(tmp_path: Path) -> None:
    """A folder on a local file system syncs without error."""
    fsync_dir(tmp_path)
