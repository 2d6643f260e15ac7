"""Mann–Whitney U, the Poisson rate test and the significance rule of profkit compare."""

from __future__ import annotations

import math
import random
from itertools import combinations

import pytest

from profkit.compare.stats import (
    BINOMIAL_EXACT_MAX, MIN_SAMPLES, EventCount, _binomial_tail_le, judge, mann_whitney, poisson_rate_p,
    relative_change, smallest_p,
)


def brute_force_p(base: list[float], new: list[float]) -> float:
    """Two-sided permutation p of the rank-sum statistic by enumerating every split."""
    both = base + new
    order = sorted(both)
    ranks = {v: (order.index(v) + len(order) - order[::-1].index(v) + 1) / 2 for v in both}
    observed = sum(ranks[v] for v in new)
    mean = len(new) * (len(both) + 1) / 2
    extreme = total = 0
    for chosen in combinations(range(len(both)), len(new)):
        total += 1
        if abs(sum(ranks[both[i]] for i in chosen) - mean) >= abs(observed - mean) - 1e-9:
            extreme += 1
    return extreme / total


def test_complete_separation_of_five_and_five_has_the_textbook_p() -> None:
    result = mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert result.p_value == pytest.approx(2 / 252)
    assert result.u == 25 and result.direction == 1
    assert mann_whitney([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]).direction == -1


@pytest.mark.parametrize("base, new", [
    ([1.0, 2.0, 2.0, 3.0, 5.0], [2.0, 3.0, 3.0, 4.0, 6.0, 6.0]),
    ([0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 2.0]),
    ([3.2, 1.1, 4.4, 2.0, 2.0, 7.5], [3.3, 9.1, 4.4, 8.0]),
])
def test_exact_p_with_ties_matches_enumeration(base: list[float], new: list[float]) -> None:
    assert mann_whitney(base, new).p_value == pytest.approx(brute_force_p(base, new))


def test_identical_samples_are_never_significant() -> None:
    assert mann_whitney([1.0] * 8, [1.0] * 8).p_value == 1.0
    assert mann_whitney([0.5, 0.7, 0.9], [0.5, 0.7, 0.9]).p_value == 1.0


def test_large_samples_use_the_normal_approximation_sensibly() -> None:
    rng = random.Random(7)
    same = mann_whitney([rng.gauss(0, 1) for _ in range(60)], [rng.gauss(0, 1) for _ in range(60)])
    shifted = mann_whitney([rng.gauss(0, 1) for _ in range(60)], [rng.gauss(1, 1) for _ in range(60)])
    assert same.p_value > 0.01
    assert shifted.p_value < 1e-4 and shifted.direction == 1


def test_null_pairs_alarm_at_most_at_the_nominal_rate() -> None:
    rng = random.Random(11)
    alarms = sum(mann_whitney([rng.random() for _ in range(8)], [rng.random() for _ in range(8)]).p_value < 0.01
                 for _ in range(400))
    assert alarms <= 10  # 1 % of 400 is 4; exact tests are conservative


def test_fewer_windows_than_the_minimum_are_untested() -> None:
    verdict = judge(1.0, 10.0, [1.0] * (MIN_SAMPLES - 1), [10.0] * 8, 0.25, 0.0)
    assert not verdict.tested and not verdict.significant and "not tested" in verdict.reason


def test_too_few_windows_to_reach_alpha_are_untested_however_large_the_change() -> None:
    verdict = judge(1.0, 100.0, [1.0, 1.1, 0.9, 1.0], [100.0, 99.0, 101.0, 100.0], 0.25, 0.0)
    assert not verdict.tested and "cannot reach p < 0.01" in verdict.reason
    assert judge(1.0, 100.0, [1.0, 1.1, 0.9, 1.0, 1.05], [100.0, 99.0, 101.0, 100.0, 98.0], 0.25, 0.0).significant
    assert smallest_p(5, 5) == pytest.approx(2 / 252)


def test_a_consistent_but_small_shift_is_below_the_minimum_effect() -> None:
    base = [100.0 + i * 0.01 for i in range(10)]
    new = [101.0 + i * 0.01 for i in range(10)]  # every window higher: p tiny, but +1 %
    verdict = judge(100.0, 101.0, base, new, min_relative=0.2, min_absolute=0.0)
    assert verdict.tested and verdict.p_value is not None and verdict.p_value < 0.01
    assert not verdict.significant and "minimum effect" in verdict.reason


def test_a_large_shift_below_the_absolute_floor_is_not_significant() -> None:
    verdict = judge(0.001, 0.003, [0.001] * 6, [0.003] * 6, min_relative=0.25, min_absolute=0.01)
    assert not verdict.significant


def test_a_large_consistent_shift_is_significant() -> None:
    rng = random.Random(3)
    base = [0.004 * (1 + rng.gauss(0, 0.1)) for _ in range(10)]
    new = [0.150 * (1 + rng.gauss(0, 0.1)) for _ in range(10)]
    verdict = judge(0.004, 0.15, base, new, 0.25, 0.002)
    assert verdict.significant and verdict.direction == 1


def test_relative_change_from_zero() -> None:
    assert relative_change(0.0, 0.0) == 0.0
    assert relative_change(0.0, 1.0) is None
    assert relative_change(2.0, 3.0) == pytest.approx(0.5)
    assert math.isclose(relative_change(-2.0, -1.0) or 0.0, 0.5)


def test_rate_test_catches_a_sustained_four_fold_requeue_rise() -> None:
    """The BMO case: requeue rate 0.17/s -> 0.67/s over 90 s each (per-window ranks gave p = 0.072)."""
    base, new = EventCount(0.17 * 90, 90.0), EventCount(0.67 * 90, 90.0)
    assert poisson_rate_p(base, new) < 1e-6
    verdict = judge(0.17, 0.67, [0.2, 0.1, 0.2], [0.7, 0.6, 0.7], 0.25, 0.05, base_count=base, new_count=new)
    assert verdict.significant and verdict.tested and verdict.direction == 1
    assert "15 events in 90 s vs 60 in 90 s" in verdict.reason


def test_rate_test_keeps_the_same_rate_quiet() -> None:
    verdict = judge(0.17, 0.17, [0.2, 0.1, 0.2], [0.1, 0.2, 0.2], 0.25, 0.05,
                    base_count=EventCount(15.3, 90.0), new_count=EventCount(15.3, 90.0))
    assert verdict.tested and not verdict.significant and verdict.p_value == 1.0


def test_rate_test_says_when_a_capture_is_too_short() -> None:
    verdict = judge(0.2, 0.6, [], [], 0.25, 0.05, base_count=EventCount(2, 10.0), new_count=EventCount(3, 10.0))
    assert not verdict.tested and "too few events to judge" in verdict.reason and "capture longer" in verdict.reason


def test_binomial_tails_match_enumeration() -> None:
    for k, n, p in [(3, 10, 0.5), (0, 7, 0.3), (12, 40, 0.25), (39, 40, 0.9)]:
        exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
        assert _binomial_tail_le(k, n, p) == pytest.approx(exact, rel=1e-9)
    # the normal approximation above BINOMIAL_EXACT_MAX stays close to the exact sum
    n = BINOMIAL_EXACT_MAX
    assert _binomial_tail_le(n // 2 - 100, n + 1, 0.5) == pytest.approx(
        _binomial_tail_le(n // 2 - 100, n, 0.5), rel=0.05)


def test_unequal_durations_compare_rates_not_counts() -> None:
    # 30 events in 60 s vs 60 in 120 s: the same rate
    assert poisson_rate_p(EventCount(30, 60.0), EventCount(60, 120.0)) == pytest.approx(1.0, abs=0.05)
    assert poisson_rate_p(EventCount(30, 120.0), EventCount(60, 60.0)) < 1e-6
