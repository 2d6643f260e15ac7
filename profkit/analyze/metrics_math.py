"""Shared arithmetic over Series for analyzers: counter rates, gauge timelines, histogram quantiles, trends."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from profkit.model import Series

if TYPE_CHECKING:
    from profkit.bundle.reader import BundleView

Points = list[tuple[float, float]]


# -- reading series -------------------------------------------------------------
def series_of(view: BundleView, metric: str, target: str | None = None, **labels: str) -> list[Series]:
    """A metric's series filtered by target and labels, from one read of the metric for all targets.

    Label filters may use ``name`` (the workqueue's label), which ``BundleView.series`` cannot
    take as a keyword. The view reads each metric once; series are shared, never mutate them.
    """
    return [s for s in view.series(metric) if (target is None or s.target == target)
            and all(s.labels.get(k) == v for k, v in labels.items())]


def label_values(view: BundleView, metric: str, label: str) -> set[tuple[str, str]]:
    """``(target, value)`` pairs of one label across a metric's series."""
    return {(s.target, s.labels.get(label, "")) for s in series_of(view, metric)}


# -- counters -----------------------------------------------------------------
def total_increase(series: Iterable[Series], start: float | None = None, end: float | None = None) -> float:
    """Summed counter increase of several series (resets tolerated), optionally within ``[start, end]``."""
    total = 0.0
    for s in series:
        points = _window(s.points, start, end)
        total += Series(s.name, s.labels, points).increase()
    return total


def average_rate(series: Sequence[Series], start: float | None = None, end: float | None = None) -> float:
    """Summed counter increase per second over the span the series cover (0 when under two points)."""
    span = covered_span(series, start, end)
    return total_increase(series, start, end) / span if span > 0 else 0.0


def calls_per_reconcile(requests: Sequence[Series], reconciles: Sequence[Series]) -> float | None:
    """API requests per reconcile: ``rest_client_requests_total`` increase / ``reconcile_total`` increase."""
    done = total_increase(reconciles)
    return total_increase(requests) / done if done > 0 else None


def covered_span(series: Sequence[Series], start: float | None = None, end: float | None = None) -> float:
    """Longest first-to-last point distance of the series, in seconds, within the window."""
    best = 0.0
    for s in series:
        points = _window(s.points, start, end)
        if len(points) >= 2:
            best = max(best, points[-1][0] - points[0][0])
    return best


def summed_rate(series: Sequence[Series], step: float | None = None) -> Points:
    """Per-second rate of the sum of counters, on a common time grid (instances and label sets summed)."""
    if not series:
        return []
    grid = time_grid(series, step)
    if len(grid) < 2:
        return []
    totals = np.zeros(len(grid) - 1)
    for s in series:
        if len(s.points) < 2:
            continue
        cumulative = _reset_free(s.points)
        times = np.array([t for t, _ in cumulative])
        values = np.array([v for _, v in cumulative])
        # Interpolate the cumulative counter onto the grid; outside the series it stays flat.
        at = np.interp(grid, times, values)
        totals += np.diff(at)
    widths = np.diff(grid)
    return [(float(t), float(v / w)) for t, v, w in zip(grid[1:], totals, widths) if w > 0]


def _reset_free(points: Points) -> Points:
    """A counter made monotonic by adding back what each reset lost."""
    out: Points = []
    offset, previous = 0.0, None
    for t, v in points:
        if previous is not None and v < previous:
            offset += previous
        out.append((t, v + offset))
        previous = v
    return out


# -- gauges -------------------------------------------------------------------
def summed_gauge(series: Sequence[Series], step: float | None = None) -> Points:
    """Sum of gauges on a common time grid (each series held at its last value, 0 before its first)."""
    if not series:
        return []
    grid = time_grid(series, step)
    totals = np.zeros(len(grid))
    for s in series:
        if not s.points:
            continue
        times = np.array([t for t, _ in s.points])
        values = np.array([v for _, v in s.points])
        idx = np.searchsorted(times, grid, side="right") - 1
        held = np.where(idx >= 0, values[np.clip(idx, 0, None)], 0.0)
        totals += held
    return [(float(t), float(v)) for t, v in zip(grid, totals)]


def time_grid(series: Sequence[Series], step: float | None = None) -> list[float]:
    """A sorted time grid covering the series: their union of timestamps, or a regular ``step`` grid."""
    times = sorted({t for s in series for t, _ in s.points})
    if not times or step is None:
        return times
    count = int((times[-1] - times[0]) // step) + 1
    return [times[0] + i * step for i in range(count)]


def fraction(points: Points, predicate: Callable[[float], bool]) -> float:
    """Share of points whose value satisfies ``predicate`` (0 for no points)."""
    if not points:
        return 0.0
    return sum(1 for _, v in points if predicate(v)) / len(points)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of plain values, linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    return float(np.quantile(np.asarray(values, dtype=float), q))


# -- histograms -----------------------------------------------------------------
@dataclass(frozen=True)
class HistogramStats:
    """Quantiles and mean of a histogram's observations within a window."""

    count: float
    mean: float
    p50: float
    p90: float
    p99: float


def bucket_increases(buckets: Iterable[Series], start: float | None = None, end: float | None = None
                     ) -> list[tuple[float, float]]:
    """``(le, cumulative count increase)`` per bucket bound, summed over series, sorted by ``le``."""
    by_le: dict[float, float] = defaultdict(float)
    for s in buckets:
        le = s.labels.get("le")
        if le is None:
            continue
        bound = math.inf if le in ("+Inf", "Inf", "inf") else float(le)
        by_le[bound] += Series(s.name, s.labels, _window(s.points, start, end)).increase()
    return sorted(by_le.items())


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' ``histogram_quantile``: linear interpolation within the bucket holding rank q.

    The +Inf bucket answers with the largest finite bound; NaN when there are no observations.
    """
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    # Cumulative counts must not decrease (scrapes of different buckets can race); enforce it.
    fixed: list[tuple[float, float]] = []
    running = 0.0
    for le, count in buckets:
        running = max(running, count)
        fixed.append((le, running))
    total = fixed[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for le, count in fixed:
        if count >= rank:
            if math.isinf(le):
                finite = [b for b, _ in fixed if not math.isinf(b)]
                return finite[-1] if finite else math.nan
            if count == lower_count:
                return le
            return lower_bound + (le - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = le, count
    return fixed[-1][0]


def histogram_stats(
    buckets: Sequence[Series], sums: Sequence[Series] = (), counts: Sequence[Series] = (),
    start: float | None = None, end: float | None = None,
) -> HistogramStats | None:
    """Count, mean and p50/p90/p99 of a histogram from its ``_bucket`` (and ``_sum``/``_count``) series."""
    inc = bucket_increases(buckets, start, end)
    count = total_increase(counts, start, end) if counts else (inc[-1][1] if inc else 0.0)
    if count <= 0:
        return None
    total = total_increase(sums, start, end) if sums else math.nan
    return HistogramStats(
        count=count,
        mean=total / count if sums else math.nan,
        p50=histogram_quantile(0.5, inc),
        p90=histogram_quantile(0.9, inc),
        p99=histogram_quantile(0.99, inc),
    )


def histogram_mean(sums: Sequence[Series], counts: Sequence[Series],
                   start: float | None = None, end: float | None = None) -> float | None:
    """Mean observation from a histogram's ``_sum`` and ``_count`` (no buckets needed); None without data."""
    count = total_increase(counts, start, end)
    return total_increase(sums, start, end) / count if count > 0 else None


# -- trends -------------------------------------------------------------------
@dataclass(frozen=True)
class Trend:
    """Linear fit of a value over time: slope per second, start and end of the fitted line, growth."""

    slope: float
    fitted_start: float
    fitted_end: float
    first: float  # median of the first tenth of points
    last: float  # median of the last tenth of points
    duration: float

    @property
    def growth(self) -> float:
        """Fitted increase over the run."""
        return self.fitted_end - self.fitted_start

def trend(points: Points) -> Trend | None:
    """Least-squares line through the points; None with fewer than three points or no time span."""
    if len(points) < 3:
        return None
    t = np.array([p[0] for p in points], dtype=float)
    v = np.array([p[1] for p in points], dtype=float)
    if t[-1] <= t[0]:
        return None
    slope, intercept = np.polyfit(t - t[0], v, 1)
    duration = float(t[-1] - t[0])
    tenth = max(1, len(points) // 10)
    return Trend(
        slope=float(slope),
        fitted_start=float(intercept),
        fitted_end=float(intercept + slope * duration),
        first=float(np.median(v[:tenth])),
        last=float(np.median(v[-tenth:])),
        duration=duration,
    )


def unexplained_growth(values: Points, driver: Points) -> tuple[float, float]:
    """Growth of ``values`` over the run not explained by a linear dependence on ``driver``.

    Fits ``value = a + b*driver + c*time`` by least squares and returns ``(c * duration, b)``.
    When the driver is flat, or moves in lock-step with time (|corr| > 0.95, the two
    cannot be told apart), all of the time trend is attributed to the driver only if
    the driver grew; a flat driver explains nothing.
    """
    if len(values) < 3:
        return 0.0, 0.0
    t = np.array([p[0] for p in values], dtype=float)
    v = np.array([p[1] for p in values], dtype=float)
    d = np.array(_sample_at(driver, list(t)), dtype=float) if driver else np.zeros(len(t))
    duration = float(t[-1] - t[0])
    if duration <= 0:
        return 0.0, 0.0
    tt = t - t[0]
    if np.ptp(d) == 0:
        slope = float(np.polyfit(tt, v, 1)[0])
        return slope * duration, 0.0
    corr = float(np.corrcoef(tt, d)[0, 1])
    if abs(corr) > 0.95:
        per_driver = float(np.polyfit(d, v, 1)[0])
        if corr > 0 and per_driver >= 0:
            return 0.0, per_driver  # grows with the driver: explained
        slope = float(np.polyfit(tt, v, 1)[0])
        return slope * duration, per_driver  # grows while the driver falls: unexplained
    design = np.column_stack([np.ones(len(t)), d, tt])
    coef, *_ = np.linalg.lstsq(design, v, rcond=None)
    return float(coef[2]) * duration, float(coef[1])


def _sample_at(points: Points, times: list[float]) -> list[float]:
    """A step function's value (last point at or before) at each time; its first value before it starts."""
    if not points:
        return [0.0] * len(times)
    ts = np.array([t for t, _ in points])
    vs = np.array([v for _, v in points])
    idx = np.clip(np.searchsorted(ts, np.array(times), side="right") - 1, 0, None)
    return [float(x) for x in vs[idx]]


def sample_at(points: Points, times: list[float]) -> list[float]:
    """Public form of the step-function sampler."""
    return _sample_at(points, times)


def _window(points: Points, start: float | None, end: float | None) -> Points:
    if start is None and end is None:
        return points
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    return [(t, v) for t, v in points if lo <= t <= hi]


def finite(value: float, digits: int = 4) -> float | None:
    """``value`` rounded for evidence, or None when it is NaN or infinite (evidence must be strict JSON)."""
    return round(value, digits) if math.isfinite(value) else None


def round_up_nice(value: float) -> int:
    """Round up to a number people type into flags: 1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200…"""
    if value <= 1:
        return 1
    steps = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
    magnitude = 10 ** math.floor(math.log10(value))
    for step in steps:
        candidate = step * magnitude
        if candidate >= value - 1e-9 and float(candidate).is_integer():
            return int(candidate)
    return int(math.ceil(value))


def with_labels(series: Iterable[Series], **labels: str) -> list[Series]:
    """Series whose labels equal the given values.

    Needed for the workqueue's ``name`` label, which ``BundleView.series(name=...)`` takes as the
    metric name instead of a label filter.
    """
    return [s for s in series if all(s.labels.get(k) == v for k, v in labels.items())]
