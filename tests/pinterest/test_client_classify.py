"""`classify`: one table from Pinterest answers to error kinds, and the helpers around it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pinaudience.pinterest.errors import classify, is_retriable, retry_delay_hint

ACCOUNT = "549755885175"
URL = f"https://api.pinterest.com/v5/ad_accounts/{ACCOUNT}/customer_lists/42"


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None, url: str = URL) -> httpx.Response:
    request = httpx.Request("PATCH", url)
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


TABLE = [
    # status, body, kind (None: success), retriable
    (200, {"id": "1"}, None, False),
    (201, {"id": "1"}, None, False),
    (204, None, None, False),
    (400, {"code": 1, "message": "Invalid parameters: records"}, "invalid_request", False),
    (400, {"code": 4196, "message": "Invalid request"}, "invalid_request", False),
    (413, "<html>Request Entity Too Large</html>", "invalid_request", False),
    (401, {"code": 2, "message": "Authentication failed."}, "authorization_error", False),
    (401, {"code": 3, "message": "Missing scopes"}, "authorization_error", False),
    (401, {"code": 29, "message": "You are not permitted to access that resource."}, "insufficient_permissions", False),
    (403, {"code": 29, "message": "You are not permitted to access that resource."}, "insufficient_permissions", False),
    (403, None, "insufficient_permissions", False),
    (404, {"code": 2501, "message": "Audience not found."}, "not_found", False),
    (409, {"code": 1, "message": "Conflict"}, "invalid_request", False),
    (429, {"code": 8, "message": "Rate limit exceeded."}, "rate_limited", True),
    (500, {"code": 0, "message": "Internal error"}, "pinterest_unavailable", True),
    (502, "<html>Bad gateway</html>", "pinterest_unavailable", True),
    (503, {"code": 4197, "message": "Endpoint ramped down"}, "pinterest_unavailable", True),
    (504, None, "pinterest_unavailable", True),
    (501, None, "pinterest_unavailable", False),
]


@pytest.mark.parametrize(("status", "body", "kind", "retriable"), TABLE)
def test_classify_table(status: int, body: Any, kind: str | None, retriable: bool) -> None:
    """Each answer maps to its kind, keeps status, code and request id, and is retried only where listed."""
    response = answer(status, body, headers={"x-pinterest-rid": "rid-123"})
    error = classify(response, operation="customer_lists/update")
    if kind is None:
        assert error is None
        return
    assert error is not None
    assert error.kind == kind
    assert error.status == status
    assert error.request_id == "rid-123"
    assert error.operation == "customer_lists/update"
    assert error.resolution
    assert is_retriable(error) is retriable
    if isinstance(body, dict):
        assert error.code == body["code"]
        assert error.pinterest_message == body["message"]
        assert body["message"] in error.message
    else:
        assert error.code is None
        assert error.pinterest_message is None


def test_insufficient_permissions_names_the_ad_account() -> None:
    """The resolution says which ad account the user lost access to, read from the request path."""
    error = classify(answer(403, {"code": 29, "message": "You are not permitted to access that resource."}))
    assert error is not None
    assert f"ad account {ACCOUNT}" in error.resolution
    assert "ask an admin of the account to grant access" in error.resolution


def test_explicit_ad_account_wins_over_the_path() -> None:
    """A caller that knows the ad account names it even when the path has none."""
    error = classify(answer(403, None, url="https://api.pinterest.com/v5/oauth/token"), ad_account_id="77")
    assert error is not None
    assert "ad account 77" in error.resolution


def test_pinterest_message_is_redacted() -> None:
    """A message quoting a record or a token never reaches the error."""
    body = {
        "code": 1,
        "message": "bad record Jane.Doe@Example.com near pina_SECRETTOKEN123 and " + "ab" * 32 + " (Bearer pina_other)",
    }
    error = classify(answer(400, body))
    assert error is not None
    text = f"{error} {error.to_dict()}"
    for secret in ("Jane.Doe@Example.com", "pina_SECRETTOKEN123", "ab" * 32, "pina_other"):
        assert secret not in text
    assert "abababab…" in text


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5", "X-RateLimit-Reset": "30"}, 1.5),
        ({"Retry-After": "Thu, 01 Jan 2026 00:00:20 GMT"}, 20.0),
        ({"X-RateLimit-Reset": "12"}, 12.0),
        ({"X-RateLimit-Reset": str(1_767_225_600 + 45)}, 45.0),
        ({"X-RateLimit-Reset": "soon"}, None),
        ({"Retry-After": "-3"}, 0.0),
        ({}, None),
    ],
)
def test_retry_delay_hint(headers: dict[str, str], expected: float | None) -> None:
    """Retry-After (seconds or date) wins, then X-RateLimit-Reset (seconds or Unix time), else nothing."""
    now = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    assert retry_delay_hint(answer(429, {"code": 8, "message": "x"}, headers=headers), now) == expected


@pytest.mark.parametrize(
    ("code", "state", "advice"),
    [(2625, "disapproved", "appeal there"), (2626, "under review", "once Pinterest Ads Manager shows the account")],
)
def test_ad_account_states_have_their_own_resolution(code: int, state: str, advice: str) -> None:
    """403 code 2625 (disapproved) and 2626 (under review) say so, with a resolution of their own."""
    error = classify(answer(403, {"code": code, "message": "Sorry!"}))
    assert error is not None
    assert error.kind == "insufficient_permissions"
    assert f"is {state}" in error.message
    assert advice in error.resolution
    assert f"ad account {ACCOUNT}" in error.resolution
    assert not is_retriable(error)


@pytest.mark.parametrize("status", [413, 502, 504])
def test_a_gateway_page_is_named_by_its_status_never_quoted(status: int) -> None:
    """An HTML body (a gateway's) is classified by the status; the message says it was not JSON and quotes nothing."""
    page = "<html><head><title>Bad</title></head><body>nginx secret-ish text</body></html>"
    error = classify(answer(status, page, headers={"content-type": "text/html; charset=utf-8"}))
    assert error is not None
    assert f"HTTP {status}" in error.message
    assert "was not JSON (text/html)" in error.message
    assert "nginx" not in str(error)
    assert error.code is None


def test_a_413_says_the_body_was_too_large() -> None:
    """A 413 names the refusal and advises a smaller batch, whether the body is JSON or not."""
    for body in ({"code": 1, "message": "Request body too large"}, "<html>413</html>"):
        error = classify(answer(413, body))
        assert error is not None
        assert "refused the request body as too large (413)" in error.message
        assert "batch_size" in error.resolution


def test_errors_with_extra_keys_parse() -> None:
    """Keys beside `code` and `message` (`status`, `host`, `generated_at`, `data`) do not disturb classification."""
    body = {"code": 8, "message": "Rate limited.", "status": "failure", "host": "x", "generated_at": "t", "data": None}
    error = classify(answer(429, body))
    assert error is not None
    assert (error.kind, error.code, error.pinterest_message) == ("rate_limited", 8, "Rate limited.")
