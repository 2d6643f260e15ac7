"""Significance of a change between two runs: a rate test on counts, or Mann–Whitney U on window samples.

Counter rates (reconciles, errors, requeues, retries per second) are compared over the whole capture
with the conditional test for two Poisson rates: given k1 events in t1 seconds and k2 in t2, under
"same rate" k2 is Binomial(k1 + k2, t2 / (t1 + t2)); the two-sided p is twice the smaller tail. A
sustained 4x rise over 90 s (15 vs 60 events) gives p ~ 1e-7, where per-window ranks of 3 + 3
windows could not judge it. When the events are too few for any split to reach ``alpha`` the metric
is ``untested`` and the reason says how many events there were. Other metrics use the rule below.

The rule (also in docs/compare-json.md, "significance"): a metric changed significantly when

1. both runs have at least :data:`MIN_SAMPLES` window samples, and enough of them that the test
   can reach ``alpha`` at all (complete separation of 4 + 4 windows gives p = 0.029: untested),
2. the two-sided Mann–Whitney U test on those samples gives ``p < alpha`` (0.01 by default), and
3. the change of the headline value is at least the metric's minimum relative effect (e.g. 25 %)
   AND at least its absolute floor (e.g. 0.5 ms of CPU per reconcile), so that a tiny but
   consistent shift (memory growing by 1 MiB between two captures of the same process) is not
   called a regression.

Mann–Whitney compares the ranks of the windows, not their means, so one odd window does not move
it; with 5 + 5 windows its smallest two-sided p is 0.008, so short captures with fewer windows
cannot alarm at all (reported as ``untested``). Windows of one run are correlated in time, which
makes the nominal p optimistic; the effect floors are what keeps two captures of one healthy
controller quiet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from profkit.compare.model import MetricValue
from profkit.units import format_number

MIN_SAMPLES = 3
ALPHA = 0.01
EXACT_MAX_TOTAL = 40  # exact permutation distribution up to this many samples in all, normal approximation above
BINOMIAL_EXACT_MAX = 20_000  # exact binomial tails up to this many events, normal approximation above


@dataclass(frozen=True)
class EventCount:
    """Events a counter rose by over a run, and the seconds of capture they were counted in."""

    events: float
    seconds: float


def event_count(value: MetricValue) -> EventCount | None:
    """The counts of a counter-rate metric, for the rate test (None for other metrics)."""
    if value.events is None or value.seconds is None:
        return None
    return EventCount(value.events, value.seconds)


def _binomial_tail_le(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed from log-pmfs (exact up to BINOMIAL_EXACT_MAX)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    if n > BINOMIAL_EXACT_MAX:
        sigma = math.sqrt(n * p * (1 - p))
        return 0.5 * math.erfc(-((k + 0.5) - n * p) / (sigma * math.sqrt(2.0)))
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    terms = [base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def poisson_rate_p(base: EventCount, new: EventCount) -> float:
    """Two-sided p of "both runs have the same event rate" (conditional binomial test)."""
    k1, k2 = round(base.events), round(new.events)
    n = k1 + k2
    if n == 0 or base.seconds <= 0 or new.seconds <= 0:
        return 1.0
    share = new.seconds / (base.seconds + new.seconds)
    lower = _binomial_tail_le(k2, n, share)
    upper = 1.0 - _binomial_tail_le(k2 - 1, n, share)
    return min(1.0, 2.0 * min(lower, upper))


def smallest_rate_p(base: EventCount, new: EventCount) -> float:
    """The smallest two-sided p the rate test can give with this many events in all (all in one run)."""
    n = round(base.events) + round(new.events)
    if n == 0 or base.seconds <= 0 or new.seconds <= 0:
        return 1.0
    share = new.seconds / (base.seconds + new.seconds)
    return min(1.0, 2.0 * min(share, 1.0 - share) ** n)


@dataclass(frozen=True)
class TestResult:
    """Outcome of the rank test: U of the new run, the two-sided p and the direction of the shift."""

    u: float
    p_value: float
    direction: int  # +1: new ranks higher, -1: lower, 0: no shift


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def _exact_p(ranks: np.ndarray, n_new: int, observed: float) -> float:
    """Two-sided exact p of a rank sum: share of all subsets of size ``n_new`` at least as far from the mean.

    Midranks are doubled to integers, so ties are handled exactly; the distribution is built by
    dynamic programming over (subset size, rank sum).
    """
    doubled = np.rint(ranks * 2).astype(int)
    top = int(doubled.sum())
    ways = np.zeros((n_new + 1, top + 1), dtype=float)
    ways[0, 0] = 1.0
    for value in doubled:
        ways[1:, value:] = ways[1:, value:] + ways[:-1, : top + 1 - value]
    counts = ways[n_new]
    total = counts.sum()
    sums = np.arange(top + 1)
    mean = n_new * (len(ranks) + 1)  # doubled mean rank sum
    distance = abs(observed * 2 - mean)
    extreme = counts[np.abs(sums - mean) >= distance - 1e-9].sum()
    return float(min(1.0, extreme / total))


def mann_whitney(base: Sequence[float], new: Sequence[float]) -> TestResult:
    """Two-sided Mann–Whitney U test of ``new`` against ``base`` (exact for small samples, ties handled)."""
    a = np.asarray(base, dtype=float)
    b = np.asarray(new, dtype=float)
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return TestResult(math.nan, 1.0, 0)
    both = np.concatenate([a, b])
    ranks = _midranks(both)
    rank_sum_new = float(ranks[n1:].sum())
    u_new = rank_sum_new - n2 * (n2 + 1) / 2.0
    mean_u = n1 * n2 / 2.0
    direction = 0 if u_new == mean_u else (1 if u_new > mean_u else -1)
    if np.all(both == both[0]):
        return TestResult(u_new, 1.0, 0)
    if n1 + n2 <= EXACT_MAX_TOTAL:
        return TestResult(u_new, _exact_p(ranks, n2, rank_sum_new), direction)
    _, tie_counts = np.unique(both, return_counts=True)
    n = n1 + n2
    tie_term = float((tie_counts**3 - tie_counts).sum()) / (n * (n - 1))
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term))
    if sigma == 0:
        return TestResult(u_new, 1.0, 0)
    z = (abs(u_new - mean_u) - 0.5) / sigma  # continuity correction
    p = math.erfc(max(z, 0.0) / math.sqrt(2.0))
    return TestResult(u_new, min(1.0, p), direction)


@dataclass(frozen=True)
class Verdict:
    """Whether a change is significant, with the numbers that decided it."""

    significant: bool
    tested: bool
    p_value: float | None
    direction: int  # sign of the headline change (+1 up, -1 down, 0 none)
    reason: str


def smallest_p(n_base: int, n_new: int) -> float:
    """The smallest two-sided p the rank test can give with these sample sizes (complete separation)."""
    return min(1.0, 2.0 / math.comb(n_base + n_new, n_new))


def relative_change(base: float, new: float) -> float | None:
    """``(new - base) / |base|``; None when the base is 0 (any increase from nothing is infinite)."""
    if base == 0:
        return None if new != 0 else 0.0
    return (new - base) / abs(base)


def judge(base_value: float, new_value: float, base_samples: Sequence[float], new_samples: Sequence[float],
          min_relative: float, min_absolute: float, alpha: float = ALPHA, *,
          base_count: EventCount | None = None, new_count: EventCount | None = None, unit: str = "") -> Verdict:
    """Apply the rule of this module to one metric of one target (the rate test when both counts are given);
    ``unit`` (the metric's) only shapes the reason's text."""
    change = new_value - base_value
    direction = 0 if change == 0 else (1 if change > 0 else -1)
    rel = relative_change(base_value, new_value)
    if base_count is not None and new_count is not None:
        return _judge_rates(base_count, new_count, change, direction, rel, min_relative, min_absolute, alpha, unit)
    if len(base_samples) < MIN_SAMPLES or len(new_samples) < MIN_SAMPLES:
        return Verdict(False, False, None, direction,
                       f"fewer than {MIN_SAMPLES} windows with data "
                       f"(base {len(base_samples)}, new {len(new_samples)}): not tested")
    floor = smallest_p(len(base_samples), len(new_samples))
    if floor >= alpha:
        return Verdict(False, False, None, direction,
                       f"{len(base_samples)} + {len(new_samples)} windows cannot reach p < {alpha:g} "
                       f"(smallest possible p {floor:.2g}): capture longer; not tested")
    result = mann_whitney(base_samples, new_samples)
    big_enough = abs(change) >= min_absolute and (rel is None or abs(rel) >= min_relative)
    if result.p_value >= alpha:
        return Verdict(False, True, result.p_value, direction,
                       f"p={result.p_value:.3g} ≥ {alpha:g}: within the run-to-run noise")
    if not big_enough:
        return Verdict(False, True, result.p_value, direction,
                       f"p={result.p_value:.3g} but the change is below the minimum effect "
                       f"({min_relative:.0%} and {format_number(min_absolute, unit)})")
    if result.direction != 0 and result.direction != direction:
        return Verdict(False, True, result.p_value, direction,
                       "windows and headline values disagree on the direction: not significant")
    return Verdict(True, True, result.p_value, direction,
                   f"p={result.p_value:.3g} < {alpha:g} and the change exceeds the minimum effect")


def _judge_rates(base: EventCount, new: EventCount, change: float, direction: int, rel: float | None,
                 min_relative: float, min_absolute: float, alpha: float, unit: str = "") -> Verdict:
    counted = (f"{base.events:.0f} events in {base.seconds:.0f} s vs {new.events:.0f} in {new.seconds:.0f} s")
    if round(base.events) + round(new.events) == 0:
        return Verdict(False, True, 1.0, 0, "no events in either run (rate test over the whole capture)")
    floor = smallest_rate_p(base, new)
    if floor >= alpha:
        return Verdict(False, False, None, direction,
                       f"{counted}: too few events to judge (smallest possible p {floor:.2g} ≥ {alpha:g}); "
                       "capture longer; not tested")
    p = poisson_rate_p(base, new)
    big_enough = abs(change) >= min_absolute and (rel is None or abs(rel) >= min_relative)
    if p >= alpha:
        return Verdict(False, True, p, direction, f"{counted}: rate test p={p:.3g} ≥ {alpha:g}: within the noise")
    if not big_enough:
        return Verdict(False, True, p, direction,
                       f"{counted}: rate test p={p:.3g} but the change is below the minimum effect "
                       f"({min_relative:.0%} and {format_number(min_absolute, unit)})")
    return Verdict(True, True, p, direction,
                   f"{counted}: rate test p={p:.3g} < {alpha:g} and the change exceeds the minimum effect")
