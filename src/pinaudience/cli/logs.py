"""Where the library's log records go when the CLI runs: plain lines, JSON lines, or above rich progress bars.

The library only logs (through `logging`, under the `pinaudience` logger); the CLI decides the handler.
Every line passes a redacting filter first: the library never logs a token or an identifier, and this
filter is the second lock on that door (`pinaudience.support.redact`: the run's known secrets, anything
shaped like a bearer value, a Pinterest token, an email address or a full hash).
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, TextIO

from rich.console import Console
from rich.text import Text

from pinaudience.support.redact import redact

ROOT_LOGGER = "pinaudience"


class LogFormat(enum.StrEnum):
    """How log lines look when they are not drawn above progress bars."""

    PLAIN = "plain"
    """`2026-01-01T00:00:00Z INFO sync: VIP customers: reading`"""
    JSON = "json"
    """One JSON object a line: `time`, `level`, `logger`, `message`, and an event's fields."""


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and its structured fields) through `redact` before any handler sees it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # A traceback may quote anything; the type is enough (PINAUDIENCE_DEBUG shows the rest on stderr).
            record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__})"
            record.exc_info = None
            record.exc_text = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {
                key: redact(value, self.secrets) if isinstance(value, str) else value for key, value in fields.items()
            }
        return True


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))


def _short(name: str) -> str:
    return name.removeprefix(ROOT_LOGGER + ".") if name != ROOT_LOGGER else name


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{_utc(record.created)} {record.levelname} {_short(record.name)}: {record.getMessage()}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update({k: v for k, v in fields.items() if k not in data})
        return json.dumps(data, default=str)


class ConsoleHandler(logging.Handler):
    """Prints records through a rich Console, so they appear above a live progress display."""

    _STYLES: ClassVar[dict[str, str]] = {"WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = Text(f"{record.levelname.lower()}: ", style=self._STYLES.get(record.levelname, "dim"))
            line.append(record.getMessage())
            self.console.print(line, highlight=False)
        except Exception:  # noqa: BLE001 - logging must never take the run down
            self.handleError(record)


@contextlib.contextmanager
def logging_to(
    *,
    stream: TextIO | None = None,
    console: Console | None = None,
    fmt: LogFormat = LogFormat.PLAIN,
    level: int = logging.INFO,
    secrets: Iterable[str] = (),
) -> Iterator[RedactingFilter]:
    """Send the `pinaudience` loggers to `console` (rich, above progress) or `stream` (plain or JSON lines).

    Yields the redacting filter, whose `secrets` a command may extend once it knows them (after loading
    the settings). The handler is removed on exit.
    """
    handler: logging.Handler
    if console is not None:
        handler = ConsoleHandler(console)
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter() if fmt is LogFormat.JSON else PlainFormatter())
    redactor = RedactingFilter(secrets)
    handler.addFilter(redactor)
    handler.setLevel(level)
    logger = logging.getLogger(ROOT_LOGGER)
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, previous_level) if previous_level else level)
    try:
        yield redactor
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
        with contextlib.suppress(Exception):
            handler.flush()
