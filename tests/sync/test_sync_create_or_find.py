"""`create_or_find`: a create whose answer was lost is looked up before it is ever sent again."""

from __future__ import annotations

import pytest

from pinaudience.engine.resolve import create_or_find
from pinaudience.errors import PinterestUnavailable

pytestmark = pytest.mark.anyio


def lost() -> PinterestUnavailable:
    error = PinterestUnavailable("the connection dropped after the request was sent")
    error.outcome_unknown = True
    return error


async def test_a_lost_answer_finds_what_was_created() -> None:
    """When the create's answer is lost and the lookup finds the object, it is returned and not created again."""
    calls: list[str] = []

    async def create() -> str:
        calls.append("create")
        raise lost()

    async def find() -> str | None:
        calls.append("find")
        return "42"

    found = await create_or_find(create, find, attempts=5, what="the thing", resolution="Run again.")
    assert found == "42"
    assert calls == ["create", "find"]


async def test_a_lost_answer_with_nothing_found_creates_again() -> None:
    """When the lookup finds nothing, the create is tried again, up to `attempts` times, then it is an error."""
    calls: list[str] = []

    async def create() -> str:
        calls.append("create")
        raise lost()

    async def find() -> str | None:
        calls.append("find")
        return None

    with pytest.raises(PinterestUnavailable, match="did not confirm creating the thing") as raised:
        await create_or_find(create, find, attempts=3, what="the thing", resolution="Run again.")
    assert raised.value.resolution == "Run again."
    assert calls == ["create", "find"] * 3


async def test_a_known_failure_is_raised_without_a_lookup() -> None:
    """A failure that certainly changed nothing (outcome known) is raised as it is, with no lookup."""
    refused = PinterestUnavailable("Pinterest failed", status=500)

    async def create() -> str:
        raise refused

    async def find() -> str | None:
        raise AssertionError("no lookup after a failure whose outcome is known")

    with pytest.raises(PinterestUnavailable) as raised:
        await create_or_find(create, find, attempts=3, what="the thing", resolution="Run again.")
    assert raised.value is refused
