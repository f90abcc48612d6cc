"""Resolve a destination: find the customer list and its CUSTOMER_LIST audience, or create them.

Finding reads only: by audience id (its rule names the list), by customer list id, or by name (the
most recent list with that name, and on it the audience with the wanted name, else the most recent
one). Creating is never done twice: when the answer to a create is lost (`outcome_unknown`), the
object is looked up first and created again only if it is not there (`create_or_find`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from pinaudience.config import AudienceSettings
from pinaudience.errors import ConfigError, InvalidRequest, NotEnoughRecords, PinterestUnavailable
from pinaudience.pinterest import limits
from pinaudience.pinterest.client import PinterestClient
from pinaudience.pinterest.models import Audience, CustomerList

log = logging.getLogger("pinaudience.sync")

MIN_RECORDS = limits.MIN_AUDIENCE_RECORDS

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
    """The CUSTOMER_LIST audience on this list: the one with the wanted name, else the most recent."""
    on_list = [a async for a in client.iter_audiences() if a.is_built_on(customer_list_id)]
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
) -> Audience:
    """Create the CUSTOMER_LIST audience on the list (named `name`, else as the list), once it holds enough."""
    audience_name = name or customer_list.name
    if members < MIN_RECORDS:
        raise NotEnoughRecords(f"the customer list holds {members} records, so no audience could be created on it yet")

    async def create() -> Audience:
        try:
            return await client.create_audience(audience_name, customer_list.id)
        except InvalidRequest as exc:
            raise NotEnoughRecords(
                f"Pinterest refused to create the audience on customer list {customer_list.id} "
                f"({exc.pinterest_message or exc.message}); usually fewer than {MIN_RECORDS} of its "
                f"{members} records matched Pinterest users. The list itself is up to date.",
            ) from None

    return await create_or_find(
        create,
        lambda: find_audience(client, customer_list.id, audience_name),
        attempts=attempts,
        what="the audience",
        resolution="Run again later; the next run finds the audience on the list if it was created.",
    )
