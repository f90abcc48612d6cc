"""`ceiling_ratio`: how close admitted writes came to a shared ceiling of N in any window of W seconds."""

from __future__ import annotations

import pytest

from tests.fleet.fleet_harness import ceiling_ratio, seeded_kills


def test_writes_at_the_ceiling_make_a_ratio_of_one() -> None:
    """N writes evenly spread over each window, for five windows: ratio 1, every whole window full."""
    times = [i * 0.125 for i in range(400)]  # 80 per 10 s, in binary fractions: no rounding at the edges
    ratio = ceiling_ratio(times, per_window=80, window_s=10.0)
    assert ratio.ratio == pytest.approx(400 / (80 * 49.875 / 10))
    assert ratio.ratio == pytest.approx(1.0, abs=0.01)
    assert ratio.busiest_window == 80
    assert ratio.full_windows == (80, 80, 80, 80)


def test_half_the_rate_and_a_gap_lower_the_ratio() -> None:
    """Half the rate gives one half; an idle gap inside the busy span counts against the fleet."""
    half = ceiling_ratio([i * 0.25 for i in range(200)], per_window=80, window_s=10.0)
    assert half.ratio == pytest.approx(0.5, rel=0.01)
    gap = ceiling_ratio([i * 0.125 for i in range(80)] + [30 + i * 0.125 for i in range(80)], 80, 10.0)
    assert gap.ratio == pytest.approx(160 / (80 * 39.875 / 10))
    assert gap.full_windows == (80, 0, 0)


def test_the_busiest_window_is_a_sliding_one() -> None:
    """A burst straddling two whole windows is found as one window."""
    times = [9.5 + i * 0.01 for i in range(100)]
    assert ceiling_ratio([0.0, *times], 100, 10.0).busiest_window == 100
    assert ceiling_ratio([], 100, 10.0).ratio == 0.0


def test_kills_are_seeded_and_spare_the_first_and_last_rounds() -> None:
    """The same seed picks the same two jobs and moments, never among the first or the last `workers` jobs."""
    names = [f"j{i}" for i in range(30)]
    first = seeded_kills(names, 6, seed=7)
    assert first == seeded_kills(names, 6, seed=7)
    assert len(first) == 2
    assert all(names.index(n) in range(6, 24) and 0.3 <= delay <= 2.0 for n, delay in first.items())
