"""What Pinterest says about each configured destination now, beside what the state confirms; reads only.

For each audience of the settings: the customer list and its CUSTOMER_LIST audience, found as a sync
finds them (`resolve`), with the list's status and counters and the audience's status and size; the
state's record of the list (confirmed members in the snapshot, acknowledged and pending batches, the
audience it recorded, or that the audience is still to be created); and a one-line verdict a user can
act on. Nothing is written to Pinterest, and the state directory is only read (it is never created).
A refresh token is refreshed (and its rotation saved), as any run would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinaudience.clock import Clock, SystemClock
from pinaudience.config import AudienceSettings, Settings
from pinaudience.engine.resolve import Destination, resolve
from pinaudience.errors import ConfigError, NotFound, PinaudienceError
from pinaudience.pinterest import limits
from pinaudience.pinterest.client import open_client
from pinaudience.pinterest.models import Audience, CustomerList
from pinaudience.state import ListInfo, StateBackend, open_state
from pinaudience.state.store import DB_NAME
from pinaudience.support.paths import default_state_dir, is_postgres_url
from pinaudience.support.redact import redact_url

if TYPE_CHECKING:
    import httpx

PENDING = "pending"
"""The state's audience when none is recorded but the list is big enough: the next sync creates it."""

MATCHING_STATUSES = frozenset({"PROCESSING", "UPLOADING"})
"""List statuses while Pinterest has not finished matching the records to its users."""


@dataclass(frozen=True)
class Verdict:
    """One line a user can act on, and a stable code for scripts."""

    code: str
    """`audience_ready`, `matching`, `audience_pending`, `too_small`, `audience_too_small`, `audience_removed`,
    `audience_other`, `no_audience`, `no_list`, `list_not_found`, `error`."""
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


@dataclass(frozen=True)
class StateView:
    """What the state directory confirms about one list."""

    customer_list_id: str
    list_name: str | None
    confirmed_in_snapshot: int
    acknowledged_batches: int
    """Acknowledged batches not yet folded into the snapshot."""
    pending_batches: int
    """Batches whose outcome is unknown: the next sync resends them."""
    pending_records: int
    audience: str | None
    """The recorded audience id, `"pending"` when the next sync is to create it, or None."""

    @classmethod
    def from_info(cls, info: ListInfo) -> StateView:
        return cls(
            customer_list_id=info.ref.customer_list_id,
            list_name=info.list_name,
            confirmed_in_snapshot=info.snapshot_count,
            acknowledged_batches=info.acknowledged_batches,
            pending_batches=info.pending_batches,
            pending_records=info.pending_records,
            audience=recorded_audience(info),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer_list_id": self.customer_list_id,
            "list_name": self.list_name,
            "confirmed_in_snapshot": self.confirmed_in_snapshot,
            "acknowledged_batches": self.acknowledged_batches,
            "pending_batches": self.pending_batches,
            "pending_records": self.pending_records,
            "audience": self.audience,
        }


def recorded_audience(info: ListInfo) -> str | None:
    """The audience the state recorded for the list: its id, `"pending"`, or None.

    Pending: the engine recorded that Pinterest did not accept the audience yet (`audience_pending_since`), or
    the state confirms at least 100 records and no audience, which the next sync creates.
    """
    if info.audience_id:
        return info.audience_id
    if info.audience_pending_since is not None or info.snapshot_count >= limits.MIN_AUDIENCE_RECORDS:
        return PENDING
    return None


@dataclass(frozen=True)
class DestinationStatus:
    """One destination: Pinterest's view, the state's, and the verdict."""

    label: str
    verdict: Verdict
    customer_list: CustomerList | None = None
    audience: Audience | None = None
    state: StateView | None = None
    notes: tuple[str, ...] = ()
    """Facts beside the verdict worth acting on (batches of unknown outcome, a list the state does not know)."""
    error: PinaudienceError | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        cl, audience = self.customer_list, self.audience
        return {
            "label": self.label,
            "verdict": self.verdict.to_dict(),
            "notes": list(self.notes),
            "customer_list": None
            if cl is None
            else {
                "id": cl.id,
                "name": cl.name,
                "status": cl.status,
                "num_batches": cl.num_batches,
                "num_uploaded_user_records": cl.num_uploaded_user_records,
                "num_removed_user_records": cl.num_removed_user_records,
            },
            "audience": None
            if audience is None
            else {"id": audience.id, "name": audience.name, "status": audience.status, "size": audience.size},
            "state": self.state.to_dict() if self.state else None,
            "error": self.error.to_dict() if self.error else None,
        }


@dataclass(frozen=True)
class StatusReport:
    """Every configured destination's status; `to_dict()` is `pinaudience status --json`."""

    api_base: str
    ad_account_id: str
    state: str
    """Where the state is: a directory, or a PostgreSQL URL without its password."""
    state_found: bool
    """Whether the state directory holds a pinaudience state at all (a PostgreSQL state always does)."""
    destinations: tuple[DestinationStatus, ...]

    @property
    def ok(self) -> bool:
        return all(d.error is None for d in self.destinations)

    def raise_for_error(self) -> None:
        """Raise the first destination's error, so the CLI exits with its kind and resolution."""
        for destination in self.destinations:
            if destination.error is not None:
                raise destination.error

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "api_base": self.api_base,
            "ad_account_id": self.ad_account_id,
            "state_dir": self.state,
            "state_found": self.state_found,
            "destinations": [d.to_dict() for d in self.destinations],
        }


def status(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None, clock: Clock | None = None
) -> StatusReport:
    """The status of every destination of `settings`; blocking. See `status_async`."""
    return asyncio.run(status_async(settings, transport=transport, clock=clock))


async def status_async(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None, clock: Clock | None = None
) -> StatusReport:
    """The status of every destination of `settings`, with reads only.

    An error of one destination (a list id Pinterest does not know, no access) ends that destination's
    status, which carries it; the others go on. Settings that cannot even build a client (no credentials)
    and a state directory that cannot be read raise before anything is sent.
    """
    if not settings.audiences:
        raise ConfigError(
            "no destination to show: no list name, customer list id or audience id is configured",
            resolution="Give --list-name, --customer-list-id or --audience-id, or --config with [[audience]] tables.",
        )
    pinterest = settings.pinterest
    location = settings.state or str(default_state_dir())
    clock = clock or SystemClock()
    with _open_state(location, clock) as store:
        known = store.lists() if store is not None else []
        known = [
            i
            for i in known
            if i.ref.api_base == pinterest.api_base.rstrip("/") and i.ref.ad_account_id == pinterest.ad_account_id
        ]
        destinations: list[DestinationStatus] = []
        async with open_client(pinterest, transport=transport, clock=clock) as client:
            for audience in settings.audiences:
                label = audience.list_name or audience.audience_id or audience.customer_list_id or "audience"
                try:
                    destination = await resolve(client, audience)
                except PinaudienceError as exc:
                    destinations.append(_failed(label, exc, audience, known))
                    continue
                destinations.append(_judge(label, destination, known))
    return StatusReport(
        api_base=pinterest.api_base,
        ad_account_id=pinterest.ad_account_id,
        state=redact_url(location),
        state_found=store is not None,
        destinations=tuple(destinations),
    )


@contextlib.contextmanager
def _open_state(location: str, clock: Clock) -> Iterator[StateBackend | None]:
    """The store at `location` if it holds one; looking never creates a state directory (a PostgreSQL state is
    opened as a sync opens it)."""
    if not is_postgres_url(location) and not (Path(location) / DB_NAME).is_file():
        yield None
        return
    with open_state(location, clock=clock) as store:
        yield store


def _recorded(known: list[ListInfo], *, list_id: str | None = None, name: str | None = None) -> ListInfo | None:
    """The state's record of the list with this id, else the most recent one recorded under this name."""
    if list_id is not None:
        return next((i for i in known if i.ref.customer_list_id == list_id), None)
    named = [i for i in known if name is not None and i.list_name == name]
    return max(named, key=lambda i: int(i.ref.customer_list_id), default=None)


def _failed(label: str, exc: PinaudienceError, audience: AudienceSettings, known: list[ListInfo]) -> DestinationStatus:
    info = _recorded(known, list_id=audience.customer_list_id, name=audience.list_name)
    state = StateView.from_info(info) if info else None
    if isinstance(exc, NotFound):
        verdict = Verdict("list_not_found", "list not found at Pinterest: " + exc.message)
    else:
        verdict = Verdict("error", f"{exc.kind}: {exc.message}")
    return DestinationStatus(label, verdict, state=state, error=exc)


def _judge(label: str, destination: Destination, known: list[ListInfo]) -> DestinationStatus:
    customer_list, audience = destination.customer_list, destination.audience
    if customer_list is None:
        info = _recorded(known, name=destination.list_name)
        if info is not None:
            list_id = info.ref.customer_list_id
            verdict = Verdict(
                "list_not_found",
                f"list not found at Pinterest: the state recorded customer list {list_id} named "
                f"{destination.list_name!r}, and Pinterest has no list of that name now; if it was deleted, run "
                f"`pinaudience state forget {list_id}`, and the next sync creates a new one",
            )
            return DestinationStatus(label, verdict, state=StateView.from_info(info))
        verdict = Verdict(
            "no_list", f"no list named {destination.list_name!r} at Pinterest yet: the first sync creates it"
        )
        return DestinationStatus(label, verdict)

    info = _recorded(known, list_id=customer_list.id)
    state = StateView.from_info(info) if info else None
    notes: list[str] = []
    if info is None:
        notes.append(
            "pinaudience has no record of this list (another state directory, or another tool made it): "
            "the next mirror only adds"
        )
    elif info.pending_batches:
        notes.append(
            f"{info.pending_records:,} records in {info.pending_batches} batches have an unknown outcome "
            "(a run ended before Pinterest answered): the next sync resends them"
        )
    return DestinationStatus(
        label, _verdict(customer_list, audience), customer_list=customer_list, audience=audience, state=state,
        notes=tuple(notes),
    )  # fmt: skip


def _verdict(customer_list: CustomerList, audience: Audience | None) -> Verdict:
    list_status = customer_list.status or "unknown"
    matching = list_status in MATCHING_STATUSES
    minimum = limits.MIN_AUDIENCE_RECORDS
    if audience is None:
        if matching:
            return Verdict(
                "matching",
                f"Pinterest is still matching (list {list_status}): the audience is created by the next sync",
            )
        if list_status == "TOO_SMALL":
            return Verdict(
                "too_small",
                f"no audience: Pinterest matched fewer than {minimum} of the list's records to its users "
                "(list TOO_SMALL); add records to the segment and sync again",
            )
        if list_status == "READY":
            return Verdict("audience_pending", "no audience yet: the list is matched (READY); the next sync creates it")
        return Verdict("no_audience", f"no audience yet (list {list_status}): the next sync creates it")
    audience_status = audience.status or "unknown"
    if audience_status == "REMOVED":
        return Verdict(
            "audience_removed",
            f"the audience {audience.id} was removed at Pinterest; the next sync creates a new one",
        )
    if audience_status == "READY":
        size = "not known yet" if audience.size is None else f"{audience.size:,}"
        later = f" (Pinterest is still matching the latest changes: list {list_status})" if matching else ""
        return Verdict("audience_ready", f"audience ready: size {size}{later}")
    if matching or audience_status == "INITIALIZING":
        return Verdict(
            "matching",
            f"Pinterest is still matching (list {list_status}, audience {audience_status}): "
            "the audience's size is not known yet; look again later",
        )
    if audience_status == "TOO_SMALL":
        return Verdict(
            "audience_too_small",
            f"the audience is too small: fewer than {minimum} of the list's records matched Pinterest users; "
            "add records to the segment and sync again",
        )
    return Verdict("audience_other", f"audience {audience_status} (list {list_status})")
