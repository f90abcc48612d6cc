"""Helpers of the reliability suite: canary credentials and emails, a harness around the engine, and the checks.

Every sync here runs with canaries: an app secret, an access token and a refresh token that are
distinctive strings, and customer emails on a domain of their own. `WireTransport` sits between the
engine and the in-process emulator and remembers every secret that crossed the wire (bearer tokens,
the app secret in HTTP Basic, tokens Pinterest issued on refresh), so a test can look for all of them,
not only the ones it chose, in every log record, report, exception text and file the run left behind.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import re
import sqlite3
import stat
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from pinaudience.clock import FakeClock
from pinaudience.config import AudienceSettings, Credentials, PinterestSettings, Secret, Settings
from pinaudience.emulator import SEED_AD_ACCOUNT_ID, SEED_SCOPES, SEED_USER, Emulator
from pinaudience.engine.events import SyncObserver
from pinaudience.engine.report import AudienceReport, RunReport
from pinaudience.engine.sync import sync_async
from pinaudience.errors import PinaudienceError
from pinaudience.pinterest import limits
from pinaudience.pinterest.retry import RetryPolicy
from pinaudience.pinterest.token_store import FileTokenStore
from pinaudience.pinterest.tokens import TokenSet
from pinaudience.state import ListRef, StateStore
from tests.emulator_admin import EmulatorAdmin
from tests.helpers import API_BASE, emails, expected_members

CANARY_APP_ID = "1000777"
CANARY_APP_SECRET = "canary-app-secret-7f3a9c"
CANARY_ACCESS_TOKEN = "pina_canary-access-5be21d"
CANARY_REFRESH_TOKEN = "pinr_canary-refresh-c0ffee"
CANARY_DOMAIN = "canary-mail.test"
CANARY_LOCAL = "canary.person"

UPDATE = "customer_lists/update"
CREATE_LIST = "customer_lists/create"
CREATE_AUDIENCE = "audiences/create"
PINTEREST_OPERATIONS = tuple(op for op in limits.OPERATIONS if op != "oauth/token")
"""Every Pinterest operation the engine calls with a bearer token (the token endpoint is faulted apart)."""


def canary_emails(n: int, start: int = 0) -> list[str]:
    """`n` addresses on the canary domain, which must never show outside the input file."""
    return emails(n, start, local=CANARY_LOCAL, domain=CANARY_DOMAIN)


def install_canaries(emulator: Emulator) -> None:
    """The canary app (owned by the seed user, who owns the seed ad account) and its canary token pair."""
    emulator.store.add_app(CANARY_APP_ID, CANARY_APP_SECRET, SEED_USER)
    emulator.store.create_token_pair(
        user=SEED_USER,
        app_id=CANARY_APP_ID,
        scopes=SEED_SCOPES,
        now=emulator.now(),
        access_ttl_s=limits.ACCESS_TOKEN_TTL_S,
        refresh_ttl_s=limits.REFRESH_TOKEN_TTL_S,
        access_token=CANARY_ACCESS_TOKEN,
        refresh_token=CANARY_REFRESH_TOKEN,
    )


# --- the wire --------------------------------------------------------------------------------------


def operation_of(request: httpx.Request) -> str | None:
    """The Pinterest operation id of a request the engine sends (the few the wire faults need)."""
    path = request.url.path
    if request.method == "PATCH" and "/customer_lists/" in path:
        return UPDATE
    if request.method == "POST" and path.endswith("/customer_lists"):
        return CREATE_LIST
    if request.method == "POST" and path.endswith("/audiences"):
        return CREATE_AUDIENCE
    if path.endswith("/oauth/token"):
        return "oauth/token"
    return None


def _record_count(request: httpx.Request) -> int:
    try:
        body = json.loads(request.content)
    except ValueError:
        return 0
    records = body.get("records") if isinstance(body, dict) else None
    return len([r for r in records.split(",") if r]) if isinstance(records, str) else 0


class WireTransport(httpx.AsyncBaseTransport):
    """The emulator's transport, remembering every secret on the wire, and timing out chosen calls.

    `timeouts` names (operation, call number) pairs whose answer comes later than the client waits:
    the emulator applies the request, the clock moves on by the client's timeout, and the client gets
    `httpx.ReadTimeout` (what a slow answer looks like to it). Calls are counted per operation.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: FakeClock) -> None:
        self.inner = inner
        self.clock = clock
        self.secrets: set[str] = set()
        self.timeouts: set[tuple[str, int]] = set()
        self.timeout_s = 60.0
        self.calls: Counter[str] = Counter()
        self.timed_out = 0
        self.lost_records = 0
        """Records carried by writes whose answer timed out (applied, but the client never learnt it)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._remember_credentials(request)
        operation = operation_of(request)
        if operation is not None:
            self.calls[operation] += 1
        response = await self.inner.handle_async_request(request)
        if operation is not None and (operation, self.calls[operation]) in self.timeouts:
            await response.aread()
            await self.clock.sleep(self.timeout_s)
            self.timed_out += 1
            self.lost_records += _record_count(request)
            raise httpx.ReadTimeout("timed out waiting for the answer", request=request)
        if operation == "oauth/token":
            body = await response.aread()
            self._remember_issued(body)
            return httpx.Response(response.status_code, headers=response.headers, content=body)
        return response

    def _remember_credentials(self, request: httpx.Request) -> None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value:
            self.secrets.add(value)
        elif scheme.lower() == "basic" and value:
            _, _, secret = base64.b64decode(value).decode().partition(":")
            self.secrets.add(secret)
        if operation_of(request) == "oauth/token":
            refresh = httpx.QueryParams(request.content.decode()).get("refresh_token")
            if refresh:
                self.secrets.add(refresh)

    def _remember_issued(self, body: bytes) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            return
        if isinstance(data, dict):
            for key in ("access_token", "refresh_token"):
                if isinstance(data.get(key), str):
                    self.secrets.add(data[key])


# --- the emulator's admin view ---------------------------------------------------------------------


class Admin(EmulatorAdmin):
    """The shared admin helpers, plus what the reliability tests add: a fresh login, a clean slate per change."""

    async def clear_sends(self) -> None:
        """Forget send counts and the request log, so the next change is counted on its own."""
        await super().clear_sends()
        await self.clear_requests()

    async def new_tokens(self, app_id: str = CANARY_APP_ID) -> dict[str, Any]:
        """A new token pair for the seed user, as a new `auth login` would obtain."""
        return await self.tokens(SEED_USER, app_id=app_id)


# --- the harness -----------------------------------------------------------------------------------


@dataclass
class Harness:
    """One test's engine, emulator, clock, directories, and everything the runs produced."""

    tmp_path: Path
    emulator: Emulator
    clock: FakeClock
    admin: Admin
    wire: WireTransport
    reports: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[BaseException] = field(default_factory=list)
    runs: int = 0
    uncertain_records: int = 0
    """Records the runs since the counts were cleared found uncertain (journaled, outcome never learnt)."""

    @property
    def state_dir(self) -> Path:
        return self.tmp_path / "state"

    @property
    def token_store(self) -> Path:
        return self.tmp_path / "tokens" / "pinaudience-tokens.json"

    @property
    def inputs(self) -> Path:
        folder = self.tmp_path / "inputs"
        folder.mkdir(exist_ok=True)
        return folder

    def settings(
        self, input_file: Path, *, auth: str = "refresh", pinterest: dict[str, Any] | None = None, **audience: Any
    ) -> Settings:
        """Settings with canary credentials: `refresh` (refresh token, app id and secret, a token store), `static`
        (the canary access token alone), or another access token to use alone."""
        if auth == "refresh":
            credentials = Credentials(
                access_token=Secret(CANARY_ACCESS_TOKEN),
                refresh_token=Secret(CANARY_REFRESH_TOKEN),
                app_id=CANARY_APP_ID,
                app_secret=Secret(CANARY_APP_SECRET),
                token_store=self.token_store,
            )
        else:
            credentials = Credentials(access_token=Secret(auth if auth != "static" else CANARY_ACCESS_TOKEN))
        connection = PinterestSettings(
            ad_account_id=SEED_AD_ACCOUNT_ID, credentials=credentials, api_base=API_BASE, **(pinterest or {})
        )
        values: dict[str, Any] = {"list_name": "Canary customers", "batch_size": 50}
        values.update(audience)
        return Settings(
            pinterest=connection, audiences=(AudienceSettings(input=input_file, **values),), state_dir=self.state_dir
        )

    async def run(
        self, settings: Settings, *, store: StateStore | None = None, observer: SyncObserver | None = None
    ) -> RunReport | None:
        """One run; a PinaudienceError that ends the whole run is kept (and None returned), a bug propagates."""
        self.runs += 1
        retry = RetryPolicy.from_settings(settings.pinterest, self.clock, rng=random.Random(self.runs))
        try:
            run = await sync_async(
                settings, transport=self.wire, clock=self.clock, store=store, observer=observer, retry=retry
            )
        except PinaudienceError as exc:
            self.exceptions.append(exc)
            return None
        self.reports.append(run.to_dict())
        self.uncertain_records += sum(report.uncertain_before for report in run.audiences)
        return run

    async def run_one(self, settings: Settings, **kwargs: Any) -> AudienceReport:
        run = await self.run(settings, **kwargs)
        assert run is not None, self.exceptions[-1]
        (report,) = run.audiences
        return report

    async def converge(
        self, settings: Settings, *, allowed: Iterable[str] = (), max_runs: int = 5
    ) -> list[AudienceReport]:
        """Run until a run succeeds; every failed run must end in one of the `allowed` error kinds."""
        allowed = set(allowed)
        reports: list[AudienceReport] = []
        for _ in range(max_runs):
            report = await self.run_one(settings)
            reports.append(report)
            if report.status == "ok":
                return reports
            assert report.error is not None
            assert report.error.kind in allowed, f"{report.error.kind}: {report.error.message}"
        raise AssertionError(f"no run succeeded in {max_runs}: {[r.error for r in reports]}")

    def login_again(self, tokens: dict[str, Any], *, app_id: str = CANARY_APP_ID) -> None:
        """Write a new pair into the token store, as `pinaudience auth login` does."""
        pair = TokenSet.from_token_response(tokens, now=self.clock.now(), app_id=app_id)
        FileTokenStore(self.token_store).save(pair)

    def current_refresh_token(self) -> str:
        """The refresh token the engine would use next: the token store's, else the configured canary."""
        stored = FileTokenStore(self.token_store).load()
        if stored is not None and stored.refresh_token is not None:
            return stored.refresh_token.reveal()
        return CANARY_REFRESH_TOKEN

    # --- checks ------------------------------------------------------------------------------------

    async def assert_exact(self, customer_list_id: str, people: Iterable[str]) -> None:
        """The emulator's membership is exactly the desired set, and the state agrees with nothing uncertain."""
        members = await self.admin.records(customer_list_id)
        assert members == expected_members(people)
        confirmed, uncertain = self.membership(customer_list_id)
        assert uncertain == []
        assert confirmed == members

    async def assert_consistent(self, customer_list_id: str) -> None:
        """The state never claims what Pinterest does not hold, nor misses what it does, outside the uncertain."""
        members = set(await self.admin.records(customer_list_id))
        confirmed, uncertain = self.membership(customer_list_id)
        disagree = members.symmetric_difference(confirmed)
        assert disagree <= set(uncertain), f"{len(disagree - set(uncertain))} records disagree outside the uncertain"

    def membership(self, customer_list_id: str) -> tuple[list[str], list[str]]:
        with StateStore(self.state_dir, clock=self.clock) as store:
            info = store.find_list(ListRef(API_BASE, SEED_AD_ACCOUNT_ID, customer_list_id))
            if info is None:
                return [], []
            with store.open_list(info.ref).membership() as membership:
                return sorted(membership.confirmed.to_list()), sorted(membership.uncertain.to_list())

    async def clear_sends(self) -> None:
        """Start counting sends (and lost answers) afresh: the next change is measured on its own."""
        await self.admin.clear_sends()
        self.wire.lost_records = 0
        self.wire.timed_out = 0
        self.uncertain_records = 0

    async def lost_writes(self) -> int:
        """Writes applied but unanswered since the counts were cleared."""
        dropped = sum(1 for r in await self.admin.writes() if r["fault"] == "drop_after")
        return dropped + self.wire.timed_out

    async def lost_records(self) -> int:
        """Records of writes applied but unanswered since the counts were cleared (dropped after, timed out)."""
        dropped: int = sum(r["records"] for r in await self.admin.writes() if r["fault"] == "drop_after")
        return dropped + self.wire.lost_records

    async def assert_sends(
        self, customer_list_id: str, *, added: Iterable[str], removed: Iterable[str], most: int | None = 2
    ) -> None:
        """Since the counts were cleared: exactly these records were added and removed, none more than `most`
        times, and every send beyond the first was the resend of a write whose answer was lost, or of a
        batch the state journaled but could not mark acknowledged (uncertain to the next run)."""
        sends = await self.admin.sends(customer_list_id)
        if most is not None:
            for operation, histogram in sends.items():
                assert all(int(times) <= most for times in histogram), f"{operation} sent too often: {histogram}"
        changed = len(set(added)) + len(set(removed))
        assert sum(sends["ADD"].values()) == len(set(added))
        assert sum(sends["REMOVE"].values()) == len(set(removed))
        total = sum(int(times) * count for histogram in sends.values() for times, count in histogram.items())
        assert total <= changed + await self.lost_records() + self.uncertain_records

    async def assert_one_list_and_audience(self, customer_list_id: str, settings: Settings) -> None:
        """One list and one audience on it. While Pinterest matches a list (`processing_delay_s`), a sync leaves the
        audience pending and a run after matching creates it: that run is made here, and must send nothing."""
        if not await self.admin.audiences() and self.emulator.settings.processing_delay_s > 0:
            self.emulator.advance(self.emulator.settings.processing_delay_s + 1)
            settled = await self.run_one(settings)
            assert (settled.status, settled.added, settled.removed) == ("ok", 0, 0), settled.error
            assert settled.audience_created
        (only,) = await self.admin.lists()
        assert only["id"] == customer_list_id
        (audience,) = await self.admin.audiences()
        assert audience["rule"]["customer_list_id"] == customer_list_id


# --- secrets ---------------------------------------------------------------------------------------

TOKEN_STORE_MODE = 0o600


def exception_text(exc: BaseException) -> str:
    return "".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def log_text(records: Iterable[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


def _parquet_text(data: bytes) -> str:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except pl.exceptions.PolarsError:
        return ""
    parts: list[str] = []
    for column in frame.columns:
        series = frame.get_column(column)
        if series.dtype == pl.Binary:
            parts.extend(value.hex() for value in series.drop_nulls().to_list())
        else:
            parts.extend(str(value) for value in series.drop_nulls().to_list())
    return "\n".join(parts)


def _sqlite_text(path: Path) -> str:
    """Every value of every table, blobs of Parquet decoded (so compressed records are searched too)."""
    parts: list[str] = []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from sqlite_master
                for value in row:
                    if isinstance(value, bytes):
                        parts.append(_parquet_text(value) if value.startswith(b"PAR1") else value.hex())
                    else:
                        parts.append(str(value))
    finally:
        db.close()
    return "\n".join(parts)


def file_texts(path: Path) -> str:
    """What a file says: its raw bytes, and its decoded contents for Parquet files and SQLite databases."""
    raw = path.read_bytes()
    texts = [raw.decode("latin-1")]
    if raw.startswith(b"PAR1"):
        texts.append(_parquet_text(raw))
    if raw.startswith(b"SQLite format 3\x00"):
        texts.append(_sqlite_text(path))
    return "\n".join(texts)


@dataclass
class Leak:
    where: str
    what: str


def find_leaks(
    harness: Harness,
    logs: Iterable[logging.LogRecord],
    *,
    people: Iterable[str] = (),
    extra_secrets: Iterable[str] = (),
) -> list[Leak]:
    """Every place a secret, a raw canary email or (outside the state) a full record hash turned up."""
    secrets = {CANARY_APP_SECRET, CANARY_ACCESS_TOKEN, CANARY_REFRESH_TOKEN, *harness.wire.secrets, *extra_secrets}
    secrets = {s for s in secrets if len(s) >= 8}
    hashes = set(expected_members(people))
    raw = [CANARY_DOMAIN, CANARY_LOCAL]
    leaks: list[Leak] = []

    def look(where: str, text: str, *, allow_secrets: bool = False, allow_hashes: bool = False) -> None:
        lowered = text.lower()
        if any(needle in lowered for needle in raw):
            leaks.append(Leak(where, "a canary email"))
        if not allow_secrets:
            leaks.extend(Leak(where, f"a secret ({s[:6]}...)") for s in secrets if s in text)
        if not allow_hashes and hashes:
            found = set(re.findall(r"[0-9a-f]{64}", lowered)) & hashes
            if found:
                leaks.append(Leak(where, f"{len(found)} full record hashes"))

    look("logs", log_text(logs))
    for index, report in enumerate(harness.reports):
        look(f"report {index}", json.dumps(report))
    for exc in harness.exceptions:
        look(f"exception {type(exc).__name__}", exception_text(exc))
    inputs = harness.inputs.resolve()
    for path in sorted(harness.tmp_path.rglob("*")):
        if not path.is_file() or inputs in path.resolve().parents:
            continue
        in_token_store = path.resolve() == harness.token_store.resolve()
        look(str(path.relative_to(harness.tmp_path)), file_texts(path), allow_secrets=in_token_store, allow_hashes=True)
    return leaks


def assert_no_leaks(harness: Harness, logs: Iterable[logging.LogRecord], **kwargs: Any) -> None:
    leaks = find_leaks(harness, logs, **kwargs)
    assert not leaks, "\n".join(f"{leak.where}: {leak.what}" for leak in leaks)
    store = harness.token_store
    if store.exists():
        assert stat.S_IMODE(store.stat().st_mode) == TOKEN_STORE_MODE
