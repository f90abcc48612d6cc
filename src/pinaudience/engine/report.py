"""The run report: every count, id, timing and, on failure, the error with its resolution.

Pure data: the engine fills it, the CLI prints it or writes it as JSON, the Meiro component writes it
as a table row. Nothing in it identifies a person or reveals a token: counts, Pinterest ids, statuses
and messages only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pinaudience.errors import PinaudienceError
from pinaudience.input.report import PrepareReport

PINTEREST_DELAY_NOTE = "Pinterest may take up to 48 hours to reflect changes in the audience size shown in Ads Manager."

AUDIENCE_PENDING = "pending"
"""`audience_status` when the audience could not be created yet because Pinterest is still matching the list."""


@dataclass
class ErrorInfo:
    """The error a failed run ended with."""

    kind: str
    message: str
    resolution: str
    request_id: str | None = None

    @classmethod
    def from_exception(cls, exc: PinaudienceError) -> ErrorInfo:
        return cls(
            kind=exc.kind,
            message=exc.message,
            resolution=exc.resolution,
            request_id=getattr(exc, "request_id", None),
        )

    @classmethod
    def internal(cls, exc: BaseException) -> ErrorInfo:
        """A bug: the exception's type only, since its text may quote anything."""
        return cls(
            kind="internal_error",
            message=f"internal error ({type(exc).__name__})",
            resolution="This is a bug in pinaudience; run again with PINAUDIENCE_DEBUG=1 and report it.",
        )


@dataclass
class AudienceReport:
    """What one sync of one audience did.

    It holds the prepare report of its file as `input` and reads its counts through (`rows_valid` is
    `input.rows_valid`); `to_dict` lays every count out flat, in the order of the published JSON keys.
    """

    status: str = "ok"
    """`ok` or `error`."""
    mode: str = "mirror"
    dry_run: bool = False
    ad_account_id: str | None = None
    customer_list_id: str | None = None
    list_name: str | None = None
    list_created: bool = False
    audience_id: str | None = None
    audience_name: str | None = None
    audience_created: bool = False
    input: PrepareReport = field(default_factory=PrepareReport)
    """The counts of reading the file (after `sample`, if set), and its warnings."""
    confirmed_before: int = 0
    """Members pinaudience had confirmed at Pinterest before this run."""
    uncertain_before: int = 0
    """Records of batches whose outcome an earlier, interrupted run could not learn."""
    planned_adds: int = 0
    planned_removes: int = 0
    added: int = 0
    removed: int = 0
    pinterest_added: int | None = None
    """How much the list's `num_uploaded_user_records` grew during the upload (None: not read, as in a dry run).
    Equal to `added` unless another tool wrote to the list or a request was applied twice; a warning says so."""
    pinterest_removed: int | None = None
    """How much the list's `num_removed_user_records` grew during the upload; compare with `removed`."""
    confirmed_after: int = 0
    batches: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    """429 answers received (each was retried)."""
    duration_s: float = 0.0
    list_status: str | None = None
    list_exceptions: dict[str, int] = field(default_factory=dict)
    """The list's `exceptions` as Pinterest reports them, by kind: counts only, never values."""
    audience_size: int | None = None
    audience_status: str | None = None
    """Pinterest's (READY, INITIALIZING, TOO_SMALL), or `pending`: the audience is still to be created, by a later
    run, once Pinterest has matched the list's records."""
    sync_warnings: list[str] = field(default_factory=list)
    """The sync's own warnings; `warnings` puts the input's first."""
    error: ErrorInfo | None = None

    @property
    def rows_read(self) -> int:
        return self.input.rows_read

    @property
    def rows_valid(self) -> int:
        return self.input.rows_valid

    @property
    def rows_invalid(self) -> int:
        return self.input.rows_invalid

    @property
    def invalid_by_reason(self) -> dict[str, int]:
        return self.input.invalid_by_reason

    @property
    def duplicates(self) -> int:
        return self.input.duplicates

    @property
    def prehashed_by_algorithm(self) -> dict[str, int]:
        return self.input.prehashed_by_algorithm

    @property
    def hashed(self) -> int:
        return self.input.hashed

    @property
    def records(self) -> int:
        """Distinct valid records in the file (after `sample`, if set)."""
        return self.input.records

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every warning: the input's, then the sync's (add one with `warn`)."""
        return (*self.input.warnings, *self.sync_warnings)

    def warn(self, text: str) -> None:
        self.sync_warnings.append(text)

    def fail(self, exc: BaseException) -> None:
        self.status = "error"
        self.error = ErrorInfo.from_exception(exc) if isinstance(exc, PinaudienceError) else ErrorInfo.internal(exc)

    def to_dict(self) -> dict[str, Any]:
        """Every field at the top level: the input's counts in place of `input`, all warnings as `warnings`."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if name == "input":
                out.update({key: counts for key, counts in value.items() if key != "warnings"})
            elif name == "sync_warnings":
                out["warnings"] = list(self.warnings)
            else:
                out[name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


@dataclass
class RunReport:
    """One run of one or more audiences sharing a connection (a config file may hold several)."""

    status: str = "ok"
    audiences: list[AudienceReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "audiences": [a.to_dict() for a in self.audiences]}
