"""A state directory that fills up or turns read-only mid-run: a clean state_error, nothing sent unrecorded.

The store's fault hook (`pinaudience.state.FAULT_POINTS`) fails one chosen step of a run with what a
full or read-only disk raises (`OSError` ENOSPC or EROFS, or the `StateError` the store turns them
into). Where `mount` is permitted (tests run as root in CI), a small tmpfs shows the same with a real
full disk and a real read-only remount. After each: the run reports `state_error` (never a traceback),
every write that reached Pinterest was journaled first, the state agrees with Pinterest, and the next
run ends with exactly the file.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pinaudience.engine.events import SyncEvent, UploadProgress
from pinaudience.errors import StateError
from pinaudience.state import FAULT_POINTS, StateStore
from tests.helpers import write_csv
from tests.reliability.reliability_helpers import Harness, assert_no_leaks, canary_emails

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

FIRST = canary_emails(600)
SECOND = canary_emails(500, start=100) + canary_emails(150, start=1000)
"""100 leave (2 REMOVE batches of 50), 150 join (3 ADD batches): the run that meets the fault."""

ERRORS: dict[str, Callable[[], Exception]] = {
    "disk full": lambda: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    "read-only": lambda: OSError(errno.EROFS, os.strerror(errno.EROFS)),
    "state error": lambda: StateError("cannot write the state: simulated"),
}
MID_RUN_STEPS = [
    ("batch.begin", 1),  # the first batch of the change is never recorded, so never sent
    ("batch.begin", 4),  # mid-upload, with another batch in flight
    ("batch.acknowledge", 2),  # Pinterest applied a batch, the state cannot say so
    ("compact.partition_written", 1),
    ("compact.files_written", 1),
    ("compact.switched", 1),
    ("compact.cleaned", 1),
]
assert {step for step, _ in MID_RUN_STEPS} == set(FAULT_POINTS) - {"open.probe"}


class FailAt:
    """A fault hook failing the n-th time `step` is reached; counts the batches the state recorded."""

    def __init__(self, step: str, occurrence: int, error: str) -> None:
        self.step = step
        self.occurrence = occurrence
        self.error = ERRORS[error]
        self.seen: list[str] = []
        self.recorded = 0

    def __call__(self, step: str) -> None:
        self.seen.append(step)
        if step == self.step and self.seen.count(step) == self.occurrence:
            raise self.error()
        if step == "batch.begin":
            self.recorded += 1


async def first_sync(harness: Harness) -> tuple[Path, str]:
    source = write_csv(harness.inputs / "customers.csv", FIRST)
    (report,) = await harness.converge(harness.settings(source))
    assert report.customer_list_id is not None
    await harness.clear_sends()
    write_csv(source, SECOND)
    return source, report.customer_list_id


async def assert_recovers(harness: Harness, source: Path, list_id: str) -> None:
    """The next run, on a healthy state directory, ends with exactly the file."""
    await harness.assert_consistent(list_id)
    (report,) = await harness.converge(harness.settings(source))
    assert report.customer_list_id == list_id
    await harness.assert_exact(list_id, SECOND)
    await harness.assert_sends(list_id, added=set(SECOND) - set(FIRST), removed=set(FIRST) - set(SECOND))


@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize(("step", "occurrence"), MID_RUN_STEPS)
async def test_state_failing_mid_run(
    harness: Harness, logs: pytest.LogCaptureFixture, step: str, occurrence: int, error: str
) -> None:
    """A state write failing at any step: state_error, no write unrecorded, and the next run ends exact."""
    source, list_id = await first_sync(harness)
    writes_before = len(await harness.admin.applied_writes())
    hook = FailAt(step, occurrence, error)
    with StateStore(harness.state_dir, clock=harness.clock, faults=hook) as store:
        report = await harness.run_one(harness.settings(source), store=store)
    assert step in hook.seen
    assert report.status == "error"
    assert report.error is not None
    assert report.error.kind == "state_error", report.error
    assert "state" in report.error.resolution
    sent = len(await harness.admin.applied_writes()) - writes_before
    assert sent <= hook.recorded, f"{sent} writes Pinterest applied, {hook.recorded} batches were recorded"
    if step.startswith("compact"):
        assert sent == 5  # the upload was complete; only folding the journal failed
    await assert_recovers(harness, source, list_id)
    assert_no_leaks(harness, logs.records, people=FIRST + SECOND)


@pytest.mark.parametrize("error", ["disk full", "read-only"])
async def test_state_failing_as_the_list_is_created(
    harness: Harness, logs: pytest.LogCaptureFixture, error: str
) -> None:
    """The known window: the create call carries the first batch before the state knows the list's id.

    The state then cannot record that batch: the run stops with state_error before anything else is
    sent, and the next run finds the list by name and completes it exactly (docs/sync.md, "Crash safety").
    """
    source = write_csv(harness.inputs / "customers.csv", FIRST)
    hook = FailAt("batch.begin", 1, error)
    with StateStore(harness.state_dir, clock=harness.clock, faults=hook) as store:
        report = await harness.run_one(harness.settings(source), store=store)
    assert report.error is not None
    assert report.error.kind == "state_error"
    assert report.list_created
    writes = await harness.admin.writes()
    assert [w["operation"] for w in writes] == ["customer_lists/create"]
    (resumed,) = await harness.converge(harness.settings(source))
    assert resumed.customer_list_id == report.customer_list_id
    assert resumed.customer_list_id is not None
    await harness.assert_exact(resumed.customer_list_id, FIRST)
    await harness.assert_one_list_and_audience(resumed.customer_list_id, harness.settings(source))
    assert_no_leaks(harness, logs.records, people=FIRST)


@pytest.mark.parametrize("error", ERRORS)
async def test_state_directory_unwritable_at_start(
    harness: Harness, logs: pytest.LogCaptureFixture, error: str
) -> None:
    """A state directory that cannot be written when the run starts: StateError before a single request."""
    source, list_id = await first_sync(harness)
    requests_before = len(await harness.admin.requests())
    with pytest.raises(StateError) as raised:
        StateStore(harness.state_dir, clock=harness.clock, faults=FailAt("open.probe", 1, error))
    assert raised.value.kind == "state_error"
    harness.exceptions.append(raised.value)
    assert len(await harness.admin.requests()) == requests_before
    await assert_recovers(harness, source, list_id)
    assert_no_leaks(harness, logs.records, people=FIRST + SECOND)


# --- a real small disk ---------------------------------------------------------------------------


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False, timeout=30)


@pytest.fixture
def tmpfs_state(harness: Harness) -> Iterator[Path]:
    """The harness's state directory on a 16 MiB tmpfs of its own; skipped where mounting is not permitted."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8); the injected faults above cover the same paths")
    target = harness.state_dir
    target.mkdir(parents=True)
    mounted = _mount("-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(target))
    if mounted.returncode != 0:
        pytest.skip(f"mount is not permitted here ({mounted.stderr.strip() or mounted.returncode})")
    try:
        yield target
    finally:
        _mount("-o", "remount,rw", str(target))
        subprocess.run(["umount", str(target)], capture_output=True, check=False, timeout=30)


def fill(folder: Path) -> Path:
    """Write a file until the disk under `folder` is full."""
    filler = folder / "filler"
    chunk = b"\0" * (256 * 1024)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return filler
    finally:
        os.close(fd)


async def test_real_disk_filling_up_mid_run(
    harness: Harness, logs: pytest.LogCaptureFixture, tmpfs_state: Path
) -> None:
    """A real state disk that fills up mid-upload: state_error, nothing unrecorded; freed, the next run ends exact."""
    source, list_id = await first_sync(harness)
    writes_before = len(await harness.admin.applied_writes())
    filler: list[Path] = []

    def fill_after_first_batch(event: SyncEvent) -> None:
        if isinstance(event, UploadProgress) and event.batches_done == 1 and not filler:
            filler.append(fill(tmpfs_state))

    report = await harness.run_one(harness.settings(source), observer=fill_after_first_batch)
    assert filler
    assert report.error is not None
    assert report.error.kind == "state_error", report.error
    assert "no space left" in report.error.message or "full" in report.error.message
    filler[0].unlink()
    assert len(await harness.admin.writes()) - writes_before <= 5
    await assert_recovers(harness, source, list_id)
    assert_no_leaks(harness, logs.records, people=FIRST + SECOND)


async def test_real_disk_read_only_when_the_run_starts(
    harness: Harness, logs: pytest.LogCaptureFixture, tmpfs_state: Path
) -> None:
    """A real state disk remounted read-only between runs: StateError before a single request; writable, exact.

    Linux refuses to remount a file system read-only while a file on it is open for writing (the state
    database is, during a run), so read-only in the middle of a run is shown with the injected EROFS above.
    """
    source, list_id = await first_sync(harness)
    requests_before = len(await harness.admin.requests())
    remounted = _mount("-o", "remount,ro", str(tmpfs_state))
    assert remounted.returncode == 0, remounted.stderr
    assert await harness.run(harness.settings(source)) is None
    (error,) = harness.exceptions
    assert isinstance(error, StateError)
    assert error.kind == "state_error"
    assert "read-only" in error.message.lower()
    assert len(await harness.admin.requests()) == requests_before
    assert _mount("-o", "remount,rw", str(tmpfs_state)).returncode == 0
    await assert_recovers(harness, source, list_id)
    assert_no_leaks(harness, logs.records, people=FIRST + SECOND)
