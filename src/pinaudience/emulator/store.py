"""The emulator's state in SQLite: in memory by default, in a file to survive a restart.

One code path for both; this module holds the schema, apps, users, ad accounts and tokens, and `store_lists`
the customer lists and audiences. Memberships live in a table keyed by (list id, record) WITHOUT ROWID, written with
`executemany`, and every list keeps its member and matched counts up to date as it changes, so a list of
10 million members is as quick to read as a list of ten. All access happens on one thread at a time (the
event loop's), hence one connection shared by the app.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pinaudience.emulator.store_events import EVENT_SCHEMA, EVENT_TABLES, EventCounts, EventTables
from pinaudience.emulator.store_lists import Audience, CustomerList, ListTables

SCHEMA_VERSION = "3"
"""2 added `shown_matched` and `invalid_received` to customer lists; a version 1 file gains them on open. 3 added the
conversion event tables, which an older file gains on open."""

ADS_MANAGER_APP = "ads-manager"
"""The app id of conversion access tokens: Ads Manager generates them, not an app of the developer's."""

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
    processing_until REAL NOT NULL, shown_matched INTEGER, invalid_received INTEGER NOT NULL DEFAULT 0
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
    "audiences", *EVENT_TABLES,
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
    """`access`, `refresh` or `conversion` (a conversion access token, good for `events/create` only)."""
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


class Store(ListTables, EventTables):
    """Typed reads and atomic writes of the emulator's state (lists and audiences: `ListTables`; conversion events:
    `EventTables`)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        # The app runs on one event loop thread, which need not be the thread that built it (`serving`).
        self._db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA cache_size = -131072")  # 128 MiB: keeps bulk inserts into big lists quick
        with self._db:
            self._db.executescript(_SCHEMA + EVENT_SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(customer_lists)")}
        if "shown_matched" not in columns:
            self._db.execute("ALTER TABLE customer_lists ADD COLUMN shown_matched INTEGER")
        if "invalid_received" not in columns:
            self._db.execute("ALTER TABLE customer_lists ADD COLUMN invalid_received INTEGER NOT NULL DEFAULT 0")
        if self.get_meta("schema_version") is not None:
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION,))

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

    def create_conversion_token(self, *, user: str, now: float, ttl_s: float, token_text: str | None = None) -> Token:
        """A conversion access token acting for `user` (what Ads Manager generates): `events/create` only."""
        text = token_text or "pina_" + secrets.token_urlsafe(24)
        token = Token(text, "conversion", user, ADS_MANAGER_APP, (), now + ttl_s, False, ttl_s, 0.0)
        with self._db:
            self._ensure_user(user)
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

    def expire_token(self, token: str, at: float) -> bool:
        """Make `token` expire at `at` (the emulator's time); False when there is no such token."""
        with self._db:
            return self._db.execute("UPDATE tokens SET expires_at = ? WHERE token = ?", (at, token)).rowcount > 0

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


__all__ = ["AdAccount", "Audience", "AuthCode", "CustomerList", "EventCounts", "Store", "Token", "TokenPair"]
