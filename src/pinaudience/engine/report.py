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

PINTEREST_DELAY_NOTE = "Pinterest may take up to 48 hours to reflect changes in the audience size shown in Ads Manager."


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
class SyncReport:
    """What one sync of one audience did."""

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
    rows_read: int = 0
    rows_valid: int = 0
    rows_invalid: int = 0
    invalid_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    prehashed_by_algorithm: dict[str, int] = field(default_factory=dict)
    hashed: int = 0
    records: int = 0
    """Distinct valid records in the file (after `sample`, if set)."""
    confirmed_before: int = 0
    """Members pinaudience had confirmed at Pinterest before this run."""
    uncertain_before: int = 0
    """Records of batches whose outcome an earlier, interrupted run could not learn."""
    planned_adds: int = 0
    planned_removes: int = 0
    added: int = 0
    removed: int = 0
    confirmed_after: int = 0
    batches: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    """429 answers received (each was retried)."""
    duration_s: float = 0.0
    list_status: str | None = None
    audience_size: int | None = None
    audience_status: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: ErrorInfo | None = None

    def fail(self, exc: BaseException) -> None:
        self.status = "error"
        self.error = ErrorInfo.from_exception(exc) if isinstance(exc, PinaudienceError) else ErrorInfo.internal(exc)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


@dataclass
class RunReport:
    """One run of one or more audiences sharing a connection (a config file may hold several)."""

    status: str = "ok"
    audiences: list[SyncReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "audiences": [a.to_dict() for a in self.audiences]}
