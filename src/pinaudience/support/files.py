"""Files a reader never sees half-written: `write_atomic`, its streaming form `atomic_file`, and `fsync_dir`.

The content goes to a temporary file beside the target (same folder, so the same file system), which
`os.replace` then puts in place in one step: a reader sees the old file or the new one, never a mix.
A crash before the rename leaves the old file and, at worst, a hidden `.<name>.<random>.tmp`.

`durable` says whether the new content must survive a power cut once the call returns. When it must
(the token store, whose old refresh token Pinterest has already killed; the state), the file is fsynced
before the rename and the folder after it. When a rerun would simply write the file again (reports,
rejects), the fsyncs are skipped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_NO_DIRECTORY_FSYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


def fsync_dir(path: Path) -> None:
    """Make the entries of the folder `path` (a new, renamed or removed file) durable.

    Policy: a file system that cannot sync a folder at all says so with EINVAL or ENOTSUP (some network
    and FUSE file systems); there is nothing more to do, so that is ignored and the rename stays atomic,
    only not yet durable. Any other error (EIO, ENOSPC, EACCES, a missing folder) is raised: it means the
    rename may not be on disk, and a caller that asked for durability must not carry on as if it were.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIRECTORY_FSYNC:
            raise
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Make the content of the file `path`, written by someone else (Polars, SQLite), durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: Path, *, durable: bool, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file to write, which replaces `path` when the block ends without an exception.

    `mode` sets the file's permission bits exactly (0o600 for secrets); None gives what `open` would
    (0o666 less the umask). On an exception the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if mode is not None else 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)  # exactly `mode`, whatever the umask
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes | str, *, durable: bool, mode: int | None = None) -> None:
    """Replace `path` with `data` (text is written as UTF-8) in one step; see the module doc for `durable`."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_file(path, durable=durable, mode=mode) as handle:
        handle.write(payload)
