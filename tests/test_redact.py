"""`support.redact`: the one set of patterns for logs, errors, reports and the CLI."""

from __future__ import annotations

import pytest

from pinaudience.support.redact import redact, redact_url


def test_redact_keeps_ordinary_text() -> None:
    """Redaction leaves ids, counts and field names alone."""
    text = "list 549755885175 has 12 invalid records in field records"
    assert redact(text) == text


def test_redact_keeps_the_product_name_and_shortens_hashes() -> None:
    """The word pinaudience is not a token; a full SHA-256 keeps only an 8-character prefix."""
    digest = "a" * 64
    assert redact(f"run pinaudience auth login; record {digest}") == "run pinaudience auth login; record aaaaaaaa…"


@pytest.mark.parametrize(
    "text",
    [
        "pinaudience",
        "pinaudience/0.1.0 (the user agent)",
        "pinaudience_state and pinaudience-v2",
        "see pinterest.com and the Pinterest API",
        "pinafore, pinata, pinray",
    ],
)
def test_words_that_start_like_a_token_survive(text: str) -> None:
    """Lowercase words that merely start with pina or pinr, and pinterest itself, are not tokens."""
    assert redact(text) == text


@pytest.mark.parametrize(
    "token",
    [
        "pinrABC123def456",  # no separator: the drift one of the two old versions had
        "pina9zYx_Qw-7",
        "pinr_canary-refresh-c0ffee",
        "pina_0123456789",
        "pinr.eyJhbGciOiJSUzI1NiJ9",
        "pina-AbCdEf012345",
    ],
)
def test_pinterest_tokens_are_removed_with_or_without_separator(token: str) -> None:
    """Access (pina) and refresh (pinr) tokens go, whether a separator follows the prefix or not."""
    assert redact(f"token {token} refused") == "token [token] refused"


def test_bearer_values_are_removed_whatever_the_token_looks_like() -> None:
    """An Authorization header's value goes even when it does not look like a Pinterest token."""
    assert redact("sent Authorization: Bearer abc.DEF-123") == "sent Authorization: Bearer [redacted]"
    assert "pina_other" not in redact("(bearer pina_other)")


def test_emails_are_removed() -> None:
    """Anything around an @, valid or not, becomes [email]."""
    assert redact("bad record Jane.Doe@Example.com, and x@y") == "bad record [email], and [email]"


@pytest.mark.parametrize("length", [32, 40, 64, 128])
def test_hex_digests_keep_an_eight_digit_prefix(length: int) -> None:
    """MD5, SHA-1, SHA-256 and longer hex values keep only their first 8 digits, in either case."""
    digest = ("0123456789abcDEF" * 8)[:length]
    assert redact(f"record {digest} failed") == "record 01234567… failed"


def test_short_hex_and_ids_survive() -> None:
    """Hex shorter than an MD5 (a request id, a short prefix) is not a digest."""
    assert redact("request 0123456789abcdef0123456789abcde") == "request 0123456789abcdef0123456789abcde"


def test_known_secrets_are_masked_first() -> None:
    """The run's secrets go whatever their shape, before the patterns run."""
    assert redact("token s3cret-value and pina_0123456789 refused", ["s3cret-value", ""]) == (
        "token *** and [token] refused"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://pin:s3cr%40t@127.0.0.1:5432/db", "postgresql://pin:***@127.0.0.1:5432/db"),
        ("redis://:canary-pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("postgresql://pin@db.internal/state", "postgresql://pin@db.internal/state"),
        ("postgresql://db/state?sslmode=require&password=canary", "postgresql://db/state?sslmode=require&password=***"),
        ("redis://127.0.0.1", "redis://127.0.0.1"),
    ],
)
def test_redact_url_masks_only_the_password(url: str, expected: str) -> None:
    """A connection URL keeps its user, host, port and database, and loses its password."""
    assert redact_url(url) == expected


def test_url_secrets_are_the_password_as_written_and_decoded() -> None:
    """A URL's password, raw and percent-decoded, for the redactor; nothing for a URL without one."""
    from pinaudience.support.redact import url_secrets

    assert url_secrets("postgresql://u:canary%2Fpw@db:5432/x") == ["canary%2Fpw", "canary/pw"]
    assert url_secrets("postgresql://u:plain@db/x") == ["plain"]
    assert url_secrets("postgresql://u@db/x") == []
    assert url_secrets("") == []
