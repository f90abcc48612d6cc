"""Resolve a destination: find the customer list and its CUSTOMER_LIST audience, or create them.

Finding reads only: by audience id (its rule names the list), by customer list id, or by name (the
most recent list with that name, and on it the audience with the wanted name, else the most recent
one). A removed audience (status `REMOVED`, where Pinterest still lists it) is never used. Creating is
never done twice: when the answer to a create is lost (`outcome_unknown`), the object is looked up
first and created again only if it is not there (`create_or_find`).

Pinterest matches a list's records to its users asynchronously (hours), and builds an audience only on
100 matched users. What it answers to an audience create on a list it has not matched yet is not
documented: it may build the audience (`INITIALIZING`, no size yet) or refuse it with the same 400 code 1
as for a list that is too small. `create_audience` reads the list's status to tell the two refusals
apart: still matching means the audience waits for a later run (None); matched and too small is
`not_enough_records`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from pinaudience.config import AudienceSettings
from pinaudience.errors import ConfigError, InvalidRequest, NotEnoughRecords, NotFound, PinterestUnavailable
from pinaudience.pinterest import limits
from pinaudience.pinterest.client import PinterestClient
from pinaudience.pinterest.models import Audience, CustomerList

log = logging.getLogger("pinaudience.sync")

MIN_RECORDS = limits.MIN_AUDIENCE_RECORDS

REMOVED = "REMOVED"
"""The status of a removed audience where Pinterest still lists it (undocumented; the emulator's
`removed_audiences: listed`). Such an audience is never used again."""
LIST_MATCHING = frozenset({"PROCESSING", "UPLOADING"})
"""List statuses while Pinterest has not finished matching the records sent."""
LIST_TOO_SMALL = "TOO_SMALL"
"""The list status once Pinterest matched fewer than 100 of its records to users."""

T = TypeVar("T")


@dataclass(frozen=True)
class Destination:
    """Where one audience's records go, as far as Pinterest has it: a None is still to be created."""

    customer_list: CustomerList | None
    audience: Audience | None
    list_name: str | None
    audience_name: str | None
    known_list_ids: frozenset[str] = frozenset()
    """Ids of lists already carrying the name, so a create whose answer was lost can be recognised."""


async def resolve(client: PinterestClient, audience: AudienceSettings) -> Destination:
    """The configured destination, with reads only."""
    if audience.audience_id:
        found = await client.get_audience(audience.audience_id)
        if found.status == REMOVED:
            raise NotFound(
                f"audience {found.id} was removed in Pinterest",
                resolution="A removed audience cannot be used again: configure the list by name or id (an audience "
                "is then created on it), or give the id of an audience that is not removed.",
            )
        if found.audience_type != "CUSTOMER_LIST" or found.customer_list_id is None:
            raise ConfigError(
                f"audience {found.id} is a {found.audience_type or 'unknown'} audience, not a "
                "CUSTOMER_LIST audience, so it has no customer list to sync",
                resolution="Give the id of a customer list audience, or use --list-name.",
            )
        customer_list = await client.get_customer_list(found.customer_list_id)
        return Destination(customer_list, found, customer_list.name, found.name)
    name = audience.effective_audience_name
    if audience.customer_list_id:
        customer_list = await client.get_customer_list(audience.customer_list_id)
        return Destination(customer_list, await find_audience(client, customer_list.id, name), customer_list.name, name)
    assert audience.list_name is not None
    named = [cl async for cl in client.iter_customer_lists() if cl.name == audience.list_name]
    newest = max(named, key=lambda cl: int(cl.id), default=None)
    on_list = await find_audience(client, newest.id, name) if newest else None
    return Destination(newest, on_list, audience.list_name, name, frozenset(cl.id for cl in named))


async def find_audience(client: PinterestClient, customer_list_id: str, name: str | None) -> Audience | None:
    """The CUSTOMER_LIST audience on this list, not removed: the one with the wanted name, else the most recent."""
    on_list = [a async for a in client.iter_audiences() if a.is_built_on(customer_list_id) and a.status != REMOVED]
    if not on_list:
        return None
    named = [a for a in on_list if name is not None and a.name == name]
    return max(named or on_list, key=lambda a: int(a.id))


async def create_or_find(
    create: Callable[[], Awaitable[T]],
    find: Callable[[], Awaitable[T | None]],
    *,
    attempts: int,
    what: str,
    resolution: str,
) -> T:
    """Create; when the answer was lost (the outcome is unknown), look for what the create may have made.

    The create is tried again only when the lookup finds nothing, at most `attempts` times in all.
    Any other failure of the create is raised as it is.
    """
    for _ in range(max(attempts, 1)):
        try:
            return await create()
        except PinterestUnavailable as exc:
            if not exc.outcome_unknown:
                raise
            log.warning("the answer to creating %s was lost; looking it up", what)
            found = await find()
            if found is not None:
                return found
    raise PinterestUnavailable(f"Pinterest did not confirm creating {what} after every attempt", resolution=resolution)


async def create_list(
    client: PinterestClient, destination: Destination, first_batch: list[str], list_type: str, *, attempts: int
) -> CustomerList:
    """Create the destination's list, carrying `first_batch` (Pinterest creates no empty list)."""
    name = destination.list_name
    assert name is not None

    async def find() -> CustomerList | None:
        named = [
            cl
            async for cl in client.iter_customer_lists()
            if cl.name == name and cl.id not in destination.known_list_ids
        ]
        return max(named, key=lambda cl: int(cl.id), default=None)

    return await create_or_find(
        lambda: client.create_customer_list(name, first_batch, list_type),
        find,
        attempts=attempts,
        what="the customer list",
        resolution="Run again later; the next run finds the list by name if it was created.",
    )


async def create_audience(
    client: PinterestClient, customer_list: CustomerList, name: str | None, members: int, *, attempts: int
) -> Audience | None:
    """Create the CUSTOMER_LIST audience on the list (named `name`, else as the list), once it holds enough.

    None when Pinterest refused it because it has not finished matching the list's records: the audience is
    for a later run to create. `not_enough_records` when Pinterest matched the list and found it too small.
    """
    audience_name = name or customer_list.name
    if members < MIN_RECORDS:
        raise NotEnoughRecords(f"the customer list holds {members} records, so no audience could be created on it yet")

    async def create() -> Audience | None:
        try:
            return await client.create_audience(audience_name, customer_list.id)
        except InvalidRequest:
            status = (await client.get_customer_list(customer_list.id)).status
            if status in LIST_MATCHING:
                log.info("the audience on customer list %s waits for Pinterest's matching", customer_list.id)
                return None
            if status == LIST_TOO_SMALL:
                raise NotEnoughRecords.too_few_matched(customer_list.id, sent=members, matched=None) from None
            raise

    return await create_or_find(
        create,
        lambda: find_audience(client, customer_list.id, audience_name),
        attempts=attempts,
        what="the audience",
        resolution="Run again later; the next run finds the audience on the list if it was created.",
    )
