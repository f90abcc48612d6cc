"""The token store in PostgreSQL: one row per token lineage in `pinaudience_tokens`, shared by every worker.

A row is keyed by the API base, the app id and the lineage: the fingerprint (`tokens.fingerprint`) of the
environment's refresh token the pair descends from, or `''` for a pair from `auth login`. Every worker
configured with the same app and refresh token so finds the same row; another Pinterest user on the same
app (another seed) gets its own row, and no worker ever overwrites another lineage's tokens.

The refresh protocol (`lock`): a worker inserts the row if it is missing, then holds `SELECT ... FOR
UPDATE` on it, in one transaction on a connection of its own, for the whole refresh. Under the lock it
re-reads the row: a pair another worker wrote meanwhile is adopted; otherwise it refreshes and writes the
rotated pair, and the write is committed (durable, and the lock released) before the new access token is
used. A worker that dies holding the lock loses its connection, and PostgreSQL rolls its transaction back
and releases the row. Waiting is bounded by `lock_timeout` (`token_store.LOCK_TIMEOUT_S`).

The table is created on first use (`CREATE TABLE IF NOT EXISTS` under a transaction advisory lock, so that
workers starting together do not race); `format` is the version of the `pair` JSON (`tokens.STORE_VERSION`).
The row holds the tokens in clear text: see docs/operations.md, "The token store", for what a database
administrator can read and the grants to give. psycopg is imported on first use only. Its errors become
`StateError`s naming the action and the URL without its password (`support.redact.redact_url`), never a token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from pinaudience.errors import StateError
from pinaudience.pinterest.token_store import LOCK_TIMEOUT_S
from pinaudience.pinterest.tokens import STORE_VERSION, TokenSet, fingerprint
from pinaudience.support.redact import redact, redact_url

if TYPE_CHECKING:
    import psycopg

TABLE = "pinaudience_tokens"
CONNECT_TIMEOUT_S = 10
"""Seconds to wait for the server before a StateError."""
_ADVISORY_KEY = 0x70696E746F6B  # "pintok": serialises the table's creation across workers
_APPLICATION_NAME = "pinaudience-tokens"

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    api_base   text NOT NULL,
    app_id     text NOT NULL,
    lineage    text NOT NULL,
    format     integer NOT NULL,
    pair       jsonb,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_base, app_id, lineage)
)
"""
_EXISTS = "SELECT to_regclass(%s) IS NOT NULL"
_SELECT_APP = f"SELECT app_id, lineage, format, pair FROM {TABLE} WHERE api_base = %s AND app_id = %s"  # noqa: S608
_SELECT_ANY_APP = f"SELECT app_id, lineage, format, pair FROM {TABLE} WHERE api_base = %s"  # noqa: S608
_UPSERT = f"""
INSERT INTO {TABLE} (api_base, app_id, lineage, format, pair, updated_at) VALUES (%s, %s, %s, %s, %s, now())
ON CONFLICT (api_base, app_id, lineage) DO UPDATE
SET format = EXCLUDED.format, pair = EXCLUDED.pair, updated_at = now()
"""  # noqa: S608
_PLACEHOLDER = f"""
INSERT INTO {TABLE} (api_base, app_id, lineage, format, pair) VALUES (%s, %s, %s, %s, NULL)
ON CONFLICT (api_base, app_id, lineage) DO NOTHING
"""  # noqa: S608
_LOCK_ROW = (
    f"SELECT app_id, lineage, format, pair FROM {TABLE} "  # noqa: S608
    "WHERE api_base = %s AND app_id = %s AND lineage = %s FOR UPDATE"
)
_UPDATE = f"""
UPDATE {TABLE} SET format = %s, pair = %s, updated_at = now()
WHERE api_base = %s AND app_id = %s AND lineage = %s
"""  # noqa: S608

_SETTINGS = "SELECT set_config('lock_timeout', %s, true), set_config('synchronous_commit', 'on', true)"
"""For this transaction: how long to wait for the row, and a commit that returns only once it is on disk."""

_ROTATED = "; Pinterest has already rotated the refresh token, so the old one no longer works"
_REAUTHORIZE = (
    "Make the database reachable and writable for this role, then run `pinaudience auth login` (or set "
    "PINTEREST_REFRESH_ACCESS_TOKEN to a new refresh token)."
)

Row = tuple[str, str, int, Any]


class PostgresTokenStore:
    """Token pairs in the PostgreSQL table `pinaudience_tokens`, one row per lineage (see the module doc).

    `seed` is the fingerprint of the environment's refresh token (None when the environment holds none):
    `load` starts from that lineage's row, or a row whose refresh token is that very token, or the row of
    `auth login`; without a seed, from the row of `auth login`, or the only row of the app.
    """

    def __init__(
        self,
        url: str,
        *,
        api_base: str,
        app_id: str | None,
        seed: str | None = None,
        lock_timeout_s: float = LOCK_TIMEOUT_S,
    ) -> None:
        self._url = url
        self.api_base = api_base.rstrip("/")
        self.app_id = app_id
        self.seed = seed
        self.lock_timeout_s = lock_timeout_s
        self._table_ready = False

    @property
    def location(self) -> str:
        return redact_url(self._url)

    def __repr__(self) -> str:
        return f"PostgresTokenStore({self.location!r})"

    # ------------------------------------------------------------------------------------ outside the lock

    def exists(self) -> bool:
        return self.load() is not None

    def load(self) -> TokenSet | None:
        """The pair to start from (see the class doc), or None when the table holds none for this app."""
        with self.errors("read"), self._connect() as conn:
            self._ensure_table(conn)
            if self.app_id is None:
                rows = conn.execute(_SELECT_ANY_APP, (self.api_base,)).fetchall()
            else:
                rows = conn.execute(_SELECT_APP, (self.api_base, self.app_id)).fetchall()
        return self._choose(rows)

    def save(self, tokens: TokenSet) -> None:
        """Write `tokens` to its lineage's row (`auth login`), committed before returning."""
        app_id, lineage = self._key(tokens)
        with self.errors("write", rotated=True), self._connect() as conn:
            self._ensure_table(conn)
            conn.execute(_SETTINGS, (f"{max(1, round(self.lock_timeout_s * 1000))}ms",))
            conn.execute(_UPSERT, (self.api_base, app_id, lineage, STORE_VERSION, _jsonb(tokens)))
            conn.commit()

    # ------------------------------------------------------------------------------------------- the lock

    @contextlib.asynccontextmanager
    async def lock(self, tokens: TokenSet) -> AsyncIterator[LockedRow]:
        """Hold `SELECT ... FOR UPDATE` on the row of `tokens`' lineage (inserted first if missing).

        The transaction lives on a connection of this lock's own and ends with `LockedRow.save`'s commit, or
        with a rollback when the block leaves without saving; either releases the row.
        """
        import psycopg

        app_id, lineage = self._key(tokens)
        with self.errors("connect to"):
            conn = await psycopg.AsyncConnection.connect(
                self._url, connect_timeout=CONNECT_TIMEOUT_S, application_name=_APPLICATION_NAME
            )
        try:
            try:
                with self.errors("lock"):
                    await self._aensure_table(conn)
                    async with conn.cursor() as cur:
                        timeout = f"{max(1, round(self.lock_timeout_s * 1000))}ms"
                        await cur.execute(_SETTINGS, (timeout,))
                        await cur.execute(_PLACEHOLDER, (self.api_base, app_id, lineage, STORE_VERSION))
                        await cur.execute(_LOCK_ROW, (self.api_base, app_id, lineage))
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await conn.cancel_safe(timeout=5.0)  # the server stops waiting for the row on our behalf
                raise
            yield LockedRow(self, conn, app_id, lineage)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()  # an open transaction rolls back, and the row is free

    # ------------------------------------------------------------------------------------------- helpers

    def _key(self, tokens: TokenSet) -> tuple[str, str]:
        return tokens.app_id or self.app_id or "", tokens.seed or ""

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_S, application_name=_APPLICATION_NAME)

    def _ensure_table(self, conn: psycopg.Connection[Any]) -> None:
        if self._table_ready:
            return
        row = conn.execute(_EXISTS, (TABLE,)).fetchone()
        if not (row and row[0]):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_KEY,))
            conn.execute(_CREATE)
        conn.commit()
        self._table_ready = True

    async def _aensure_table(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._table_ready:
            return
        cur = await conn.execute(_EXISTS, (TABLE,))
        row = await cur.fetchone()
        if not (row and row[0]):
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_KEY,))
            await conn.execute(_CREATE)
        await conn.commit()
        self._table_ready = True

    def _choose(self, rows: list[Row]) -> TokenSet | None:
        pairs = [(lineage, tokens) for _app, lineage, fmt, pair in rows if (tokens := self.pair(fmt, pair))]
        if self.seed is not None:
            for lineage, tokens in pairs:
                if lineage == self.seed:
                    return tokens
            for _lineage, tokens in pairs:
                if tokens.refresh_token is not None and fingerprint(tokens.refresh_token) == self.seed:
                    return tokens
        for lineage, tokens in pairs:
            if lineage == "":
                return tokens
        if self.seed is None and len(pairs) == 1:
            return pairs[0][1]
        return None

    def pair(self, fmt: int, pair: Any) -> TokenSet | None:
        """The pair in a row's JSON of format `fmt`; None for a row not written yet (inserted by a lock)."""
        if fmt > STORE_VERSION:
            raise StateError(
                f"The token store {self.location} was written by a newer pinaudience (format {fmt}).",
                resolution="Run the newer pinaudience, or give this one a token store of its own.",
            )
        if not isinstance(pair, dict):
            return None
        tokens = TokenSet.from_json(pair)
        return tokens if tokens.refresh_token is not None else None

    @contextlib.contextmanager
    def errors(self, action: str, *, rotated: bool = False) -> Iterator[None]:
        """psycopg's errors (and a refused connection) as a StateError naming `action` and the redacted URL."""
        import psycopg

        try:
            yield
        except psycopg.errors.LockNotAvailable:
            raise StateError(
                f"Cannot lock the token store {self.location}: another worker held its row for more than "
                f"{self.lock_timeout_s:.0f} s.",
                resolution="Look for a pinaudience worker stuck while refreshing (pg_stat_activity), then run again.",
            ) from None
        except (psycopg.Error, OSError) as exc:
            raise StateError(
                f"Cannot {action} the token store {self.location} ({self._reason(exc)})"
                + (_ROTATED if rotated else "")
                + ".",
                resolution=_REAUTHORIZE
                if rotated
                else "Make the PostgreSQL server reachable and let this role use the table pinaudience_tokens "
                "(docs/operations.md, the token store), then run again.",
            ) from None

    def _reason(self, exc: BaseException) -> str:
        """The error's class and first line, scrubbed of the password and anything like a token."""
        from psycopg.conninfo import conninfo_to_dict

        try:
            password = conninfo_to_dict(self._url).get("password")
        except Exception:  # noqa: BLE001 - an unparsable URL: nothing to scrub beyond redact_url
            password = None
        first = (str(exc).strip().splitlines() or [""])[0]
        text = redact_url(redact(first, [str(password)] if password else []))
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class LockedRow:
    """A lineage's row while this worker holds `FOR UPDATE` on it: re-read it, write the rotated pair."""

    def __init__(self, store: PostgresTokenStore, conn: psycopg.AsyncConnection[Any], app_id: str, lineage: str):
        self._store = store
        self._conn = conn
        self._key = (store.api_base, app_id, lineage)

    async def load(self) -> TokenSet | None:
        with self._store.errors("read"):
            cur = await self._conn.execute(_LOCK_ROW, self._key)
            row = await cur.fetchone()
        if row is None:
            return None
        return self._store.pair(row[2], row[3])

    async def save(self, tokens: TokenSet) -> None:
        """Write the rotated pair and commit: durable, and the row released, before anything uses it."""
        with self._store.errors("write", rotated=True):
            await self._conn.execute(_UPDATE, (STORE_VERSION, _jsonb(tokens), *self._key))
            await self._conn.commit()


def _jsonb(tokens: TokenSet) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(tokens.to_json())
