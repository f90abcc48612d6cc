"""The plan step: the desired records against what the state confirmed, and the guards checked before any write.

The plan itself is `pinaudience.plan.planner`'s (pure); here it meets the state store and the settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from pinaudience.config import AudienceSettings, SyncMode
from pinaudience.engine.resolve import MIN_RECORDS, Destination
from pinaudience.errors import MassRemovalBlocked, NotEnoughRecords
from pinaudience.input.prepare import Prepared
from pinaudience.plan import planner
from pinaudience.records.recordset import RecordSet
from pinaudience.state import ListState


@dataclass(frozen=True)
class Planned:
    """The plan, and the state's counts it was made from."""

    plan: planner.Plan
    confirmed: int
    """Members confirmed at Pinterest before this run."""
    uncertain: int
    """Records of batches whose outcome an earlier run could not learn."""


def effective_mode(audience: AudienceSettings) -> SyncMode:
    """The mode the plan follows: a `sample` of a mirror only adds, since it is not the whole file."""
    if audience.sample is not None and audience.mode is SyncMode.MIRROR:
        return SyncMode.ADD
    return audience.mode


def plan_changes(audience: AudienceSettings, desired: RecordSet, state: ListState | None) -> Planned:
    """Desired records x the state's confirmed and uncertain ones -> adds and removes (an empty state if None)."""
    mode = effective_mode(audience)
    if state is None:
        return Planned(planner.plan(desired, RecordSet.empty(), RecordSet.empty(), mode, full=audience.full), 0, 0)
    with state.membership() as membership:
        # An empty RecordSet tells the planner that nothing is confirmed, so it need not copy the desired set.
        confirmed = RecordSet.empty() if membership.confirmed.empty else membership.confirmed
        plan = planner.plan(desired, confirmed, membership.uncertain, mode, full=audience.full)
        # The planner counted the confirmed records as it read them (None where the mode reads none).
        count = plan.confirmed if plan.confirmed is not None else membership.confirmed.count
        return Planned(plan, count, membership.uncertain.count)


def check_guards(audience: AudienceSettings, destination: Destination, prepared: Prepared, planned: Planned) -> None:
    """Refuse, before anything is written, a run that would leave too few members or remove too many."""
    if audience.mode is SyncMode.REMOVE:
        return
    confirmed, plan, valid_rows = planned.confirmed, planned.plan, prepared.report.rows_valid
    exact = audience.mode is SyncMode.MIRROR and audience.sample is None
    # A mirror leaves exactly the file; add (and sample) leave what was confirmed plus the adds.
    members_after = prepared.records.count if exact else confirmed + plan.adds.count
    if destination.audience is None and members_after < MIN_RECORDS:
        raise NotEnoughRecords(
            f"the audience has to be created, and the list would hold {members_after} records "
            f"({valid_rows} valid rows in the file); Pinterest needs at least {MIN_RECORDS}"
        )
    if not exact:
        return
    if members_after < MIN_RECORDS:
        raise NotEnoughRecords(
            f"this mirror would leave the audience with {members_after} members "
            f"({valid_rows} valid rows in the file); Pinterest needs at least {MIN_RECORDS}"
        )
    if confirmed and plan.removes.count > audience.max_remove_fraction * confirmed:
        share = plan.removes.count / confirmed
        raise MassRemovalBlocked(
            f"this mirror would remove {plan.removes.count} of the list's {confirmed} confirmed members "
            f"({share:.0%}), more than the allowed {audience.max_remove_fraction:.0%}"
        )
