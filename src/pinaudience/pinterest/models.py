"""Pinterest's objects as the rest of pinaudience sees them: frozen, typed, ids as strings, counters as ints.

Customer lists, audiences and ad accounts; and, for the Conversions API, the answer to a batch of events
(`EventsResult`, one `EventResult` per event).

Parsing is lenient about what Pinterest may add or leave out (every field but `id` has a default) and
strict about what we rely on: a missing id is an error, and `number` counters become ints.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pinaudience.errors import PinterestUnavailable
from pinaudience.support.redact import redact

LIST_TYPES = frozenset({"EMAIL", "IDFA", "MAID", "LR_ID", "DLX_ID", "HASHED_PINNER_ID"})
"""Pinterest's `list_type` values (`IdType.list_type` gives ours)."""


def _id(data: dict[str, Any], what: str) -> str:
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise PinterestUnavailable(f"Pinterest answered with a {what} that has no id.")
    return str(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int:
    """Pinterest types its counters `number`; they count records, so they are whole."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def _maybe_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


_EXCEPTION_KIND = re.compile(r"[A-Za-z][A-Za-z0-9_.\- ]{0,47}")
"""What an `exceptions` key must look like to be shown as a kind: a short name, never an email or a hash."""
_HEXLIKE = re.compile(r"[0-9A-Fa-f]{16,}")


def _exception_counts(value: Any) -> dict[str, int]:
    """A list's `exceptions` (an object Pinterest does not describe further) as kinds and counts, never values.

    A key is the kind; its count is the number it holds, or the size of the list or object it holds, else 1.
    Keys that do not look like a name (an `@`, a digit first, a run of hex digits, too long) count as `other`.
    """
    if not isinstance(value, dict):
        return {}
    counts: dict[str, int] = {}
    for key, item in value.items():
        named = isinstance(key, str) and _EXCEPTION_KIND.fullmatch(key) and not _HEXLIKE.search(key)
        kind = key if named else "other"
        if isinstance(item, bool) or item is None:
            count = 1 if item else 0
        elif isinstance(item, int | float):
            count = int(item)
        elif isinstance(item, list | dict):
            count = len(item)
        else:
            count = 1
        if count:
            counts[kind] = counts.get(kind, 0) + count
    return counts


@dataclass(frozen=True)
class CustomerList:
    """A customer list: only counters, never its members (Pinterest cannot read them back)."""

    id: str
    ad_account_id: str | None
    name: str
    status: str | None
    """PROCESSING, READY, TOO_SMALL or UPLOADING."""
    num_batches: int
    num_uploaded_user_records: int
    num_removed_user_records: int
    created_time: int | None
    updated_time: int | None
    exceptions: dict[str, int] = field(default_factory=dict)
    """The list's `exceptions` ("Customer list errors" in the spec) as counts by kind; values are never kept."""

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> CustomerList:
        account = data.get("ad_account_id")
        return cls(
            id=_id(data, "customer list"),
            ad_account_id=str(account) if account is not None else None,
            name=_text(data.get("name")) or "",
            status=_text(data.get("status")),
            num_batches=_count(data.get("num_batches")),
            num_uploaded_user_records=_count(data.get("num_uploaded_user_records")),
            num_removed_user_records=_count(data.get("num_removed_user_records")),
            created_time=_maybe_int(data.get("created_time")),
            updated_time=_maybe_int(data.get("updated_time")),
            exceptions=_exception_counts(data.get("exceptions")),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Audience:
    """An audience; for CUSTOMER_LIST audiences `customer_list_id` names the list it is built on."""

    id: str
    ad_account_id: str | None
    name: str
    audience_type: str | None
    customer_list_id: str | None
    size: int | None
    status: str | None
    """READY, INITIALIZING or TOO_SMALL."""
    description: str | None
    created_timestamp: int | None
    updated_timestamp: int | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Audience:
        rule = data.get("rule")
        list_id = rule.get("customer_list_id") if isinstance(rule, dict) else None
        account = data.get("ad_account_id")
        return cls(
            id=_id(data, "audience"),
            ad_account_id=str(account) if account is not None else None,
            name=_text(data.get("name")) or "",
            audience_type=_text(data.get("audience_type")),
            customer_list_id=str(list_id) if isinstance(list_id, str | int) and not isinstance(list_id, bool) else None,
            size=_maybe_int(data.get("size")),
            status=_text(data.get("status")),
            description=_text(data.get("description")),
            created_timestamp=_maybe_int(data.get("created_timestamp")),
            updated_timestamp=_maybe_int(data.get("updated_timestamp")),
        )

    def is_built_on(self, customer_list_id: str) -> bool:
        """A CUSTOMER_LIST audience whose rule names this list."""
        return self.audience_type == "CUSTOMER_LIST" and self.customer_list_id == customer_list_id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AdAccount:
    """An ad account, with the roles the authorized user holds on it (`permissions`)."""

    id: str
    name: str | None
    country: str | None
    currency: str | None
    owner_username: str | None
    permissions: tuple[str, ...]
    created_time: int | None
    updated_time: int | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AdAccount:
        owner = data.get("owner")
        permissions = data.get("permissions")
        return cls(
            id=_id(data, "ad account"),
            name=_text(data.get("name")),
            country=_text(data.get("country")),
            currency=_text(data.get("currency")),
            owner_username=_text(owner.get("username")) if isinstance(owner, dict) else None,
            permissions=tuple(p for p in permissions if isinstance(p, str)) if isinstance(permissions, list) else (),
            created_time=_maybe_int(data.get("created_time")),
            updated_time=_maybe_int(data.get("updated_time")),
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["permissions"] = list(self.permissions)
        return out


# The Conversions API (`events/create`) ------------------------------------------------------------------------

ConversionEvent = Mapping[str, object]
"""One conversion event as Pinterest takes it: already normalised and hashed (`event_name`, `action_source`,
`event_time`, `event_id`, `user_data`, ...), its values JSON's (nested mappings as dicts). The client sends it as
it is and checks only the batch's bounds; Pinterest (and the emulator) judge the rest."""

EVENT_STATUSES = frozenset({"processed", "failed"})
"""An event's `status` in Pinterest's answer (the spec's enum)."""

_EVENT_MESSAGE_LIMIT = 500


def _event_message(value: Any) -> str | None:
    """An event's `error_message` or `warning_message`: None when absent or empty (Pinterest answers ""), else
    redacted (`support.redact`: a message may quote a value) and at most 500 characters."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = redact(value.strip())
    return text if len(text) <= _EVENT_MESSAGE_LIMIT else text[:_EVENT_MESSAGE_LIMIT] + "…"


@dataclass(frozen=True)
class EventResult:
    """Pinterest's answer for one event of a batch."""

    status: str
    """`processed` (Pinterest recorded it, or would have in test mode) or `failed` (not recorded)."""
    error_message: str | None = None
    """Why it failed (redacted: never an identifier), None for a processed event."""
    warning_message: str | None = None
    """What Pinterest noticed without failing the event (a field that is not standard), redacted."""

    @property
    def processed(self) -> bool:
        return self.status == "processed"


@dataclass(frozen=True)
class EventsResult:
    """Pinterest's answer to one batch of conversion events: counts, and one `EventResult` per event sent, in the
    order sent (`events[i]` answers the batch's event i).

    Both of Pinterest's answers become one: HTTP 200 (every event processed) and HTTP 422 (a `DetailedError` whose
    `details` is the same answer: not every event was processed, each event's `status` says which). A 422 is a
    partial success, not an error: its processed events are recorded and must not be sent again.
    """

    ad_account_id: str
    received: int
    """`num_events_received`, as Pinterest counted."""
    processed: int
    """`num_events_processed`, as Pinterest counted."""
    events: tuple[EventResult, ...]
    test: bool = False
    """Sent in test mode (`?test=true`): Pinterest judged the events the same way, and recorded none."""
    http_status: int = 200
    """200, or 422 when some events failed."""
    request_id: str | None = None
    """Pinterest's `x-pinterest-rid`, which its support asks for."""

    @property
    def failed(self) -> int:
        """Events of the batch that Pinterest did not process."""
        return sum(1 for event in self.events if not event.processed)

    @property
    def all_processed(self) -> bool:
        return self.failed == 0

    def failures(self) -> list[tuple[int, str]]:
        """(position in the batch, Pinterest's message) of each failed event, in order."""
        return [
            (index, event.error_message or "no message")
            for index, event in enumerate(self.events)
            if not event.processed
        ]

    def failed_by_message(self) -> dict[str, int]:
        """How many events failed with each of Pinterest's messages."""
        return dict(Counter(message for _, message in self.failures()))

    def warnings_by_message(self) -> dict[str, int]:
        """How many events (processed or not) carried each of Pinterest's warnings."""
        return dict(Counter(e.warning_message for e in self.events if e.warning_message is not None))

    def to_dict(self) -> dict[str, Any]:
        """Counts and messages for a report (no event, no identifier)."""
        return {
            "ad_account_id": self.ad_account_id,
            "received": self.received,
            "processed": self.processed,
            "failed": self.failed,
            "test": self.test,
            "failed_by_message": self.failed_by_message(),
            "warnings_by_message": self.warnings_by_message(),
            "request_id": self.request_id,
        }

    @classmethod
    def from_api(
        cls,
        data: Mapping[str, Any],
        *,
        sent: int,
        ad_account_id: str,
        test: bool = False,
        http_status: int = 200,
        request_id: str | None = None,
    ) -> EventsResult:
        """Read Pinterest's answer to a batch of `sent` events: the 200 body, or the 422 `DetailedError` (whose
        `details` holds the same fields). Raises `PinterestUnavailable`, with `outcome_unknown` set, when the answer
        does not say which events were processed: some may have been recorded, so the caller must not treat the
        batch as refused."""
        answer: Mapping[str, Any] = data
        details = data.get("details")
        if "events" not in data and isinstance(details, Mapping):
            answer = details
        events = _event_results(answer.get("events"), sent)
        received = _maybe_int(answer.get("num_events_received"))
        processed = _maybe_int(answer.get("num_events_processed"))
        if "events" not in answer and http_status == 200 and received == processed == sent:
            events = (EventResult("processed"),) * sent  # every event processed, said by the counts alone
        if events is None:
            error = PinterestUnavailable(
                f"Pinterest's answer to events/create (HTTP {http_status}) does not say which of the {sent} events "
                "were processed.",
                resolution=(
                    "Some events of the batch may have been recorded. Sending it again is safe only because Pinterest "
                    "de-duplicates events by event_id; run again later, and report the request id to Pinterest if it "
                    "repeats."
                ),
                status=http_status,
                request_id=request_id,
                operation="events/create",
            )
            error.outcome_unknown = True
            raise error
        done = sum(1 for event in events if event.processed)
        return cls(
            ad_account_id=ad_account_id,
            received=received if received is not None else sent,
            processed=processed if processed is not None else done,
            events=events,
            test=test,
            http_status=http_status,
            request_id=request_id,
        )


def _event_results(value: Any, sent: int) -> tuple[EventResult, ...] | None:
    """The per-event answers, or None unless there is exactly one per event sent, each with a known status."""
    if not isinstance(value, list) or len(value) != sent:
        return None
    results = []
    for item in value:
        status = item.get("status") if isinstance(item, Mapping) else None
        if status not in EVENT_STATUSES:
            return None
        results.append(
            EventResult(
                status=status,
                error_message=_event_message(item.get("error_message")),
                warning_message=_event_message(item.get("warning_message")),
            )
        )
    return tuple(results)
