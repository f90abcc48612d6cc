"""The public names of `pinaudience`, the deprecated ones, and the report's flat JSON layout."""

from __future__ import annotations

import pytest

import pinaudience
from pinaudience.engine.report import AudienceReport
from pinaudience.input.report import PrepareReport

REPORT_KEYS = [
    "status",
    "mode",
    "dry_run",
    "ad_account_id",
    "customer_list_id",
    "list_name",
    "list_created",
    "audience_id",
    "audience_name",
    "audience_created",
    "rows_read",
    "rows_valid",
    "rows_invalid",
    "invalid_by_reason",
    "duplicates",
    "prehashed_by_algorithm",
    "hashed",
    "records",
    "confirmed_before",
    "uncertain_before",
    "planned_adds",
    "planned_removes",
    "added",
    "removed",
    "pinterest_added",
    "pinterest_removed",
    "confirmed_after",
    "batches",
    "requests",
    "retries",
    "rate_limited",
    "duration_s",
    "list_status",
    "list_exceptions",
    "audience_size",
    "audience_status",
    "warnings",
    "error",
]


def test_sync_report_is_a_deprecated_alias() -> None:
    """`pinaudience.SyncReport` still gives the per-audience report, with a DeprecationWarning naming the new name."""
    with pytest.warns(DeprecationWarning, match="AudienceReport"):
        old = pinaudience.SyncReport
    assert old is pinaudience.AudienceReport
    assert "SyncReport" not in pinaudience.__all__


def test_unknown_name_is_an_attribute_error() -> None:
    """A name the package never had is an AttributeError, not a warning."""
    with pytest.raises(AttributeError, match="NoSuchThing"):
        _ = pinaudience.NoSuchThing


def test_report_keys_stay_flat_and_in_order() -> None:
    """The held prepare report's counts appear at the top level, in the published order, with every warning."""
    counts = PrepareReport(rows_read=12, rows_valid=10, rows_invalid=2, duplicates=1, records=9, warnings=["input"])
    report = AudienceReport(input=counts)
    report.warn("sync")
    data = report.to_dict()
    assert list(data) == REPORT_KEYS
    assert (data["rows_read"], data["rows_valid"], data["records"]) == (12, 10, 9)
    assert (report.rows_invalid, report.duplicates) == (2, 1)
    assert data["warnings"] == ["input", "sync"]
