"""Redaction on the way out: the one set of patterns for whatever text leaves the process.

Log lines (`cli/logs.py`) and Pinterest's error messages (`pinterest/errors.py`, and so every error,
report and CLI message built from them) pass through `redact`, which replaces, in this order:

| what                                   | shape                                              | becomes             |
|----------------------------------------|----------------------------------------------------|---------------------|
| the run's known secrets                | their exact text                                   | `***`               |
| an HTTP bearer value                   | `Bearer <anything up to whitespace>`               | `Bearer [redacted]` |
| a Pinterest token                      | `pina`/`pinr`, then `_`, `.` or `-`, then 6+ chars | `[token]`           |
|                                        | `pina`/`pinr` glued to 6+ chars whose first        | `[token]`           |
|                                        | non-lowercase character is a capital or a digit    |                     |
| an email address                       | `local@domain`                                     | `[email]`           |
| a hex digest (32 or more hex digits)   | MD5, SHA-1, SHA-256 and longer                     | its first 8 + `…`   |

Pinterest's access tokens start with `pina` and refresh tokens with `pinr` (API-NOTES.md), followed by
a separator or directly by base64-like text. An English word that merely starts with those letters,
such as pinaudience, is lowercase up to its end or its punctuation, so it stays; pinterest does not
start with `pina` or `pinr` at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TOKEN_CHAR = r"[A-Za-z0-9_\-.~+/=]"  # noqa: S105 - a character class, not a secret
TOKEN = re.compile(rf"\bpin[ar](?:[._\-]{_TOKEN_CHAR}{{6,}}|(?=[a-z]*[A-Z0-9]){_TOKEN_CHAR}{{6,}})")
"""A Pinterest access (`pina`) or refresh (`pinr`) token, with or without a separator after the prefix."""

BEARER = re.compile(r"(?i)\bbearer\s+\S+")
"""An Authorization header's value, whatever the token looks like."""

EMAIL = re.compile(r"[^\s@,;:\"'<>()\[\]]+@[^\s@,;:\"'<>()\[\]]+")
"""Anything around an `@`: an email address, even an invalid one (a record that failed validation)."""

LONG_HEX = re.compile(r"\b([0-9a-fA-F]{8})[0-9a-fA-F]{24,}\b")
"""A full hash (32 or more hex digits), kept as its 8-digit prefix so that an operator can still match it."""

SECRET_MASK = "***"  # noqa: S105 - what a secret is replaced by


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secrets, bearer values, Pinterest tokens, email addresses or full hashes."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, SECRET_MASK)
    text = BEARER.sub("Bearer [redacted]", text)
    text = TOKEN.sub("[token]", text)
    text = EMAIL.sub("[email]", text)
    return LONG_HEX.sub(lambda m: f"{m.group(1)}…", text)


_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:)(?P<password>[^@\s/]*)(?=@)")
"""The password of a URL's user info (`scheme://user:password@host`), up to the last `@` before the host."""


def redact_url(url: str) -> str:
    """A connection URL (`postgresql://user:password@host/db`, `redis://:password@host`) without its password.

    Only the password goes (`***`); user, host, port and database stay, so an operator can tell which server
    was meant. A `password=` query parameter is masked too.
    """
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + (SECRET_MASK if m.group("password") else ""), url)
    return re.sub(r"(?i)([?&]password=)[^&\s]*", rf"\g<1>{SECRET_MASK}", text)


def url_secrets(url: str) -> list[str]:
    """The password of a connection URL, as written and percent-decoded, for a redactor's list of secrets."""
    from urllib.parse import unquote

    match = _URL_PASSWORD.search(url)
    password = match.group("password") if match else ""
    return [text for text in dict.fromkeys((password, unquote(password))) if text]


def with_password(url: str, password: str) -> str:
    """`url` (`scheme://user@host/...`, or `scheme://user:old@host/...`) with `password` as its password."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None:
        raise ValueError("the URL names no user to give the password to")
    host = parts.netloc.rsplit("@", 1)[1]
    user = quote(parts.username, safe="")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))
