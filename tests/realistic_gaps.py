"""Tests that fail under the `realistic` emulator profile because of product gaps of issue 11, marked xfail (strict).

Each entry names the test (by its node id without parameters, or with one parameter set) and the gap it meets
first; many meet both. The engine and client work of issue 11 closes them: after merging it, delete the entries
(and this module once it is empty). Only the `realistic` parameter of a test is marked: its `default` run must pass.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

PENDING_AUDIENCE = (
    "product gap: audience_on_unmatched=refuse with processing_delay_s=60: the first sync fails not_enough_records "
    "instead of ending ok with audience_status 'pending' (issue 11, fixed by the engine work)"
)
LIST_THROTTLE = (
    "product gap: list_writes_per_window=1 per 1 s answers 429 code 8 without hints (rate_limit_hints=none); with "
    "two writes in flight to one list the client exhausts its retry budget: rate_limited (issue 11, fixed by the "
    "client work)"
)
BOTH = f"{PENDING_AUDIENCE}; and {LIST_THROTTLE}"

GAPS: dict[str, str] = {
    # tests/cli
    "tests/cli/test_cli_auth.py::test_login_stores_tokens_that_sync_status_and_refresh_use": PENDING_AUDIENCE,
    "tests/cli/test_cli_errors.py::test_error_kind[realistic-mass_removal_blocked]": PENDING_AUDIENCE,
    "tests/cli/test_cli_sync.py::test_a_first_sync_creates_the_list_and_a_second_sends_only_the_change": (
        PENDING_AUDIENCE
    ),
    "tests/cli/test_cli_sync.py::test_a_config_with_two_audiences_syncs_both_and_json_logs": BOTH,
    "tests/cli/test_cli_sync.py::test_dry_run_sample_and_quiet": PENDING_AUDIENCE,
    "tests/cli/test_cli_sync.py::test_state_show_and_forget": PENDING_AUDIENCE,
    # tests/reliability
    "tests/reliability/test_kill.py::test_kill_nine_at_random_moments_never_loses_or_repeats": BOTH,
    "tests/reliability/test_reliability_faults.py::test_faults_end_in_the_exact_membership": BOTH,
    "tests/reliability/test_reliability_faults.py::test_faults_were_felt": LIST_THROTTLE,
    "tests/reliability/test_reliability_faults.py::test_refresh_token_dying_mid_run": LIST_THROTTLE,
    "tests/reliability/test_reliability_faults.py::test_static_token_revoked_mid_run": LIST_THROTTLE,
    "tests/reliability/test_reliability_input.py::test_bad_input_never_removes": BOTH,
    "tests/reliability/test_reliability_secrets.py::test_the_token_store_alone_holds_the_rotated_tokens": BOTH,
    "tests/reliability/test_reliability_soak.py::test_seeded_random_faults_end_exact": BOTH,
    "tests/reliability/test_reliability_state.py::test_state_failing_mid_run": LIST_THROTTLE,
    "tests/reliability/test_reliability_state.py::test_state_failing_as_the_list_is_created": LIST_THROTTLE,
    "tests/reliability/test_reliability_state.py::test_state_directory_unwritable_at_start": LIST_THROTTLE,
    "tests/reliability/test_reliability_state.py::test_real_disk_filling_up_mid_run": LIST_THROTTLE,
    "tests/reliability/test_reliability_state.py::test_real_disk_read_only_when_the_run_starts": LIST_THROTTLE,
}

PASSING = frozenset(
    {
        # Its one create call times out after being applied, and the next run finds the list: no throttled burst.
        "tests/reliability/test_reliability_faults.py::test_faults_end_in_the_exact_membership"
        "[realistic-answers slower than the client's timeout, creating]",
    }
)
"""Parameter sets of a listed test that pass under `realistic` all the same (strict xfail would fail them)."""


def mark_gaps(items: Iterable[pytest.Item], folder: str) -> None:
    """Mark the `realistic` runs of the listed tests under `folder` (e.g. "tests/cli/") xfail, strictly."""
    for item in items:
        if not item.nodeid.startswith(folder) or item.nodeid in PASSING:
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("emulator_profile", callspec.params.get("outcomes")) != "realistic":
            continue
        reason = GAPS.get(item.nodeid) or GAPS.get(item.nodeid.split("[", 1)[0])
        if reason is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
