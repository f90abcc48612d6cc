"""Conversion events' answers and errors, read without a server: `EventsResult.from_api` and `classify`'s rows
for `events/create`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pinaudience.errors import (
    AuthorizationError,
    InsufficientPermissions,
    InvalidEvents,
    InvalidRequest,
    PinterestUnavailable,
    RequestTooLarge,
)
from pinaudience.pinterest.errors import classify
from pinaudience.pinterest.models import EventResult, EventsResult

ACCOUNT = "549755885175"
EVENTS_URL = f"https://api.pinterest.com/v5/ad_accounts/{ACCOUNT}/events"
HASH = "a" * 64


def answer(status: int, body: Any, url: str = EVENTS_URL) -> httpx.Response:
    request = httpx.Request("POST", url)
    if isinstance(body, str):
        return httpx.Response(status, text=body, request=request)
    return httpx.Response(status, json=body, request=request)


def per_event(*statuses: str, error: str = "", warning: str = "") -> list[dict[str, Any]]:
    return [
        {"status": s, "error_message": error if s == "failed" else "", "warning_message": warning} for s in statuses
    ]


def test_a_200_is_every_event_processed() -> None:
    """Pinterest's 200 body: counts, one processed answer per event, empty messages read as none."""
    data = {"num_events_received": 2, "num_events_processed": 2, "events": per_event("processed", "processed")}
    result = EventsResult.from_api(data, sent=2, ad_account_id=ACCOUNT, request_id="rid-1")
    assert result.events == (EventResult("processed"), EventResult("processed"))
    assert (result.received, result.processed, result.failed, result.all_processed) == (2, 2, 0, True)
    assert result.failures() == []
    assert result.to_dict() == {
        "ad_account_id": ACCOUNT,
        "received": 2,
        "processed": 2,
        "failed": 0,
        "test": False,
        "failed_by_message": {},
        "warnings_by_message": {},
        "request_id": "rid-1",
    }


def test_a_422_detailed_error_reads_as_the_same_answer() -> None:
    """The 422 `DetailedError` carries the answer in `details`: the failed events and their messages, in order."""
    details = {
        "num_events_received": 3,
        "num_events_processed": 1,
        "events": per_event("failed", "processed", "failed", error="user_data.em[0]: not a SHA-256 hash"),
    }
    data = {"code": 422, "message": "Not all events were successfully processed.", "details": details}
    result = EventsResult.from_api(data, sent=3, ad_account_id=ACCOUNT, http_status=422)
    assert [e.processed for e in result.events] == [False, True, False]
    assert result.failures() == [(0, "user_data.em[0]: not a SHA-256 hash"), (2, "user_data.em[0]: not a SHA-256 hash")]
    assert result.failed_by_message() == {"user_data.em[0]: not a SHA-256 hash": 2}
    assert (result.received, result.processed, result.failed) == (3, 1, 2)


def test_messages_are_redacted() -> None:
    """A message that quotes an email or a hash keeps neither (a hash keeps its 8-character prefix)."""
    message = f"em value Person@Example.com or {HASH} is not valid"
    data = {"num_events_received": 1, "num_events_processed": 0, "events": per_event("failed", error=message)}
    [event] = EventsResult.from_api(data, sent=1, ad_account_id=ACCOUNT, http_status=422).events
    assert event.error_message == "em value [email] or aaaaaaaa… is not valid"


def test_a_200_without_per_event_answers_but_all_processed_is_read_from_its_counts() -> None:
    """Counts that say every event sent was processed stand for the per-event answers when those are missing."""
    data = {"num_events_received": 3, "num_events_processed": 3}
    result = EventsResult.from_api(data, sent=3, ad_account_id=ACCOUNT)
    assert result.all_processed
    assert len(result.events) == 3


@pytest.mark.parametrize(
    "data",
    [
        {"num_events_received": 3, "num_events_processed": 2},
        {"num_events_received": 3, "num_events_processed": 3, "events": per_event("processed", "processed")},
        {"num_events_received": 3, "num_events_processed": 3, "events": per_event("processed", "processed", "lost")},
        {"code": 422, "message": "Not all events were successfully processed.", "details": {}},
        {"code": 422, "message": "Not all events were successfully processed."},
    ],
)
def test_an_answer_that_cannot_be_matched_to_the_events_is_outcome_unknown(data: dict[str, Any]) -> None:
    """Too few, too many or unknown per-event answers: PinterestUnavailable with outcome_unknown, never a guess."""
    with pytest.raises(PinterestUnavailable) as caught:
        EventsResult.from_api(data, sent=3, ad_account_id=ACCOUNT, http_status=422 if "code" in data else 200)
    assert caught.value.outcome_unknown
    assert caught.value.retriable is False


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (400, {"code": 4196, "message": "Invalid request: data[0]: event_id is required."}, InvalidEvents),
        (413, "<html>Request Entity Too Large</html>", RequestTooLarge),
        (401, {"code": 2, "message": "Authentication failed."}, AuthorizationError),
        (401, {"code": 3, "message": "Missing scopes"}, AuthorizationError),
        (403, {"code": 29, "message": "You are not permitted to access that resource."}, InsufficientPermissions),
    ],
)
def test_events_errors_have_their_own_classes_and_resolutions(
    status: int, body: Any, error_type: type[Exception]
) -> None:
    """events/create's 400 is InvalidEvents and 413 RequestTooLarge (both invalid_request); 401 and 403 name the
    token and the roles; none is retried."""
    error = classify(answer(status, body), operation="events/create")
    assert type(error) is error_type
    assert error is not None
    assert not error.retriable
    if isinstance(error, InvalidRequest):
        assert error.kind == "invalid_request"
    if status == 403:
        assert f"ad account {ACCOUNT}" in error.resolution
        assert "Admin, Analyst, Audience or Campaign" in error.resolution


def test_a_401_names_the_conversion_token_when_one_was_sent() -> None:
    """With a conversion access token, a 401 says so and how to get a new one; it is not a reauthorization."""
    error = classify(answer(401, {"code": 2, "message": "Authentication failed."}), operation="events/create",
                     conversion_token=True)  # fmt: skip
    assert isinstance(error, AuthorizationError)
    assert "conversion access token" in error.message
    assert "PINTEREST_CONVERSION_TOKEN" in error.resolution
    assert "auth login" not in error.resolution


def test_a_413_elsewhere_is_request_too_large_with_the_batch_size_advice() -> None:
    """Customer list writes keep their 413 resolution, now as the RequestTooLarge class."""
    error = classify(answer(413, "<html>413</html>", url=f"{EVENTS_URL[:-7]}/customer_lists/1"))
    assert isinstance(error, RequestTooLarge)
    assert error.resolution == "Lower batch_size: fewer records per request make a smaller body."
