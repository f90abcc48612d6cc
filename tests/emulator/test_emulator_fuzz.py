"""Generated bad requests to every Pinterest operation the emulator serves: never a 500, always Pinterest's error.

Hypothesis builds requests that are wrong in at least one way (bad or foreign ids, bad or missing tokens,
malformed or non-object bodies, missing fields, fields of the wrong type, bad enums, bad records, too many
records, oversized or deeply nested bodies, unpaired surrogates, bad query parameters, wrong methods), dressed
with noise that is harmless on its own (odd content types, unknown fields and parameters), and sends them in
process. Every answer must be a 4xx with exactly `{"code": int, "message": str}` and an `x-pinterest-rid` (or, for
conversion events of which some failed, the spec's 422 `DetailedError`: `code`, `message` and `details`).
The regression tests at the end pin the emulator bugs these generators found.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pinaudience.clock import FakeClock
from pinaudience.emulator import (
    RID_HEADER,
    SEED_ACCESS_TOKEN,
    SEED_AD_ACCOUNT_ID,
    SEED_APP_ID,
    SEED_APP_SECRET,
    SEED_REFRESH_TOKEN,
    Emulator,
)
from pinaudience.emulator.pinterest_api import AUDIENCE_TYPES, LIST_TYPES
from pinaudience.emulator.records import is_matched
from pinaudience.pinterest.limits import MIN_AUDIENCE_RECORDS, OPERATIONS
from tests.emulator.emulator_helpers import (
    assert_pinterest_error,
    audiences_url,
    conversion_event,
    emails,
    lists_url,
    sha256,
    sha256s,
)
from tests.helpers import emulator_http

MAX_RECORDS = 40
MAX_BODY = 16_000
"""Small ceilings for the fuzzed emulator, so that "too many" and "too large" stay cheap to generate."""

EXAMPLES = 60
"""Examples per operation: about 600 requests in all, a few seconds."""

FOREIGN_ACCOUNT = "111111111"
"""An ad account owned by someone else: the seed user gets 403 there."""

WRITES = {"customer_lists/create", "customer_lists/update", "audiences/create", "audiences/update"}


@dataclass
class Target:
    """The emulator under fuzz, reached through an event loop in another thread, and the objects it holds."""

    portal: BlockingPortal
    client: httpx.AsyncClient
    list_id: str
    small_list_id: str
    audience_id: str
    tokens: dict[str, str] = field(default_factory=dict)
    """Bearer tokens that must be refused: another user's, one without ads scopes."""

    def send(self, bad: Bad) -> httpx.Response:
        return self.portal.call(send, self.client, bad)


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    """A seeded emulator with one list big enough for an audience, one too small, an audience and a foreign account.

    Hypothesis draws inside the tests, which must then be synchronous (a draw can end an example with an
    exception that an async runner would not survive): the emulator runs on a portal's event loop instead.
    """
    emulator = Emulator(clock=FakeClock())
    with start_blocking_portal() as portal:
        client = emulator_http(emulator)
        try:
            yield portal.call(_seed, portal, client, emulator)
        finally:
            portal.call(client.aclose)
    emulator.close()


async def _seed(portal: BlockingPortal, client: httpx.AsyncClient, emulator: Emulator) -> Target:
    matched = [r for r in emails(400, domain="fuzz.example") if is_matched(r, emulator.settings.match_rate)]
    assert len(matched) >= MIN_AUDIENCE_RECORDS
    big = await client.post(lists_url(), json={"name": "fuzz", "records": ",".join(matched)})
    small = await client.post(lists_url(), json={"name": "small", "records": ",".join(emails(3))})
    rule = {"customer_list_id": big.json()["id"]}
    audience = await client.post(audiences_url(), json={"audience_type": "CUSTOMER_LIST", "name": "a", "rule": rule})
    other = {"id": FOREIGN_ACCOUNT, "name": "Someone else's", "owner": "someone-else"}
    assert (await client.post("/_emulator/ad_accounts", json=other)).status_code == 200
    stranger = await client.post("/_emulator/tokens", json={"user": "stranger"})
    no_scope = await client.post("/_emulator/tokens", json={"user": "emulator-user", "scopes": ["pins:read"]})
    limits = {
        "ads_write_per_window": 10**9, "ads_read_per_window": 10**9, "ads_conversions_per_window": 10**9,
        "per_second": 10**9,
        "max_records_per_request": MAX_RECORDS, "max_body_bytes": MAX_BODY,
        # Bad records and large bodies must be refused in Pinterest's JSON shape for this test to hold: both are
        # settings (Pinterest itself accepts bad records, and a gateway may answer a large body with HTML).
        "strict_records": True, "gateway_html": False,
    }  # fmt: skip
    assert (await client.put("/_emulator/settings", json=limits)).status_code == 200
    return Target(
        portal=portal,
        client=client,
        list_id=big.json()["id"],
        small_list_id=small.json()["id"],
        audience_id=audience.json()["id"],
        tokens={"stranger": stranger.json()["access_token"], "no_scope": no_scope.json()["access_token"]},
    )


# --- building blocks ---------------------------------------------------------------------------------------------


@dataclass
class Bad:
    """One request to send, and what makes it bad."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)
    content: bytes | None = None
    faults: list[str] = field(default_factory=list)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
NOT_STRINGS = JSON_VALUES.filter(lambda value: not isinstance(value, str))
"""Wrong types for a required string field (null counts as missing)."""
NOT_STRINGS_OR_NULL = NOT_STRINGS.filter(lambda value: value is not None)
"""Wrong types for an optional string field (null would mean "absent", which is fine)."""
NOT_OBJECTS = JSON_VALUES.filter(lambda value: not isinstance(value, dict))
LONE_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30
)
"""What an HTTP header value can carry (Latin-1, no control characters)."""
NOISE_CONTENT_TYPES = st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/json; charset=latin-1", "application/xml", ""]
)  # fmt: skip
NOISE_PARAMS = st.lists(st.tuples(st.text(max_size=10).map(lambda k: "x_" + k), st.text(max_size=10)), max_size=3)
NOISE_FIELDS = st.dictionaries(st.text(min_size=1, max_size=10).map(lambda k: "x_" + k), JSON_VALUES, max_size=2)


def _segment(value: str) -> str:
    return quote(value, safe="")


def bad_ids(*good: str) -> st.SearchStrategy[str]:
    """Anything but the good ids: unknown ids, too long, not digits, empty, odd characters."""
    return st.one_of(
        st.from_regex(r"[0-9]{1,18}", fullmatch=True),
        st.from_regex(r"[0-9]{19,30}", fullmatch=True),
        st.sampled_from(["", "-1", "1.5", "0x1f", " 12", "12 ", "1e5", "%00", "\u0661\u0662", "null", "../x"]),
        st.text(max_size=30),
    ).filter(lambda value: value not in good and value not in (".", ".."))  # URLs normalise "." and ".." away


@st.composite
def bad_records(draw: st.DrawFn, list_type: str) -> str:
    """A records string for `list_type` with at least one record Pinterest refuses (or none at all)."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(["", ",", " , ,", "\t"]))
    if list_type == "EMAIL":
        wrong = draw(
            st.one_of(
                st.from_regex(r"[A-Z][a-z0-9]{0,8}@example\.com", fullmatch=True),  # not lowercase
                st.text(alphabet="ghijklmnopqrstuvwxyz._-", min_size=1, max_size=20),  # no @, not hex
                st.from_regex(r"[a-z]{1,5} [a-z]{1,5}@example\.com", fullmatch=True),  # whitespace
                st.from_regex(r"[0-9A-F]{64}", fullmatch=True).filter(lambda h: h != h.lower()),  # uppercase hash
            )
        )
        valid = emails(draw(st.integers(0, 5)))
    else:
        wrong = draw(
            st.one_of(st.from_regex(r"[a-z0-9]{1,20}@x\.com", fullmatch=True), st.sampled_from(["abc", "0" * 63]))
        )
        valid = sha256s(draw(st.integers(0, 5)))
    position = draw(st.integers(0, len(valid)))
    return ",".join([*valid[:position], wrong, *valid[position:]])


@st.composite
def body_faults(
    draw: st.DrawFn,
    base: dict[str, Any],
    mutations: dict[str, st.SearchStrategy[Callable[[dict[str, Any]], None]]],
) -> tuple[bytes, list[str]]:
    """A JSON body made bad by one or more named mutations of `base`, or a body that is not a JSON object at all."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "not_object", "not_json", "too_large", "deep"]))
    if kind == "not_object":
        return json.dumps(draw(NOT_OBJECTS)).encode(), [kind]
    if kind == "not_json":
        junk = draw(st.binary(max_size=40))
        # Each is invalid whatever follows; none starts like a BOM or UTF-16, which `json.loads` would honour.
        return draw(st.sampled_from([b"{\x01" + junk, b"\xff\x01" + junk, b'{"name": ' + junk + b"\x01"])), [kind]
    if kind == "too_large":
        return b'{"name": "' + b"x" * (MAX_BODY + draw(st.integers(1, 4000))) + b'"}', [kind]
    if kind == "deep":
        depth = draw(st.integers(1_500, MAX_BODY // 2 - 1))  # deeper than Python's recursion limit, under MAX_BODY
        return b"[" * depth + b"]" * depth, [kind]
    body = json.loads(json.dumps(base))
    names = draw(st.lists(st.sampled_from(sorted(mutations)), min_size=1, max_size=3, unique=True))
    for name in names:
        draw(mutations[name])(body)
    body.update(draw(NOISE_FIELDS))
    return json.dumps(body).encode(), names


def _drop(name: str) -> st.SearchStrategy[Callable[[dict[str, Any]], None]]:
    return st.just(lambda body: body.pop(name, None))


def _set(name: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Callable[[dict[str, Any]], None]]:
    return values.map(lambda value: lambda body: body.__setitem__(name, value))


def _surrogate_in(name: str) -> st.SearchStrategy[Callable[[dict[str, Any]], None]]:
    return LONE_SURROGATE.map(lambda char: lambda body: body.__setitem__(name, f"{body.get(name, '')}{char}x"))


def bad_enum(allowed: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=15), st.sampled_from([a.lower() for a in allowed] + ["REPLACE", " ADD"])).filter(
        lambda value: value not in allowed
    )


# --- one strategy per operation ----------------------------------------------------------------------------------


def _auth_faults(operation: str, target: Target) -> st.SearchStrategy[tuple[dict[str, str], str]]:
    headers = [
        ({}, "no token"),
        ({"Authorization": "Bearer"}, "empty bearer"),
        ({"Authorization": f"Basic {SEED_ACCESS_TOKEN}"}, "wrong scheme"),
        ({"Authorization": f"Bearer {SEED_REFRESH_TOKEN}"}, "refresh token as bearer"),
        ({"Authorization": f"Bearer {target.tokens['stranger']}"}, "no access to the account"),
        ({"Authorization": f"Bearer {target.tokens['no_scope']}"}, "no ads scope"),
    ]
    unknown = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30).map(
        lambda token: ({"Authorization": f"Bearer pina_unknown{token}"}, "unknown token")
    )
    return st.one_of(st.sampled_from(headers), unknown)


@st.composite
def bad_request(draw: st.DrawFn, operation: str, target: Target) -> Bad:
    """A request for `operation` that is wrong in at least one way."""
    if operation == "oauth/token":
        return draw(bad_token_request())
    op = OPERATIONS[operation]
    ids = {"ad_account_id": SEED_AD_ACCOUNT_ID, "customer_list_id": target.list_id, "audience_id": target.audience_id}
    faults: list[str] = []
    kinds = ["auth", "method"]
    slots = [name for name in ids if "{" + name + "}" in op.path]
    kinds += ["id"] * len(slots)
    if op.method in ("POST", "PATCH"):
        kinds += ["body"] * 4
    if operation.endswith("/list"):
        kinds += ["query"] * 3
    chosen = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=2, unique=True))

    method = op.method
    headers: dict[str, str] = {}
    params: list[tuple[str, str]] = draw(NOISE_PARAMS) if "query" not in chosen else []
    content: bytes | None = None
    if "auth" in chosen:
        headers, fault = draw(_auth_faults(operation, target))
        faults.append(fault)
    else:
        headers = {"Authorization": f"Bearer {SEED_ACCESS_TOKEN}"}
    if "method" in chosen:
        method = draw(st.sampled_from(["PUT", "DELETE", "OPTIONS", "TRACE"]))
        faults.append(f"method {method}")
    if "id" in chosen:
        slot = draw(st.sampled_from(slots))
        wrong = {
            "ad_account_id": st.just(FOREIGN_ACCOUNT) | bad_ids(SEED_AD_ACCOUNT_ID),
            "customer_list_id": bad_ids(target.list_id, target.small_list_id),
            "audience_id": bad_ids(target.audience_id),
        }
        ids = {**ids, slot: draw(wrong[slot])}
        faults.append(f"bad {slot}")
    if "query" in chosen:
        params, fault = draw(bad_list_query(operation))
        faults.append(fault)
    if op.method in ("POST", "PATCH"):
        if "body" in chosen:
            content, names = draw(body_faults(*_body_rules(operation, target)))
            faults.extend(names)
        else:
            content = json.dumps(_body_rules(operation, target)[0]).encode()
    if content is not None:
        headers["Content-Type"] = draw(NOISE_CONTENT_TYPES)
    path = "/v5" + op.path.format(**{name: _segment(value) for name, value in ids.items()})
    return Bad(method=method, path=path, headers=headers, params=params, content=content, faults=faults)


@st.composite
def bad_list_query(draw: st.DrawFn, operation: str) -> tuple[list[tuple[str, str]], str]:
    choices = {
        "page_size": st.one_of(
            st.integers(-5, 0).map(str), st.integers(251, 10**6).map(str),
            st.sampled_from(["", "abc", "1.5", "²", "\u0661", " 5", "9" * 5000, "+5", "0x10"]),
        ),
        "order": bad_enum(("ASCENDING", "DESCENDING")),
        "bookmark": st.one_of(
            st.text(min_size=1, max_size=40),
            st.sampled_from(["DESCENDING:1", "ASCENDING:", "ASCENDING:x", "ASCENDING:" + "1" * 19]).map(
                lambda text: base64.urlsafe_b64encode(text.encode()).decode()
            ),
        ),
    }  # fmt: skip
    if operation == "audiences/list":
        choices["ownership_type"] = bad_enum(("OWNED", "RECEIVED"))
    name = draw(st.sampled_from(sorted(choices)))
    return [(name, draw(choices[name])), *draw(NOISE_PARAMS)], f"bad {name}"


def _body_rules(
    operation: str, target: Target
) -> tuple[dict[str, Any], dict[str, st.SearchStrategy[Callable[[dict[str, Any]], None]]]]:
    """The well-formed body of a write, and the mutations each of which alone makes it bad."""
    if operation == "customer_lists/create":
        base: dict[str, Any] = {"name": "fuzzed", "records": ",".join(emails(3)), "list_type": "EMAIL"}

        def with_bad_records(list_type: str) -> st.SearchStrategy[Callable[[dict[str, Any]], None]]:
            return bad_records(list_type).map(
                lambda records: lambda body: body.update(list_type=list_type, records=records)
            )

        return base, {
            "no name": _drop("name"),
            "no records": _drop("records"),
            "name type": _set("name", NOT_STRINGS),
            "blank name": _set("name", st.sampled_from(["", " ", "\t\n"])),
            "records type": _set("records", NOT_STRINGS),
            "list_type type": _set("list_type", NOT_STRINGS),
            "list_type enum": _set("list_type", bad_enum(LIST_TYPES)),
            "bad records": st.sampled_from(["EMAIL", "MAID", "IDFA"]).flatmap(with_bad_records),
            "too many records": _set("records", st.integers(MAX_RECORDS + 1, 3 * MAX_RECORDS).map(
                lambda n: ",".join(emails(n)))),
            "surrogate in name": _surrogate_in("name"),
            "surrogate in records": _surrogate_in("records"),
        }  # fmt: skip
    if operation == "customer_lists/update":
        base = {"operation_type": "ADD", "records": ",".join(emails(3))}
        return base, {
            "no operation_type": _drop("operation_type"),
            "no records": _drop("records"),
            "operation_type type": _set("operation_type", NOT_STRINGS),
            "operation_type enum": _set("operation_type", bad_enum(("ADD", "REMOVE"))),
            "records type": _set("records", NOT_STRINGS),
            "bad records": _set("records", bad_records("EMAIL")),
            "too many records": _set("records", st.integers(MAX_RECORDS + 1, 3 * MAX_RECORDS).map(
                lambda n: ",".join(emails(n)))),
            "surrogate in records": _surrogate_in("records"),
        }  # fmt: skip
    if operation == "audiences/create":
        base = {
            "audience_type": "CUSTOMER_LIST", "name": "fuzzed", "description": "d",
            "rule": {"customer_list_id": target.list_id},
        }  # fmt: skip
        bad_list_ids = st.one_of(NOT_STRINGS, bad_ids(target.list_id), st.just(target.small_list_id))
        return base, {
            "no audience_type": _drop("audience_type"),
            "no name": _drop("name"),
            "no rule": _drop("rule"),
            "audience_type type": _set("audience_type", NOT_STRINGS),
            "audience_type enum": _set("audience_type", bad_enum(AUDIENCE_TYPES)),
            "audience_type unsupported": _set("audience_type", st.sampled_from(AUDIENCE_TYPES[1:])),
            "name type": _set("name", NOT_STRINGS),
            "blank name": _set("name", st.sampled_from(["", "  "])),
            "description type": _set("description", NOT_STRINGS_OR_NULL),
            "rule type": _set("rule", NOT_OBJECTS),
            "rule list": _set("rule", bad_list_ids.map(lambda list_id: {"customer_list_id": list_id})),
            "surrogate in name": _surrogate_in("name"),
        }  # fmt: skip
    if operation == "audiences/update":
        base = {"operation_type": "UPDATE", "name": "renamed"}
        other_list = st.one_of(NOT_STRINGS_OR_NULL, bad_ids(target.list_id))
        return base, {
            "operation_type type": _set("operation_type", NOT_STRINGS),
            "operation_type enum": _set("operation_type", bad_enum(("UPDATE", "REMOVE"))),
            "name type": _set("name", NOT_STRINGS_OR_NULL),
            "blank name": _set("name", st.sampled_from(["", " "])),
            "description type": _set("description", NOT_STRINGS_OR_NULL),
            "rule type": _set("rule", NOT_OBJECTS.filter(lambda value: value is not None)),
            "rule list changed": _set("rule", other_list.map(lambda list_id: {"customer_list_id": list_id})),
            "surrogate in description": _surrogate_in("description"),
        }  # fmt: skip
    if operation == "events/create":
        base = {"data": [conversion_event(0), conversion_event(1)]}

        def in_event(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
            """`change` applied to the last event, when an earlier mutation left one."""

            def apply(body: dict[str, Any]) -> None:
                events = body.get("data")
                if isinstance(events, list) and events and isinstance(events[-1], dict):
                    change(events[-1])

            return apply

        def event_set(name: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Callable[[dict[str, Any]], None]]:
            return _set(name, values).map(in_event)

        required = ("event_name", "action_source", "event_time", "event_id", "user_data")
        return base, {
            "no data": _drop("data"),
            "no events": _set("data", st.just([])),
            "data type": _set("data", NOT_OBJECTS.filter(lambda value: not isinstance(value, list))),
            "event type": _set("data", NOT_OBJECTS.filter(lambda value: value is not None).map(lambda value: [value])),
            "missing field": st.sampled_from(required).map(lambda name: in_event(lambda event: event.pop(name, None))),
            "event_time type": event_set("event_time", JSON_VALUES.filter(
                lambda value: not isinstance(value, int) or isinstance(value, bool))),
            "event_id type": event_set("event_id", NOT_STRINGS),
            "event_name unlisted": event_set("event_name", bad_enum(("checkout", "lead", "signup"))),
            "user_data type": event_set("user_data", NOT_OBJECTS),
            "user_data without ids": event_set("user_data", st.just({"ph": [sha256("1")]})),
            "plain em": event_set("user_data", st.from_regex(r"[a-z]{1,8}@example\.com", fullmatch=True).map(
                lambda email: {"em": [email]})),
            "custom_data field": event_set("custom_data", st.text(min_size=1, max_size=9).map(lambda k: {"x_" + k: 1})),
            "surrogate in event_id": LONE_SURROGATE.map(
                lambda char: in_event(lambda event: event.__setitem__("event_id", f"x{char}"))),
        }  # fmt: skip
    raise AssertionError(f"no body rules for {operation}")


@st.composite
def bad_token_request(draw: st.DrawFn) -> Bad:
    """`POST /v5/oauth/token` with bad client credentials, or good ones and a bad grant."""
    good_basic = "Basic " + base64.b64encode(f"{SEED_APP_ID}:{SEED_APP_SECRET}".encode()).decode()
    form: dict[str, str] = {}
    faults: list[str] = []
    kind = draw(st.sampled_from(["client", "grant_type", "code", "refresh", "scope", "body"]))
    basic = good_basic
    if kind == "client":
        basic = draw(
            st.one_of(
                st.sampled_from(["", "Basic", "Bearer x", f"Basic {SEED_APP_ID}:{SEED_APP_SECRET}", "Basic é"]),
                HEADER_TEXT.map(lambda text: "Basic " + text),
                st.text(max_size=20)
                .map(lambda secret: "Basic " + base64.b64encode(f"{SEED_APP_ID}:{secret}".encode()).decode())
                .filter(lambda header: header != good_basic),
            )
        )
        form = {"grant_type": "client_credentials", "scope": "ads:read"}
    elif kind == "grant_type":
        form = {"grant_type": draw(bad_enum(("authorization_code", "refresh_token", "client_credentials")))}
    elif kind == "code":
        form = {"grant_type": "authorization_code"}
        form.update(draw(st.fixed_dictionaries({}, optional={"code": st.text(max_size=20),
                                                              "redirect_uri": st.text(max_size=20)})))  # fmt: skip
    elif kind == "refresh":
        form = {"grant_type": "refresh_token"}
        form.update(draw(st.fixed_dictionaries({}, optional={"refresh_token": st.text(max_size=30).map(
            lambda text: "pinr_unknown" + text)})))  # fmt: skip
    elif kind == "scope":
        form = {"grant_type": "client_credentials"}
        form.update(draw(st.fixed_dictionaries({}, optional={"scope": st.text(max_size=20).map(
            lambda text: "ads:read,bogus:" + text)})))  # fmt: skip
    faults.append(kind)
    content = draw(st.sampled_from(["form", "form", "not_utf8", "too_large"])) if kind == "body" else "form"
    if kind == "body":
        form = {"grant_type": "client_credentials"}
    if content == "not_utf8":
        body = b"grant_type=\xff\xfe" + draw(st.binary(max_size=20))
    elif content == "too_large":
        body = b"grant_type=client_credentials&scope=" + b"x" * (MAX_BODY + draw(st.integers(1, 2000)))
    else:
        extra = draw(st.dictionaries(st.sampled_from(["x", "state"]), st.text(max_size=5)))
        body = str(httpx.QueryParams({**form, **extra})).encode()
    headers = {"Content-Type": draw(NOISE_CONTENT_TYPES)}
    if basic:
        headers["Authorization"] = basic
    return Bad(method="POST", path="/v5/oauth/token", headers=headers, content=body, faults=faults)


# --- the properties ----------------------------------------------------------------------------------------------


def assert_pinterest_refusal(response: httpx.Response, bad: Bad) -> None:
    """A 4xx with Pinterest's error body and a request id."""
    context = f"{bad.method} {bad.path} {bad.faults}: {response.status_code} {response.text[:200]}"
    assert 400 <= response.status_code < 500, context
    body = response.json()
    detailed = response.status_code == 422 and bad.path.endswith("/events")
    assert set(body) == ({"code", "message", "details"} if detailed else {"code", "message"}), context
    assert isinstance(body["code"], int), context
    assert not isinstance(body["code"], bool), context
    assert isinstance(body["message"], str), context
    assert body["message"], context
    assert response.headers.get(RID_HEADER), context


async def send(client: httpx.AsyncClient, bad: Bad) -> httpx.Response:
    headers = {name.encode("latin-1"): value.encode("latin-1") for name, value in bad.headers.items()}
    request = client.build_request(bad.method, bad.path, params=tuple(bad.params), content=bad.content, headers=headers)
    if "Authorization" not in bad.headers:
        request.headers.pop("Authorization", None)  # the client's default: the seed token
    return await client.send(request)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@FUZZ
@given(data=st.data())
def test_bad_requests_get_pinterest_errors(target: Target, operation: str, data: st.DataObject) -> None:
    """Whatever is wrong with a request, the answer is a 4xx with Pinterest's error body, never a 500."""
    bad = data.draw(bad_request(operation, target), label="request")
    assert_pinterest_refusal(target.send(bad), bad)


@FUZZ
@given(data=st.data())
def test_content_type_alone_never_breaks_a_request(target: Target, data: st.DataObject) -> None:
    """A valid JSON body under any content type is served or refused in Pinterest's shape, never a 500."""
    operation = data.draw(st.sampled_from(sorted(WRITES)))
    op = OPERATIONS[operation]
    path = "/v5" + op.path.format(
        ad_account_id=SEED_AD_ACCOUNT_ID, customer_list_id=target.list_id, audience_id=target.audience_id
    )
    body, _ = _body_rules(operation, target)
    if operation == "customer_lists/update":
        body = {**body, "operation_type": "REMOVE", "records": "absent@fuzz.example"}
    content_type = data.draw(NOISE_CONTENT_TYPES | HEADER_TEXT)
    bad = Bad(op.method, path, {"Authorization": f"Bearer {SEED_ACCESS_TOKEN}", "Content-Type": content_type},
              content=json.dumps(body).encode())  # fmt: skip
    response = target.send(bad)
    assert response.status_code < 500
    assert response.headers.get(RID_HEADER)
    if response.status_code >= 400:
        assert set(response.json()) == {"code", "message"}


# --- regressions found by the generators above -------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.anyio
async def test_deeply_nested_json_is_a_400(emulator_client: httpx.AsyncClient, depth: int) -> None:
    """JSON nested deeper than Python's recursion limit is refused as a bad body (it was a 500)."""
    response = await emulator_client.post(lists_url(), content=b"[" * depth + b"]" * depth)
    assert_pinterest_error(response, 400, 1)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "\\ud800", "records": "a@example.com"}',
        b'{"name": "x", "records": "a\\udc00@example.com"}',
        b'{"name": "x", "records": "\xed\xa0\x80@example.com"}',
    ],
)
@pytest.mark.anyio
async def test_unpaired_surrogates_are_a_400(emulator_client: httpx.AsyncClient, raw: bytes) -> None:
    """A string that cannot be UTF-8 is refused as a bad body (it was a 500 from SQLite or the JSON answer)."""
    response = await emulator_client.post(lists_url(), content=raw)
    assert_pinterest_error(response, 400, 1)
    assert (await emulator_client.get(lists_url())).json()["items"] == []


@pytest.mark.anyio
async def test_paired_surrogates_still_make_one_character(emulator_client: httpx.AsyncClient) -> None:
    """An escaped surrogate pair is one valid character, and a list may be named with it."""
    response = await emulator_client.post(
        lists_url(), content=b'{"name": "\\ud83d\\ude00", "records": "a@example.com"}'
    )
    assert response.status_code == 200
    assert response.json()["name"] == "\U0001f600"


@pytest.mark.parametrize("page_size", ["²", "\u0661", "9" * 5000])
@pytest.mark.anyio
async def test_page_size_must_be_ascii_digits(emulator_client: httpx.AsyncClient, page_size: str) -> None:
    """Digits `int` cannot read (superscripts, thousands of them) are a bad page_size, not a 500."""
    response = await emulator_client.get(lists_url(), params={"page_size": page_size})
    assert_pinterest_error(response, 400, 1)


@pytest.mark.anyio
async def test_non_ascii_basic_credentials_are_a_401(emulator_client: httpx.AsyncClient) -> None:
    """HTTP Basic credentials that are not ASCII fail authentication (they were a 500)."""
    response = await emulator_client.post(
        "/v5/oauth/token",
        headers={b"Authorization": "Basic é".encode("latin-1")},
        content=b"grant_type=client_credentials&scope=ads:read",
    )
    assert_pinterest_error(response, 401, 2)


@pytest.mark.parametrize("declared", ["²".encode("latin-1"), b"9" * 5000])
@pytest.mark.anyio
async def test_unreadable_content_length_is_no_500(emulator_client: httpx.AsyncClient, declared: bytes) -> None:
    """A Content-Length `int` cannot read is ignored or too large, never a 500."""
    request = emulator_client.build_request("POST", lists_url(), content=b"{}")
    request.headers["Content-Length"] = declared.decode("latin-1")
    response = await emulator_client.send(request)
    assert response.status_code in (400, 413)
    assert set(response.json()) == {"code", "message"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", lists_url() + "/"), ("PATCH", audiences_url() + "/"), ("GET", f"/v5/ad_accounts/{SEED_AD_ACCOUNT_ID}/")],
)
@pytest.mark.anyio
async def test_an_empty_id_is_a_404_not_a_redirect(emulator_client: httpx.AsyncClient, method: str, path: str) -> None:
    """A path with an empty id is not found (it was a 307 to the listing, which a client would misread)."""
    response = await emulator_client.request(method, path, json={"operation_type": "REMOVE"})
    assert_pinterest_error(response, 404)
