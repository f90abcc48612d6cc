"""What the emulator counted since it started (or was reset): token grants, admissions and 429s by cause.

A fleet test asks these questions of one served emulator that many processes call at once: how many
refreshes did Pinterest see, which limit refused each 429, and when was each write admitted (to measure
how close the fleet came to the shared ceiling). Counts and times only, never a token or a record.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

ADMITTED_TIMES_KEPT = 200_000
"""Admission times kept per category (the most recent); counts are never capped."""

CAUSES = ("ads_write", "ads_read", "ads_conversions", "per_second", "object", "fault")
"""Why a call was answered 429: a category's window per user and app, the 1-second ceiling per user and app,
the per-object write throttle (`list_writes_per_window`), or a scripted or random fault."""


class Counters:
    """Counts since start or reset; `to_dict` is the answer of `GET /_emulator/counters`."""

    def __init__(self) -> None:
        self.token_grants: Counter[str] = Counter()
        self.token_refusals: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.admitted: Counter[str] = Counter()
        self.admitted_at: dict[str, deque[float]] = {}

    def grant(self, grant_type: str) -> None:
        """A token request answered with a token (`refresh_token`, `authorization_code`, `client_credentials`)."""
        self.token_grants[grant_type] += 1

    def refuse_grant(self, grant_type: str) -> None:
        """A token request refused (a dead refresh token, a wrong secret, ...)."""
        self.token_refusals[grant_type] += 1

    def grants(self) -> dict[str, dict[str, int]]:
        """`{grant type: {"granted": n, "refused": m}}`, the answer of `GET /_emulator/grants`."""
        kinds = sorted(set(self.token_grants) | set(self.token_refusals))
        return {k: {"granted": self.token_grants[k], "refused": self.token_refusals[k]} for k in kinds}

    def clear_grants(self) -> None:
        self.token_grants.clear()
        self.token_refusals.clear()

    def admit(self, category: str, at: float) -> None:
        """A call of `category` admitted under the rate limits at `at` (the windows' time)."""
        self.admitted[category] += 1
        self.admitted_at.setdefault(category, deque(maxlen=ADMITTED_TIMES_KEPT)).append(at)

    def refuse(self, causes: tuple[str, ...]) -> None:
        """A call answered 429; each full limit is counted (a call can meet several)."""
        for cause in causes:
            self.rate_limited[cause] += 1

    def clear(self) -> None:
        self.clear_grants()
        self.rate_limited.clear()
        self.admitted.clear()
        self.admitted_at.clear()

    def to_dict(self) -> dict[str, Any]:
        return {
            "token_grants": dict(self.token_grants),
            "rate_limited": {cause: self.rate_limited[cause] for cause in CAUSES},
            "admitted": dict(self.admitted),
            "admitted_at": {category: list(times) for category, times in self.admitted_at.items()},
        }
