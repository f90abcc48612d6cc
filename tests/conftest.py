"""Shared fixtures: every test runs in-process, against the emulator where Pinterest is needed.

Async tests use AnyIO's pytest plugin (it ships with httpx's dependency anyio): mark a module with
`pytestmark = pytest.mark.anyio`. The emulator and the client under test share one `FakeClock`, so no test
sleeps for real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import SEED_AD_ACCOUNT_ID, Emulator
from tests.helpers import emulator_http
from tests.servers import PostgresServer, RedisServer, start_postgres, start_redis

if TYPE_CHECKING:
    from openapi_core import OpenAPI

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = REPO_ROOT.parent / "shared" / "pinterest" / "openapi-v5.yaml"
"""Pinterest's OpenAPI spec, in the `shared` folder beside the repository; the tests that need it skip without it."""


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    """The one clock of a test: the emulator's and the client's."""
    return FakeClock()


@pytest.fixture
def emulator_profile() -> str:
    """The emulator profile a test runs against: `default` here; the product suites' conftests parametrise it
    over every profile (`default`, `realistic`), so that their tests pass against each."""
    return "default"


@pytest.fixture
def emulator(clock: FakeClock, emulator_profile: str) -> Iterator[Emulator]:
    """A freshly seeded in-memory emulator on the test's clock, in the test's profile."""
    emu = Emulator(profile=emulator_profile, clock=clock)
    yield emu
    emu.close()


@pytest.fixture
async def emulator_client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to the emulator in-process, authorised with the seed access token.

    Its base URL is the emulator's root: Pinterest's API is at `/v5/...`, the admin API at `/_emulator/...`.
    """
    async with emulator_http(emulator) as client:
        yield client


@pytest.fixture
def ad_account_id() -> str:
    """The seed ad account, owned by the seed user."""
    return SEED_AD_ACCOUNT_ID


@pytest.fixture(scope="session")
def pinterest_spec() -> dict[str, Any]:
    """Pinterest's OpenAPI spec as a dict, parsed once per session (it is 1.5 MB); skips when absent."""
    if not SPEC_PATH.is_file():
        pytest.skip(
            "Pinterest's OpenAPI spec is absent: expected ../shared/pinterest/openapi-v5.yaml beside the repository"
        )
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    return spec


@pytest.fixture(scope="session")
def pinterest_openapi(pinterest_spec: dict[str, Any]) -> OpenAPI:
    """An `openapi_core.OpenAPI` of Pinterest's spec (the spec itself is not re-validated: it is Pinterest's)."""
    from openapi_core import Config, OpenAPI

    return OpenAPI.from_dict(pinterest_spec, config=Config(spec_validator_cls=None))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (tests/servers.py); skips without the binaries, fails under CI."""
    server = start_postgres()
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database on the session's server, dropped after the test; the URL carries the canary password."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real Redis server for the session (tests/servers.py); skips without redis-server, fails under CI."""
    server = start_redis()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session's Redis, emptied before and after the test; the URL carries the canary password."""
    import redis

    client = redis.Redis.from_url(redis_server.url())
    client.flushall()
    yield redis_server.url()
    client.flushall()
    client.close()
