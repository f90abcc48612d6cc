"""Pinterest's objects as the rest of pinaudience sees them: frozen, typed, ids as strings, counters as ints.

Parsing is lenient about what Pinterest may add or leave out (every field but `id` has a default) and
strict about what we rely on: a missing id is an error, and `number` counters become ints.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from pinaudience.errors import PinterestUnavailable

LIST_TYPES = frozenset({"EMAIL", "IDFA", "MAID", "LR_ID", "DLX_ID", "HASHED_PINNER_ID"})
"""Pinterest's `list_type` values (`IdType.list_type` gives ours)."""


def _id(data: dict[str, Any], what: str) -> str:
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise PinterestUnavailable(f"Pinterest answered with a {what} that has no id.")
    return str(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int:
    """Pinterest types its counters `number`; they count records, so they are whole."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def _maybe_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


_EXCEPTION_KIND = re.compile(r"[A-Za-z][A-Za-z0-9_.\- ]{0,47}")
"""What an `exceptions` key must look like to be shown as a kind: a short name, never an email or a hash."""
_HEXLIKE = re.compile(r"[0-9A-Fa-f]{16,}")


def _exception_counts(value: Any) -> dict[str, int]:
    """A list's `exceptions` (an object Pinterest does not describe further) as kinds and counts, never values.

    A key is the kind; its count is the number it holds, or the size of the list or object it holds, else 1.
    Keys that do not look like a name (an `@`, a digit first, a run of hex digits, too long) count as `other`.
    """
    if not isinstance(value, dict):
        return {}
    counts: dict[str, int] = {}
    for key, item in value.items():
        named = isinstance(key, str) and _EXCEPTION_KIND.fullmatch(key) and not _HEXLIKE.search(key)
        kind = key if named else "other"
        if isinstance(item, bool) or item is None:
            count = 1 if item else 0
        elif isinstance(item, int | float):
            count = int(item)
        elif isinstance(item, list | dict):
            count = len(item)
        else:
            count = 1
        if count:
            counts[kind] = counts.get(kind, 0) + count
    return counts


@dataclass(frozen=True)
class CustomerList:
    """A customer list: only counters, never its members (Pinterest cannot read them back)."""

    id: str
    ad_account_id: str | None
    name: str
    status: str | None
    """PROCESSING, READY, TOO_SMALL or UPLOADING."""
    num_batches: int
    num_uploaded_user_records: int
    num_removed_user_records: int
    created_time: int | None
    updated_time: int | None
    exceptions: dict[str, int] = field(default_factory=dict)
    """The list's `exceptions` ("Customer list errors" in the spec) as counts by kind; values are never kept."""

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> CustomerList:
        account = data.get("ad_account_id")
        return cls(
            id=_id(data, "customer list"),
            ad_account_id=str(account) if account is not None else None,
            name=_text(data.get("name")) or "",
            status=_text(data.get("status")),
            num_batches=_count(data.get("num_batches")),
            num_uploaded_user_records=_count(data.get("num_uploaded_user_records")),
            num_removed_user_records=_count(data.get("num_removed_user_records")),
            created_time=_maybe_int(data.get("created_time")),
            updated_time=_maybe_int(data.get("updated_time")),
            exceptions=_exception_counts(data.get("exceptions")),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Audience:
    """An audience; for CUSTOMER_LIST audiences `customer_list_id` names the list it is built on."""

    id: str
    ad_account_id: str | None
    name: str
    audience_type: str | None
    customer_list_id: str | None
    size: int | None
    status: str | None
    """READY, INITIALIZING or TOO_SMALL."""
    description: str | None
    created_timestamp: int | None
    updated_timestamp: int | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Audience:
        rule = data.get("rule")
        list_id = rule.get("customer_list_id") if isinstance(rule, dict) else None
        account = data.get("ad_account_id")
        return cls(
            id=_id(data, "audience"),
            ad_account_id=str(account) if account is not None else None,
            name=_text(data.get("name")) or "",
            audience_type=_text(data.get("audience_type")),
            customer_list_id=str(list_id) if isinstance(list_id, str | int) and not isinstance(list_id, bool) else None,
            size=_maybe_int(data.get("size")),
            status=_text(data.get("status")),
            description=_text(data.get("description")),
            created_timestamp=_maybe_int(data.get("created_timestamp")),
            updated_timestamp=_maybe_int(data.get("updated_timestamp")),
        )

    def is_built_on(self, customer_list_id: str) -> bool:
        """A CUSTOMER_LIST audience whose rule names this list."""
        return self.audience_type == "CUSTOMER_LIST" and self.customer_list_id == customer_list_id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AdAccount:
    """An ad account, with the roles the authorized user holds on it (`permissions`)."""

    id: str
    name: str | None
    country: str | None
    currency: str | None
    owner_username: str | None
    permissions: tuple[str, ...]
    created_time: int | None
    updated_time: int | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AdAccount:
        owner = data.get("owner")
        permissions = data.get("permissions")
        return cls(
            id=_id(data, "ad account"),
            name=_text(data.get("name")),
            country=_text(data.get("country")),
            currency=_text(data.get("currency")),
            owner_username=_text(owner.get("username")) if isinstance(owner, dict) else None,
            permissions=tuple(p for p in permissions if isinstance(p, str)) if isinstance(permissions, list) else (),
            created_time=_maybe_int(data.get("created_time")),
            updated_time=_maybe_int(data.get("updated_time")),
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["permissions"] = list(self.permissions)
        return out
