"""Scripted and seeded faults: what goes wrong, on which call of which operation.

A plan is set with `PUT /_emulator/faults`. Rules name an operation id (`pinaudience.pinterest.limits.OPERATIONS`)
and 1-based call numbers, counted per operation from the moment the plan was set. The random mode draws one
number per call from a generator seeded by the plan, so a soak test sees the same faults on every run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Literal

from pinaudience.pinterest.limits import OPERATIONS

FAULT_STATUSES = (429, 500, 502, 503, 504)
RANDOM_KINDS = ("429", "500", "502", "503", "drop", "drop_after", "revoke", "504")
"""In the order draws are matched (504 last, so that plans made before it existed draw the same faults)."""

DropWhen = Literal["before", "after"]


class FaultPlanError(ValueError):
    """A fault plan that cannot be followed; the message names the field."""


@dataclass(frozen=True)
class Fault:
    """What to do to one call; `kind` names it in the request log."""

    kind: str
    status: int | None = None
    delay_s: float = 0.0
    drop: DropWhen | None = None
    """`before`: the request is not applied and the connection drops; `after`: applied, then the answer is lost."""
    revoke: bool = False
    retry_after_s: int = 1
    """The wait a scripted 429 hints at (in the style of the setting `rate_limit_hints`)."""
    html: bool | None = None
    """A 5xx as an HTML page (True) or Pinterest's JSON (False); None: HTML for 502/504 when `gateway_html` is on."""


@dataclass(frozen=True)
class _Rule:
    operation: str
    calls: frozenset[int]
    fault: Fault


class FaultPlan:
    """Rules and an optional random mode, with a call counter per operation."""

    def __init__(self, spec: Any = None) -> None:
        spec = {} if spec is None else spec
        if not isinstance(spec, dict):
            raise FaultPlanError("expected a JSON object with 'rules' and/or 'random'")
        unknown = set(spec) - {"rules", "random"}
        if unknown:
            raise FaultPlanError(f"unknown field(s): {', '.join(sorted(unknown))}")
        rules = spec.get("rules", [])
        if not isinstance(rules, list):
            raise FaultPlanError("rules must be a list")
        self._rules = [_parse_rule(rule, index) for index, rule in enumerate(rules)]
        self._random = _parse_random(spec.get("random"))
        self._rng = random.Random(self._random.seed if self._random else 0)  # noqa: S311 - seeded on purpose
        self._calls: dict[str, int] = {}
        self._spec = spec

    def next(self, operation: str) -> Fault | None:
        """Count one call of `operation` and return the fault it gets, if any."""
        number = self._calls.get(operation, 0) + 1
        self._calls[operation] = number
        for rule in self._rules:
            if rule.operation == operation and number in rule.calls:
                return rule.fault
        if self._random and (self._random.operations is None or operation in self._random.operations):
            draw = self._rng.random()
            for kind, rate in self._random.rates:
                if draw < rate:
                    return _random_fault(kind)
                draw -= rate
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"rules": self._spec.get("rules", []), "random": self._spec.get("random"), "calls": dict(self._calls)}


@dataclass(frozen=True)
class _Random:
    seed: int
    rates: tuple[tuple[str, float], ...]
    operations: frozenset[str] | None


def _parse_rule(rule: Any, index: int) -> _Rule:
    where = f"rules[{index}]"
    if not isinstance(rule, dict):
        raise FaultPlanError(f"{where} must be an object")
    unknown = set(rule) - {"operation", "calls", "status", "delay", "drop", "revoke", "retry_after", "html"}
    if unknown:
        raise FaultPlanError(f"{where}: unknown field(s): {', '.join(sorted(unknown))}")
    operation = rule.get("operation")
    if operation not in OPERATIONS:
        raise FaultPlanError(f"{where}.operation must be one of: {', '.join(OPERATIONS)}")
    calls = rule.get("calls")
    if isinstance(calls, int) and not isinstance(calls, bool):
        calls = [calls]
    if (
        not isinstance(calls, list)
        or not calls
        or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in calls)
    ):
        raise FaultPlanError(f"{where}.calls must be a list of call numbers counted from 1")
    status = rule.get("status")
    if status is not None and status not in FAULT_STATUSES:
        raise FaultPlanError(f"{where}.status must be one of {', '.join(map(str, FAULT_STATUSES))}")
    delay = rule.get("delay", 0)
    if not isinstance(delay, int | float) or isinstance(delay, bool) or not math.isfinite(delay) or delay < 0:
        raise FaultPlanError(f"{where}.delay must be a number of seconds >= 0")
    drop_field = rule.get("drop")
    drop: DropWhen | None
    if drop_field is None or drop_field is False:
        drop = None
    elif drop_field is True or drop_field == "before":
        drop = "before"
    elif drop_field == "after":
        drop = "after"
    else:
        raise FaultPlanError(f"{where}.drop must be true, 'before' or 'after'")
    revoke = rule.get("revoke", False)
    if not isinstance(revoke, bool):
        raise FaultPlanError(f"{where}.revoke must be true or false")
    retry_after = rule.get("retry_after", 1)
    if not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after < 0:
        raise FaultPlanError(f"{where}.retry_after must be a whole number of seconds")
    html = rule.get("html")
    if html is not None and (not isinstance(html, bool) or status is None or status == 429):
        raise FaultPlanError(f"{where}.html must be true or false, with a status of 500 or more")
    outcomes = sum((status is not None, drop is not None, revoke))
    if outcomes > 1:
        raise FaultPlanError(f"{where}: give at most one of status, drop, revoke (delay may go with any)")
    if outcomes == 0 and not delay:
        raise FaultPlanError(f"{where}: give one of status, delay, drop, revoke")
    if drop is not None:
        kind = "drop" if drop == "before" else "drop_after"
    elif revoke:
        kind = "revoke"
    elif status is not None:
        kind = str(status)
    else:
        kind = "delay"
    fault = Fault(
        kind=kind, status=status, delay_s=float(delay), drop=drop, revoke=revoke, retry_after_s=retry_after, html=html
    )
    return _Rule(operation=operation, calls=frozenset(calls), fault=fault)


def _parse_random(spec: Any) -> _Random | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise FaultPlanError("random must be an object with 'seed' and 'rates'")
    unknown = set(spec) - {"seed", "rates", "operations"}
    if unknown:
        raise FaultPlanError(f"random: unknown field(s): {', '.join(sorted(unknown))}")
    seed = spec.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise FaultPlanError("random.seed must be an integer")
    rates = spec.get("rates")
    if not isinstance(rates, dict):
        raise FaultPlanError(f"random.rates must map kinds ({', '.join(RANDOM_KINDS)}) to probabilities")
    parsed: list[tuple[str, float]] = []
    for kind in RANDOM_KINDS:  # a fixed order, so a seed means the same faults whatever the JSON key order
        if kind not in rates:
            continue
        rate = rates[kind]
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise FaultPlanError(f"random.rates.{kind} must be a probability from 0 to 1")
        parsed.append((kind, float(rate)))
    unknown_kinds = set(rates) - set(RANDOM_KINDS)
    if unknown_kinds:
        raise FaultPlanError(f"random.rates: unknown kind(s) {', '.join(sorted(unknown_kinds))}")
    if sum(rate for _, rate in parsed) > 1:
        raise FaultPlanError("random.rates must add up to at most 1")
    operations = spec.get("operations")
    if operations is not None:
        if not isinstance(operations, list) or not all(op in OPERATIONS for op in operations):
            raise FaultPlanError(f"random.operations must list operation ids from: {', '.join(OPERATIONS)}")
        operations = frozenset(operations)
    return _Random(seed=seed, rates=tuple(parsed), operations=operations)


def _random_fault(kind: str) -> Fault:
    if kind == "drop":
        return Fault(kind=kind, drop="before")
    if kind == "drop_after":
        return Fault(kind=kind, drop="after")
    if kind == "revoke":
        return Fault(kind=kind, revoke=True)
    return Fault(kind=kind, status=int(kind))
