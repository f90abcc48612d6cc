"""The error tree: kinds, resolutions and exit codes that users and the CLI rely on."""

from __future__ import annotations

import pytest

from pinaudience import errors


@pytest.mark.parametrize("kind", sorted(errors.ERROR_KINDS))
def test_every_kind_has_a_resolution(kind: str) -> None:
    """Each user-facing error says what to do next, and exits 1."""
    cls = errors.ERROR_KINDS[kind]
    err = cls("something happened")
    assert err.kind == kind
    assert err.resolution
    assert err.exit_code == 1
    assert err.to_dict()["kind"] == kind


def test_design_kinds_are_all_declared() -> None:
    """The kinds DESIGN.md promises exist in the tree."""
    promised = {
        "not_enough_records",
        "authorization_error",
        "insufficient_permissions",
        "not_found",
        "rate_limited",
        "pinterest_unavailable",
        "mass_removal_blocked",
        "invalid_config",
        "invalid_input",
    }
    assert promised <= set(errors.ERROR_KINDS)


def test_pinterest_error_carries_request_details() -> None:
    """A Pinterest error keeps status, code and request id for the report."""
    err = errors.InsufficientPermissions(
        "no access", status=403, code=29, pinterest_message="You are not permitted", request_id="rid-1"
    )
    data = err.to_dict()
    assert (data["status"], data["code"], data["request_id"]) == (403, 29, "rid-1")
    assert err.retriable is False
    assert errors.RateLimited("x").retriable is True


def test_the_tree_decides_what_is_retried() -> None:
    """A network failure and 500/502/503/504 are retriable; a 501 is not, though it is pinterest_unavailable."""
    assert errors.PinterestUnavailable("network").retriable is True
    assert errors.PinterestUnavailable("gateway", status=503).retriable is True
    assert errors.PinterestUnavailable("not implemented", status=501).retriable is False
    assert errors.InvalidRequest("bad", status=400).retriable is False
    assert errors.ConfigError("bad").retriable is False
