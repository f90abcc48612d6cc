"""The emulator's state in SQLite: in memory by default, in a file to survive a restart.

One code path for both. Memberships live in a table keyed by (list id, record) WITHOUT ROWID, written with
`executemany`, and every list keeps its member and matched counts up to date as it changes, so a list of
10 million members is as quick to read as a list of ten. All access happens on one thread at a time (the
event loop's), hence one connection shared by the app.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pinaudience.emulator import records as rec

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS apps (app_id TEXT PRIMARY KEY, secret TEXT NOT NULL, owner TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ad_accounts (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, country TEXT NOT NULL, currency TEXT NOT NULL,
    created_time REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access (
    user TEXT NOT NULL, ad_account_id TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (user, ad_account_id, role)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, kind TEXT NOT NULL, user TEXT NOT NULL, app_id TEXT NOT NULL, scopes TEXT NOT NULL,
    expires_at REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, access_ttl_s REAL NOT NULL,
    refresh_ttl_s REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS auth_codes (
    code TEXT PRIMARY KEY, app_id TEXT NOT NULL, user TEXT NOT NULL, scopes TEXT NOT NULL,
    redirect_uri TEXT NOT NULL, expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS customer_lists (
    id INTEGER PRIMARY KEY, ad_account_id TEXT NOT NULL, name TEXT NOT NULL, list_type TEXT NOT NULL,
    created_time REAL NOT NULL, updated_time REAL NOT NULL, num_batches INTEGER NOT NULL,
    num_uploaded INTEGER NOT NULL, num_removed INTEGER NOT NULL, size INTEGER NOT NULL, matched INTEGER NOT NULL,
    processing_until REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS customer_lists_by_account ON customer_lists (ad_account_id, id);
CREATE TABLE IF NOT EXISTS members (
    list_id INTEGER NOT NULL, record BLOB NOT NULL, matched INTEGER NOT NULL, PRIMARY KEY (list_id, record)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sends (
    list_id INTEGER NOT NULL, operation TEXT NOT NULL, record BLOB NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (list_id, operation, record)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audiences (
    id INTEGER PRIMARY KEY, ad_account_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT,
    audience_type TEXT NOT NULL, customer_list_id INTEGER NOT NULL, created_time REAL NOT NULL,
    updated_time REAL NOT NULL, removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS audiences_by_account ON audiences (ad_account_id, id);
"""

_TABLES = (
    "meta", "apps", "users", "ad_accounts", "access", "tokens", "auth_codes", "customer_lists", "members", "sends",
    "audiences",
)  # fmt: skip

FIRST_ID = 2_542_620_000_001
"""Ids of lists, audiences and users count up from here (13 digits, like Pinterest's); higher is newer."""


@dataclass(frozen=True)
class AdAccount:
    id: str
    name: str
    owner: str
    country: str
    currency: str
    created_time: float


@dataclass(frozen=True)
class Token:
    token: str
    kind: str
    """`access` or `refresh`."""
    user: str
    app_id: str
    scopes: tuple[str, ...]
    expires_at: float
    revoked: bool
    access_ttl_s: float
    refresh_ttl_s: float


@dataclass(frozen=True)
class TokenPair:
    access: Token
    refresh: Token


@dataclass(frozen=True)
class AuthCode:
    code: str
    app_id: str
    user: str
    scopes: tuple[str, ...]
    redirect_uri: str
    expires_at: float
    used: bool


@dataclass(frozen=True)
class CustomerList:
    id: int
    ad_account_id: str
    name: str
    list_type: str
    created_time: float
    updated_time: float
    num_batches: int
    num_uploaded: int
    num_removed: int
    size: int
    matched: int
    processing_until: float


@dataclass(frozen=True)
class Audience:
    id: int
    ad_account_id: str
    name: str
    description: str | None
    audience_type: str
    customer_list_id: int
    created_time: float
    updated_time: float
    removed: bool
    matched: int
    """Matched members of its customer list: the audience's size."""


_LIST_COLUMNS = (
    "id, ad_account_id, name, list_type, created_time, updated_time, num_batches, num_uploaded, num_removed, size, "
    "matched, processing_until"
)
_AUDIENCE_SELECT = (
    "SELECT a.id, a.ad_account_id, a.name, a.description, a.audience_type, a.customer_list_id, a.created_time, "
    "a.updated_time, a.removed, COALESCE(l.matched, 0) FROM audiences a LEFT JOIN customer_lists l "
    "ON l.id = a.customer_list_id"
)


class Store:
    """Typed reads and atomic writes of the emulator's state."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        # The app runs on one event loop thread, which need not be the thread that built it (`serving`).
        self._db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA cache_size = -131072")  # 128 MiB: keeps bulk inserts into big lists quick
        with self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # meta -----------------------------------------------------------------------------------------------------

    def is_empty(self) -> bool:
        return bool(self._db.execute("SELECT COUNT(*) FROM apps").fetchone()[0] == 0)

    def clear(self) -> None:
        with self._db:
            for table in _TABLES:
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - table names are our constants
            self._db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _next_id(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'next_id'").fetchone()
        value = FIRST_ID if row is None else int(row[0])
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_id', ?)", (str(value + 1),))
        return value

    # apps, users, ad accounts ---------------------------------------------------------------------------------

    def add_app(self, app_id: str, secret: str, owner: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO apps (app_id, secret, owner) VALUES (?, ?, ?)",
                             (app_id, secret, owner))  # fmt: skip

    def get_app(self, app_id: str) -> tuple[str, str] | None:
        """(secret, owner) of an app."""
        row = self._db.execute("SELECT secret, owner FROM apps WHERE app_id = ?", (app_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def _ensure_user(self, name: str) -> str:
        row = self._db.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return str(row[0])
        user_id = str(self._next_id())
        self._db.execute("INSERT INTO users (name, id) VALUES (?, ?)", (name, user_id))
        return user_id

    def user_id(self, name: str) -> str | None:
        row = self._db.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def users(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._db.execute("SELECT name, id FROM users ORDER BY id")]

    def add_ad_account(self, account: AdAccount) -> None:
        with self._db:
            self._ensure_user(account.owner)
            self._db.execute(
                "INSERT INTO ad_accounts (id, name, owner, country, currency, created_time) VALUES (?, ?, ?, ?, ?, ?)",
                (account.id, account.name, account.owner, account.country, account.currency, account.created_time),
            )

    def get_ad_account(self, account_id: str) -> AdAccount | None:
        row = self._db.execute(
            "SELECT id, name, owner, country, currency, created_time FROM ad_accounts WHERE id = ?", (account_id,)
        ).fetchone()
        return None if row is None else AdAccount(*row)

    def ad_accounts(self) -> list[AdAccount]:
        rows = self._db.execute("SELECT id, name, owner, country, currency, created_time FROM ad_accounts ORDER BY id")
        return [AdAccount(*row) for row in rows]

    def grant(self, user: str, roles: dict[str, str]) -> str:
        """Give `user` (created if new) Business Access `roles` by ad account id; returns the user's id."""
        with self._db:
            user_id = self._ensure_user(user)
            self._db.executemany(
                "INSERT OR IGNORE INTO access (user, ad_account_id, role) VALUES (?, ?, ?)",
                [(user, account, role) for account, role in roles.items()],
            )
            return user_id

    def roles(self, user: str, account: AdAccount) -> set[str]:
        """The user's roles on the account: OWNER for its owner, plus any Business Access roles."""
        found = {
            str(row[0])
            for row in self._db.execute(
                "SELECT role FROM access WHERE user = ? AND ad_account_id = ?", (user, account.id)
            )
        }
        if account.owner == user:
            found.add("OWNER")
        return found

    # tokens ---------------------------------------------------------------------------------------------------

    def create_token_pair(
        self,
        *,
        user: str,
        app_id: str,
        scopes: Iterable[str],
        now: float,
        access_ttl_s: float,
        refresh_ttl_s: float,
        access_token: str | None = None,
        refresh_token: str | None = None,
        replaces: str | None = None,
    ) -> TokenPair:
        """A new access and refresh token; `replaces` names a refresh token that stops working in the same step."""
        scope_text = ",".join(scopes)
        access = Token(
            token=access_token or "pina_" + secrets.token_urlsafe(24),
            kind="access",
            user=user,
            app_id=app_id,
            scopes=tuple(scope_text.split(",")) if scope_text else (),
            expires_at=now + access_ttl_s,
            revoked=False,
            access_ttl_s=access_ttl_s,
            refresh_ttl_s=refresh_ttl_s,
        )
        refresh = Token(
            token=refresh_token or "pinr_" + secrets.token_urlsafe(24),
            kind="refresh",
            user=user,
            app_id=app_id,
            scopes=access.scopes,
            expires_at=now + refresh_ttl_s,
            revoked=False,
            access_ttl_s=access_ttl_s,
            refresh_ttl_s=refresh_ttl_s,
        )
        with self._db:
            self._ensure_user(user)
            if replaces is not None:
                self._db.execute("UPDATE tokens SET revoked = 1 WHERE token = ?", (replaces,))
            for token in (access, refresh):
                self._insert_token(token)
        return TokenPair(access=access, refresh=refresh)

    def create_access_token(self, *, user: str, app_id: str, scopes: Iterable[str], now: float, ttl_s: float) -> Token:
        scope_tuple = tuple(scopes)
        token = Token("pina_" + secrets.token_urlsafe(24), "access", user, app_id, scope_tuple, now + ttl_s, False,
                      ttl_s, 0.0)  # fmt: skip
        with self._db:
            self._insert_token(token)
        return token

    def _insert_token(self, token: Token) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO tokens (token, kind, user, app_id, scopes, expires_at, revoked, access_ttl_s, "
            "refresh_ttl_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (token.token, token.kind, token.user, token.app_id, ",".join(token.scopes), token.expires_at,
             int(token.revoked), token.access_ttl_s, token.refresh_ttl_s),
        )  # fmt: skip

    def get_token(self, token: str) -> Token | None:
        row = self._db.execute(
            "SELECT token, kind, user, app_id, scopes, expires_at, revoked, access_ttl_s, refresh_ttl_s FROM tokens "
            "WHERE token = ?",
            (token,),
        ).fetchone()
        if row is None:
            return None
        return Token(row[0], row[1], row[2], row[3], tuple(s for s in row[4].split(",") if s), row[5], bool(row[6]),
                     row[7], row[8])  # fmt: skip

    def revoke_token(self, token: str) -> bool:
        with self._db:
            return self._db.execute("UPDATE tokens SET revoked = 1 WHERE token = ?", (token,)).rowcount > 0

    def add_auth_code(self, code: AuthCode) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO auth_codes (code, app_id, user, scopes, redirect_uri, expires_at, used) "
                "VALUES (?, ?, ?, ?, ?, ?, 0)",
                (code.code, code.app_id, code.user, ",".join(code.scopes), code.redirect_uri, code.expires_at),
            )

    def take_auth_code(self, code: str) -> AuthCode | None:
        """The code as it was, marking it used: a code works once."""
        with self._db:
            row = self._db.execute(
                "SELECT code, app_id, user, scopes, redirect_uri, expires_at, used FROM auth_codes WHERE code = ?",
                (code,),
            ).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE auth_codes SET used = 1 WHERE code = ?", (code,))
        return AuthCode(row[0], row[1], row[2], tuple(s for s in row[3].split(",") if s), row[4], row[5], bool(row[6]))

    # customer lists -------------------------------------------------------------------------------------------

    def create_list(
        self,
        *,
        ad_account_id: str,
        name: str,
        list_type: str,
        records: list[str],
        match_rate: float,
        now: float,
        processing_until: float,
    ) -> CustomerList:
        with self._db:
            list_id = self._next_id()
            self._db.execute(
                f"INSERT INTO customer_lists ({_LIST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, ?)",  # noqa: S608
                (list_id, ad_account_id, name, list_type, now, now, processing_until),
            )
            self._add(list_id, records, match_rate, now, processing_until)
        found = self.get_list(list_id)
        assert found is not None
        return found

    def get_list(self, list_id: int) -> CustomerList | None:
        row = self._db.execute(
            f"SELECT {_LIST_COLUMNS} FROM customer_lists WHERE id = ?",  # noqa: S608 - constant columns
            (list_id,),
        ).fetchone()
        return None if row is None else CustomerList(*row)

    def list_lists(self, ad_account_id: str, *, after: int | None, descending: bool, limit: int) -> list[CustomerList]:
        """A page of the account's lists by id; `after` is the last id of the previous page."""
        comparison, direction = ("<", "DESC") if descending else (">", "ASC")
        query = f"SELECT {_LIST_COLUMNS} FROM customer_lists WHERE ad_account_id = ?"  # noqa: S608
        params: list[object] = [ad_account_id]
        if after is not None:
            query += f" AND id {comparison} ?"
            params.append(after)
        query += f" ORDER BY id {direction} LIMIT ?"
        params.append(limit)
        return [CustomerList(*row) for row in self._db.execute(query, params)]

    def all_lists(self) -> list[CustomerList]:
        query = f"SELECT {_LIST_COLUMNS} FROM customer_lists ORDER BY id"  # noqa: S608 - constant columns
        return [CustomerList(*row) for row in self._db.execute(query)]

    def add_records(
        self, list_id: int, records: list[str], *, match_rate: float, now: float, processing_until: float
    ) -> CustomerList:
        with self._db:
            self._add(list_id, records, match_rate, now, processing_until)
        found = self.get_list(list_id)
        assert found is not None
        return found

    def _add(self, list_id: int, records: list[str], match_rate: float, now: float, processing_until: float) -> None:
        threshold = rec.match_threshold(match_rate)
        encode, match_key = rec.encode, rec.match_key
        matched_rows: list[tuple[int, bytes]] = []
        other_rows: list[tuple[int, bytes]] = []
        for record in records:
            (matched_rows if match_key(record) < threshold else other_rows).append((list_id, encode(record)))
        insert = "INSERT OR IGNORE INTO members (list_id, record, matched) VALUES (?, ?, {})"
        added_matched = self._db.executemany(insert.format(1), matched_rows).rowcount if matched_rows else 0
        added_other = self._db.executemany(insert.format(0), other_rows).rowcount if other_rows else 0
        self._db.execute(
            "UPDATE customer_lists SET size = size + ?, matched = matched + ?, num_batches = num_batches + 1, "
            "num_uploaded = num_uploaded + ?, updated_time = ?, processing_until = ? WHERE id = ?",
            (added_matched + added_other, added_matched, len(records), now, processing_until, list_id),
        )

    def remove_records(self, list_id: int, records: list[str], *, now: float, processing_until: float) -> CustomerList:
        keys = [(list_id, rec.encode(record)) for record in records]
        with self._db:
            removed_matched = self._db.executemany(
                "DELETE FROM members WHERE list_id = ? AND record = ? AND matched = 1", keys
            ).rowcount
            removed_other = self._db.executemany("DELETE FROM members WHERE list_id = ? AND record = ?", keys).rowcount
            self._db.execute(
                "UPDATE customer_lists SET size = size - ?, matched = matched - ?, num_batches = num_batches + 1, "
                "num_removed = num_removed + ?, updated_time = ?, processing_until = ? WHERE id = ?",
                (removed_matched + removed_other, removed_matched, len(records), now, processing_until, list_id),
            )
        found = self.get_list(list_id)
        assert found is not None
        return found

    def count_sends(self, list_id: int, operation: str, records: list[str]) -> None:
        """Count how often each record reached the list in each operation (setting `track_sends`)."""
        with self._db:
            self._db.executemany(
                "INSERT INTO sends (list_id, operation, record, count) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (list_id, operation, record) DO UPDATE SET count = count + 1",
                [(list_id, operation, rec.encode(record)) for record in records],
            )

    def send_histogram(self, list_id: int) -> dict[str, dict[str, int]]:
        """Per operation: how many records were sent once, twice, ... (counts only, never records)."""
        histogram: dict[str, dict[str, int]] = {"ADD": {}, "REMOVE": {}}
        rows = self._db.execute(
            "SELECT operation, count, COUNT(*) FROM sends WHERE list_id = ? GROUP BY operation, count", (list_id,)
        )
        for operation, count, records in rows:
            histogram[str(operation)][str(count)] = int(records)
        return histogram

    def clear_sends(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM sends")

    def members(self, list_id: int) -> Iterator[str]:
        """Every member of the list, in no particular order."""
        for (key,) in self._db.execute("SELECT record FROM members WHERE list_id = ?", (list_id,)):
            yield rec.decode(key)

    # audiences ------------------------------------------------------------------------------------------------

    def create_audience(
        self, *, ad_account_id: str, name: str, description: str | None, customer_list_id: int, now: float
    ) -> Audience:
        with self._db:
            audience_id = self._next_id()
            self._db.execute(
                "INSERT INTO audiences (id, ad_account_id, name, description, audience_type, customer_list_id, "
                "created_time, updated_time) VALUES (?, ?, ?, ?, 'CUSTOMER_LIST', ?, ?, ?)",
                (audience_id, ad_account_id, name, description, customer_list_id, now, now),
            )
        found = self.get_audience(audience_id)
        assert found is not None
        return found

    def get_audience(self, audience_id: int) -> Audience | None:
        row = self._db.execute(_AUDIENCE_SELECT + " WHERE a.id = ?", (audience_id,)).fetchone()
        return None if row is None else _audience(row)

    def list_audiences(self, ad_account_id: str, *, after: int | None, descending: bool, limit: int) -> list[Audience]:
        """A page of the account's audiences that were not removed, by id."""
        comparison, direction = ("<", "DESC") if descending else (">", "ASC")
        query = _AUDIENCE_SELECT + " WHERE a.ad_account_id = ? AND a.removed = 0"
        params: list[object] = [ad_account_id]
        if after is not None:
            query += f" AND a.id {comparison} ?"
            params.append(after)
        query += f" ORDER BY a.id {direction} LIMIT ?"
        params.append(limit)
        return [_audience(row) for row in self._db.execute(query, params)]

    def all_audiences(self) -> list[Audience]:
        return [_audience(row) for row in self._db.execute(_AUDIENCE_SELECT + " ORDER BY a.id")]

    def update_audience(
        self, audience_id: int, *, name: str | None, description: str | None, removed: bool, now: float
    ) -> Audience:
        with self._db:
            self._db.execute(
                "UPDATE audiences SET name = COALESCE(?, name), description = COALESCE(?, description), "
                "removed = MAX(removed, ?), updated_time = ? WHERE id = ?",
                (name, description, int(removed), now, audience_id),
            )
        found = self.get_audience(audience_id)
        assert found is not None
        return found


def _audience(row: tuple[object, ...]) -> Audience:
    values = list(row)
    values[8] = bool(values[8])
    return Audience(*values)  # type: ignore[arg-type]
