"""Every error pinaudience raises on purpose, in one tree.

```
PinaudienceError                 kind, message, resolution; exit code 1 (the user can fix it)
├── InputError                   invalid_input: the file cannot be read or holds no usable column
├── ConfigError                  invalid_config: a setting is missing, malformed or contradictory
├── GuardError                   checked before anything is written to Pinterest
│   ├── NotEnoughRecords         not_enough_records: under Pinterest's 100-record audience minimum
│   └── MassRemovalBlocked       mass_removal_blocked: a mirror would remove too much of the list
├── StateError                   state_error: the state directory cannot be read or written
│   └── StateLocked              state_locked: another run holds the lock on this list
├── RateLimiterUnavailable       rate_limiter_unavailable: the shared rate limiter (Redis) cannot grant calls
└── PinterestError               status, code, Pinterest's message, request id; raised by pinaudience.pinterest
    ├── AuthorizationError       authorization_error: 401, or a refresh Pinterest refused
    ├── InsufficientPermissions  insufficient_permissions: 403 or code 29
    ├── NotFound                 not_found: 404
    ├── InvalidRequest           invalid_request: 400/413, Pinterest rejected the request itself
    │   ├── InvalidEvents        invalid_request: 400 (code 4196) to a batch of conversion events
    │   └── RequestTooLarge      invalid_request: 413, the body was too large (the sender splits the batch)
    ├── RateLimited              rate_limited: 429 after every retry
    └── PinterestUnavailable     pinterest_unavailable: 5xx, timeouts or network errors after every retry
```

What is retried is decided here, by `retriable`: a RateLimited, and a PinterestUnavailable that stands
for a network failure (no status) or a 500, 502, 503 or 504; nothing else (a 501 or 505 will not heal).
The Pinterest client retries exactly these (`pinaudience.pinterest.errors.is_retriable`).

Anything else that escapes the library is a bug: the CLI reports it as an internal error (exit code 2).

Rules every error follows: the message says what happened, the resolution says what to do next, and
neither ever holds a token, a secret or a raw customer identifier (counts, row numbers, ids of lists
and accounts, and hash prefixes only).
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

RETRIED_SERVER_STATUSES: Final = frozenset({500, 502, 503, 504})
"""Server errors worth another attempt; other 5xx answers (501 Not Implemented, 505) will not change."""


class PinaudienceError(Exception):
    """Base of every deliberate pinaudience error; `kind` is stable and machine-readable."""

    kind: ClassVar[str] = "error"
    default_resolution: ClassVar[str] = ""
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, resolution: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.resolution = resolution if resolution is not None else self.default_resolution

    @property
    def retriable(self) -> bool:
        """Whether another attempt at the same call may succeed (see the module's docstring)."""
        return False

    def __str__(self) -> str:
        if self.resolution:
            return f"{self.message} ({self.resolution})"
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as the report and `--json` output show it."""
        return {"kind": self.kind, "message": self.message, "resolution": self.resolution}


class InputError(PinaudienceError):
    """The input file is missing, empty, unreadable, or has no identifier column."""

    kind = "invalid_input"
    default_resolution = "Check the input file: it must be a CSV, TSV or Parquet file with an identifier column."


class ConfigError(PinaudienceError):
    """A setting is missing, malformed, or contradicts another."""

    kind = "invalid_config"
    default_resolution = "Fix the setting named above and run again."


class GuardError(PinaudienceError):
    """A safety check refused the run before anything was written to Pinterest."""


class NotEnoughRecords(GuardError):
    """Fewer valid records than Pinterest's audience minimum, or fewer matched Pinterest users after matching.

    The first is found before anything is written (`default_resolution`); the second only once Pinterest has
    matched the list's records to its users (`too_few_matched`).
    """

    kind = "not_enough_records"
    default_resolution = (
        "Pinterest requires a customer list to contain at least 100 records before it can be associated "
        "with an audience. Update the query or segment to return at least 100 rows, then run again."
    )
    too_few_matched_resolution: ClassVar[str] = (
        "Pinterest builds an audience only on at least 100 records that match Pinterest users. Send more "
        "records (a larger segment), or records more likely to match: check that emails are the ones customers "
        "use on Pinterest and that pre-hashed values were normalised before hashing (trimmed, lower-case; "
        "docs/identifiers.md). The list itself is up to date; the next run creates the audience once enough match."
    )

    @classmethod
    def too_few_matched(cls, customer_list_id: str, *, sent: int, matched: int | None) -> NotEnoughRecords:
        """Pinterest matched the list and found it too small; `matched` is None where Pinterest does not say."""
        how_many = f"only {matched}" if matched is not None else "fewer than 100"
        return cls(
            f"Pinterest matched customer list {customer_list_id} and found it too small for an audience: "
            f"{how_many} of the {sent} records sent to it matched Pinterest users, and Pinterest needs at least 100",
            resolution=cls.too_few_matched_resolution,
        )


class MassRemovalBlocked(GuardError):
    """A mirror would remove more of the list than the configured share."""

    kind = "mass_removal_blocked"
    default_resolution = (
        "If the segment really shrank this much, raise max_remove_fraction (--max-remove-fraction) for this "
        "run; otherwise check that the input file is the complete segment."
    )


class StateError(PinaudienceError):
    """The state directory cannot be created, read or written."""

    kind = "state_error"
    default_resolution = (
        "Make the state directory writable (or choose another with --state) and make sure its disk has space."
    )


class StateLocked(StateError):
    """Another run holds the lock on this customer list."""

    kind = "state_locked"
    default_resolution = "Another pinaudience run is syncing this customer list; wait for it to finish, then run again."


class RateLimiterUnavailable(PinaudienceError):
    """The shared rate limiter (`rate_limit_url`, Redis) cannot be reached, refused the password, or timed out.

    Raised when the limiter is opened (a PING, before anything is resolved or written) and by every `acquire`
    that cannot get a grant: no call goes to Pinterest without one, so a fleet never overruns Pinterest's
    limits because one worker lost Redis. Never retried by the client as if Pinterest had failed. The message
    names the server by its redacted URL (`support.redact.redact_url`: no password).
    """

    kind = "rate_limiter_unavailable"
    default_resolution = (
        "Check that the Redis server of rate_limit_url (PINAUDIENCE_RATE_LIMIT_URL, --rate-limit-url) is running "
        "and reachable from this worker and that its password is right, then run again; nothing was sent without "
        "a grant, and the next run resends only what Pinterest did not acknowledge. To run without the shared "
        "limiter, leave rate_limit_url unset (only when no other worker uses the same Pinterest user and app)."
    )


class PinterestError(PinaudienceError):
    """Pinterest answered with an error, or could not be reached."""

    kind = "pinterest_error"

    def __init__(
        self,
        message: str,
        *,
        resolution: str | None = None,
        status: int | None = None,
        code: int | None = None,
        pinterest_message: str | None = None,
        request_id: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, resolution=resolution)
        self.status = status
        self.code = code
        self.pinterest_message = pinterest_message
        self.request_id = request_id
        self.operation = operation
        self.outcome_unknown = False
        """Set when a write that is not idempotent may or may not have taken effect at Pinterest."""

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(
            {
                "status": self.status,
                "code": self.code,
                "pinterest_message": self.pinterest_message,
                "request_id": self.request_id,
                "operation": self.operation,
            }
        )
        return out


class AuthorizationError(PinterestError):
    """The access token is missing, expired or revoked, or Pinterest refused a refresh."""

    kind = "authorization_error"
    default_resolution = "Reauthorize: run `pinaudience auth login`."


class InsufficientPermissions(PinterestError):
    """The authorized Pinterest user has no access to the ad account's customer lists."""

    kind = "insufficient_permissions"
    default_resolution = (
        "The Pinterest user who authorized this no longer has access to the customer lists of this ad "
        "account; ask an admin of the account to grant access, or reauthorize with a user who has it."
    )


class NotFound(PinterestError):
    """The ad account, customer list or audience does not exist (or is not visible to this user)."""

    kind = "not_found"
    default_resolution = "Check the ad account, customer list and audience ids in the configuration."


class InvalidRequest(PinterestError):
    """Pinterest rejected the request itself (400 or 413)."""

    kind = "invalid_request"
    default_resolution = "Pinterest's message above names the problem; fix the setting or input it points at."


class InvalidEvents(InvalidRequest):
    """Pinterest refused a whole batch of conversion events as invalid (`events/create`: 400, code 4196).

    No event of the batch was recorded. Events Pinterest judges one by one (a bad hash, an unknown event name) do
    not raise this: they come back as failed events of an `EventsResult` (HTTP 422). Kind `invalid_request`.
    """

    default_resolution = (
        "Pinterest refused the whole batch of conversion events and recorded none of them: its message above names "
        "the event's position and the field. Fix how that field is built (only the fields of Pinterest's "
        "Conversions API, of its types: event_time an integer of Unix seconds, user_data with em, hashed_maids, or "
        "client_ip_address with client_user_agent), then send the batch again."
    )


class RequestTooLarge(InvalidRequest):
    """Pinterest, or a gateway before it, refused a request body as too large (413); nothing was applied.

    Not a failure of the run: the sender splits the batch and sends the halves (the sync engine does; a batch of
    one that is still too large is an error). Kind `invalid_request`.
    """

    default_resolution = (
        "Send fewer records or events per request (lower batch_size); if a single one is refused, a proxy between "
        "pinaudience and Pinterest limits bodies too tightly."
    )


class RateLimited(PinterestError):
    """Pinterest kept answering 429 after every retry."""

    kind = "rate_limited"
    default_resolution = (
        "Pinterest's rate limit was exceeded for longer than the retry budget; lower --ads-write-limit if "
        "other tools share this token, or run again later."
    )

    @property
    def retriable(self) -> bool:
        return True


class PinterestUnavailable(PinterestError):
    """Pinterest answered 5xx, timed out or could not be reached after every retry."""

    kind = "pinterest_unavailable"
    default_resolution = (
        "Pinterest could not be reached or had an internal error; run again later. Nothing is lost: the "
        "next run resends only what Pinterest did not acknowledge."
    )

    @property
    def retriable(self) -> bool:
        """A network failure (no status) or a 500, 502, 503 or 504."""
        return self.status is None or self.status in RETRIED_SERVER_STATUSES


ERROR_KINDS: dict[str, type[PinaudienceError]] = {
    cls.kind: cls
    for cls in (
        InputError,
        ConfigError,
        NotEnoughRecords,
        MassRemovalBlocked,
        StateError,
        StateLocked,
        RateLimiterUnavailable,
        AuthorizationError,
        InsufficientPermissions,
        NotFound,
        InvalidRequest,
        RateLimited,
        PinterestUnavailable,
    )
}
"""Every user-facing kind and its class; docs/operations.md describes each."""
