"""The progress displays and log handling, in process: a fake clock, a string console, captured records."""

from __future__ import annotations

import io
import json
import logging

import pytest
from rich.console import Console

from pinaudience.cli.logs import LogFormat, logging_to
from pinaudience.cli.progress import LogDisplay, RichDisplay
from pinaudience.clock import FakeClock
from pinaudience.engine.events import AudienceDone, PhaseStarted, ReadProgress, UploadProgress
from pinaudience.engine.report import AudienceReport
from pinaudience.input.report import PrepareProgress
from pinaudience.pinterest.events import RateLimitHit, RetryScheduled

AUDIENCE = "VIP"


def upload(done: int, total: int = 1_000, batches: int = 10) -> UploadProgress:
    return UploadProgress(AUDIENCE, done, total, done * batches // total, batches)


def test_rich_bars_show_counts_rate_retries_and_the_outcome() -> None:
    """On a terminal: rows read, records and batches sent, the rate, retries and 429s, then a done line."""
    clock = FakeClock()
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200, color_system=None)
    display = RichDisplay(console, clock=clock, auto_refresh=False)
    with display:
        display(PhaseStarted(AUDIENCE, "reading"))
        display(ReadProgress(AUDIENCE, PrepareProgress(rows_read=5_000, bytes_read=100_000, total_bytes=200_000)))
        display(PhaseStarted(AUDIENCE, "uploading"))
        display(upload(200))
        clock.advance(2.0)
        display(upload(500))
        display(RetryScheduled("customer_lists/update", 1, "429", 1.0))
        display(RateLimitHit("customer_lists/update", 1.0))
        display.refresh()
        shown = buffer.getvalue()
        assert "5,000 rows" in shown
        assert "500/1,000 records, 5/10 batches" in shown
        assert "150 records/s" in shown  # 300 records in 2 fake seconds
        assert "1 retry, 1× 429" in shown
        display(AudienceDone(AUDIENCE, AudienceReport(added=1_000, planned_adds=1_000)))
    assert "✓ VIP: done: +1,000" in buffer.getvalue()


def test_log_lines_are_throttled_and_the_last_one_always_comes(caplog: pytest.LogCaptureFixture) -> None:
    """Upload progress is logged at most once per interval, and the final count always."""
    clock = FakeClock()
    display = LogDisplay(clock=clock, interval_s=10.0)
    caplog.set_level(logging.INFO, logger="pinaudience.progress")
    display(PhaseStarted(AUDIENCE, "uploading"))
    for done in range(40, 1_001, 40):  # one batch a second for 25 seconds
        clock.advance(1.0)
        display(upload(done))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert messages[0].startswith("VIP: 400 of 1,000 records sent (4/10 batches, 40 records/s")
    assert messages[-1].startswith("VIP: 1,000 of 1,000 records sent")


def test_an_events_upload_counts_events(caplog: pytest.LogCaptureFixture) -> None:
    """A conversion upload's progress speaks of events, not records."""
    clock = FakeClock()
    display = LogDisplay(clock=clock, interval_s=10.0)
    caplog.set_level(logging.INFO, logger="pinaudience.progress")
    display(PhaseStarted(AUDIENCE, "uploading"))
    clock.advance(2.0)
    display(UploadProgress(AUDIENCE, 2_000, 2_000, 2, 2, "events"))
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("VIP: 2,000 of 2,000 events sent (2/2 batches, 1,000 events/s")


def test_a_heartbeat_after_a_minute_of_silence(caplog: pytest.LogCaptureFixture) -> None:
    """No event for heartbeat_s: tick() logs that the run is still alive, once per silence."""
    clock = FakeClock()
    display = LogDisplay(clock=clock, heartbeat_s=60.0)
    caplog.set_level(logging.INFO, logger="pinaudience.progress")
    display(PhaseStarted(AUDIENCE, "planning"))
    display(RetryScheduled("customer_lists/list", 1, "503", 30.0))
    clock.advance(59.0)
    display.tick()
    assert caplog.records == []
    clock.advance(2.0)
    display.tick()
    display.tick()
    (record,) = caplog.records
    assert record.getMessage() == "VIP: still planning adds and removes after 1m01s (1 retry)"
    assert record.fields["event"] == "heartbeat"  # type: ignore[attr-defined]


def test_json_lines_carry_the_event_fields_and_are_scrubbed() -> None:
    """--log-format json: one object a line with time, level, logger, message and the event's fields; no secret."""
    stream = io.StringIO()
    log = logging.getLogger("pinaudience.test")
    with logging_to(stream=stream, fmt=LogFormat.JSON, secrets=["s3cret-value"]):
        log.info("sent %d records for %s", 5, "x@example.com", extra={"fields": {"event": "e", "records": 5}})
        log.warning("token s3cret-value and pina_0123456789 refused")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "sent 5 records for [email]"
    assert (first["level"], first["logger"], first["event"], first["records"]) == ("info", "pinaudience.test", "e", 5)
    assert first["time"].endswith("Z")
    assert second["message"] == "token *** and [token] refused"
    assert logging.getLogger("pinaudience").handlers == []  # removed when the block ends
