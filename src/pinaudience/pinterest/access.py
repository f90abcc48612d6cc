"""`check`: can these settings work? Credentials, scopes and access, verified with reads only.

Like a destination validated on save: every step that passes is recorded, the first one that fails
stops the check and is returned with its error (kind, message, resolution), and nothing is written
to Pinterest. A token refresh is the one side effect (it rotates the refresh token into the store),
as it would be on the first call of any run.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from pinaudience.clock import Clock, SystemClock
from pinaudience.errors import AuthorizationError, ConfigError, PinaudienceError
from pinaudience.pinterest import limits
from pinaudience.pinterest.client import PinterestClient, open_client
from pinaudience.pinterest.models import AdAccount, Audience, CustomerList
from pinaudience.pinterest.tokens import TokenStatus

if TYPE_CHECKING:
    from pinaudience.pinterest.settings import PinterestSettings


@dataclass(frozen=True)
class CheckStep:
    """One verified fact, or the one that failed."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class CheckResult:
    """What `check` found; `to_dict()` is JSON for `pinaudience check --json`, without secrets."""

    api_base: str
    ad_account_id: str
    steps: tuple[CheckStep, ...]
    token: TokenStatus | None = None
    scopes: tuple[str, ...] | None = None
    """The token's scopes when Pinterest told us (on a refresh); None for a static token."""
    ad_account: AdAccount | None = None
    customer_list: CustomerList | None = None
    """The list named by id or name; None when a named list does not exist yet (the first sync creates it)."""
    audience: Audience | None = None
    error: PinaudienceError | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> None:
        """Raise the error that stopped the check, so the CLI exits with its kind and resolution."""
        if self.error is not None:
            raise self.error

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "api_base": self.api_base,
            "ad_account_id": self.ad_account_id,
            "steps": [step.to_dict() for step in self.steps],
            "token": self.token.to_dict() if self.token else None,
            "scopes": list(self.scopes) if self.scopes is not None else None,
            "ad_account": self.ad_account.to_dict() if self.ad_account else None,
            "customer_list": self.customer_list.to_dict() if self.customer_list else None,
            "audience": self.audience.to_dict() if self.audience else None,
            "error": self.error.to_dict() if self.error else None,
        }


class _Probe:
    """Records each step as it passes; `current` names the step under way, for the one that fails."""

    def __init__(self, client: PinterestClient) -> None:
        self.client = client
        self.current = "credentials"
        self.steps: list[CheckStep] = []
        self.found: dict[str, Any] = {}

    def passed(self, detail: str) -> None:
        self.steps.append(CheckStep(self.current, True, detail))


async def _first(items: AsyncGenerator[Any]) -> None:
    """Read the first page of a listing, then stop."""
    try:
        await anext(items, None)
    finally:
        await items.aclose()


def _days(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds / 86400:.1f} days"


async def _run_steps(
    probe: _Probe, *, list_name: str | None, customer_list_id: str | None, audience_id: str | None
) -> None:
    client = probe.client
    await client.tokens.access_token()
    status = client.tokens.status()
    probe.found["token"] = status
    expiry = (
        f"access token expires in {_days(status.access_expires_in_s)}"
        if status.access_expires_in_s is not None
        else "access token used as given (Pinterest does not say when it expires)"
    )
    probe.passed(
        f"{status.kind} from {status.source}; {expiry}"
        + (f", refresh token in {_days(status.refresh_expires_in_s)}" if status.has_refresh_token else "")
    )

    if status.scope is not None:
        probe.current = "scopes"
        scopes = tuple(s for s in status.scope.replace(" ", ",").split(",") if s)
        probe.found["scopes"] = scopes
        missing = [s for s in limits.REQUIRED_SCOPES if s not in scopes]
        if missing:
            raise AuthorizationError(
                f"The token lacks the scope{'s' if len(missing) > 1 else ''} {', '.join(missing)}.",
                resolution="Reauthorize with the scopes ads:read and ads:write: run `pinaudience auth login`.",
                operation="oauth/token",
            )
        probe.passed(", ".join(scopes))

    probe.current = "ad_account"
    account = await client.get_ad_account()
    probe.found["ad_account"] = account
    probe.passed(f"ad account {account.id} ({account.name or 'unnamed'}) is visible")

    probe.current = "customer_lists"
    await _first(client.iter_customer_lists(page_size=1))
    probe.passed(f"the customer lists of ad account {client.ad_account_id} can be read")

    if audience_id is not None:
        probe.current = "audience"
        audience = await client.get_audience(audience_id)
        probe.found["audience"] = audience
        if audience.audience_type != "CUSTOMER_LIST" or audience.customer_list_id is None:
            raise ConfigError(
                f"Audience {audience.id} is a {audience.audience_type} audience, not built on a customer list.",
                resolution="Give the id of a CUSTOMER_LIST audience, or a customer list id or name instead.",
            )
        probe.passed(f"audience {audience.id} ({audience.status}, size {audience.size})")
        customer_list_id = customer_list_id or audience.customer_list_id

    probe.current = "customer_list"
    if customer_list_id is not None:
        found = await client.get_customer_list(customer_list_id)
        probe.found["customer_list"] = found
        probe.passed(f"customer list {found.id} ({found.status})")
    elif list_name is not None:
        newest: CustomerList | None = None
        async for candidate in client.iter_customer_lists():
            if candidate.name == list_name and (newest is None or int(candidate.id) > int(newest.id)):
                newest = candidate
        if newest is None:
            probe.passed(f"no list named {list_name!r} yet; the first sync creates it")
        else:
            probe.found["customer_list"] = newest
            probe.passed(f"customer list {newest.id} named {list_name!r} ({newest.status})")


async def check(
    settings: PinterestSettings,
    *,
    list_name: str | None = None,
    customer_list_id: str | None = None,
    audience_id: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> CheckResult:
    """Verify that `settings` can reach the ad account (and the named list or audience) with reads only.

    Errors found on the way do not raise: they end the check and come back in `CheckResult.error`
    (`raise_for_error()` raises it). Settings that cannot even build a client (no credentials, a
    malformed ad account id) raise ConfigError before anything is sent.
    """
    clock = clock or SystemClock()
    async with open_client(settings, transport=transport, clock=clock) as client:
        probe = _Probe(client)
        error: PinaudienceError | None = None
        try:
            await _run_steps(probe, list_name=list_name, customer_list_id=customer_list_id, audience_id=audience_id)
        except PinaudienceError as exc:
            error = exc
            probe.steps.append(CheckStep(probe.current, False, f"{exc.kind}: {exc.message}"))
        return CheckResult(
            api_base=settings.api_base,
            ad_account_id=settings.ad_account_id,
            steps=tuple(probe.steps),
            token=probe.found.get("token"),
            scopes=probe.found.get("scopes"),
            ad_account=probe.found.get("ad_account"),
            customer_list=probe.found.get("customer_list"),
            audience=probe.found.get("audience"),
            error=error,
        )
