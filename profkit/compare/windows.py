"""Fixed time slices of a capture ("windows"), the unit that turns one run into samples for the tests."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Sequence

from profkit.analyze.cpu_profiles import counter_increase
from profkit.analyze.metrics_math import histogram_quantile, summed_gauge
from profkit.bundle.reader import BundleView
from profkit.model import Series

Slice = tuple[float, float]
DEFAULT_SCRAPE_INTERVAL = 5.0
MAX_WINDOW = 30.0  # seconds; long captures get many 30 s windows
TARGET_WINDOWS = 20  # short captures: about this many windows, but never under two scrapes each
MIN_COVERAGE = 0.5  # a counter must cover half a window for that window to count


def scrape_interval(view: BundleView) -> float:
    """The capture's ``--scrape-interval`` from the bundle meta, else the default (5 s)."""
    try:
        options = json.loads(view.meta.get("options", "{}"))
        return float(options.get("scrape_interval") or DEFAULT_SCRAPE_INTERVAL)
    except (TypeError, ValueError):
        return DEFAULT_SCRAPE_INTERVAL


def auto_window(views: Sequence[BundleView]) -> float:
    """One window width for all runs: two scrape intervals at least, 30 s at most, ~20 windows per run."""
    width = 0.0
    for view in views:
        start, end = view.time_range()
        width = max(width, 2 * scrape_interval(view), min(MAX_WINDOW, (end - start) / TARGET_WINDOWS))
    return round(width, 3) or MAX_WINDOW


def slices(view: BundleView, width: float) -> list[Slice]:
    """Consecutive windows of ``width`` seconds from the capture start; a last partial one if over half full."""
    start, end = view.time_range()
    out: list[Slice] = []
    t = start
    while t + width <= end + 1e-9:
        out.append((t, t + width))
        t += width
    if end - t >= width / 2:
        out.append((t, end))
    return out


def counter_by_window(series: Sequence[Series], windows: Sequence[Slice], same_process: bool = False
                      ) -> list[float | None]:
    """Counter increase per window summed over series (None where the counters cover under half of it).

    ``same_process``: several series of one instance count the same thing (process CPU from
    /metrics and from psutil): the largest per instance is taken instead of the sum.
    """
    by_instance: dict[str, list[Series]] = defaultdict(list)
    for s in series:
        by_instance[s.instance].append(s)
    out: list[float | None] = []
    for start, end in windows:
        total, covered = 0.0, 0.0
        for mine in by_instance.values():
            spans = [counter_increase(s, start, end) for s in mine]
            if not spans:
                continue
            if same_process:
                spans = [max(spans)]
            total += sum(i for i, _ in spans)
            covered = max(covered, max(c for _, c in spans))
        out.append(total if series and covered >= MIN_COVERAGE * (end - start) else None)
    return out


def covered_seconds(series: Sequence[Series], windows: Sequence[Slice]) -> list[float]:
    """Seconds of each window that the series cover (the denominator of a rate)."""
    out: list[float] = []
    for start, end in windows:
        out.append(max((counter_increase(s, start, end)[1] for s in series), default=0.0))
    return out


def gauge_by_window(series: Sequence[Series], windows: Sequence[Slice]) -> list[list[float]]:
    """Values of a gauge summed over instances (each held at its last scrape), per window.

    Per instance the series with the most points is used (one process may be reported twice).
    """
    chosen: dict[str, Series] = {}
    for s in series:
        if s.instance not in chosen or len(s.points) > len(chosen[s.instance].points):
            chosen[s.instance] = s
    summed = summed_gauge(list(chosen.values()))
    last = windows[-1][1] if windows else 0.0
    return [[v for t, v in summed if start <= t < end or (t == end == last)] for start, end in windows]


def histogram_quantile_by_window(buckets: Sequence[Series], q: float, windows: Sequence[Slice]
                                 ) -> list[float | None]:
    """The q-quantile of a histogram's observations in each window (None where nothing was observed)."""
    return [histogram_quantile_between(buckets, q, start, end) for start, end in windows]


def histogram_quantile_between(buckets: Sequence[Series], q: float, start: float, end: float) -> float | None:
    """Prometheus' ``histogram_quantile`` over the bucket increases between ``start`` and ``end``.

    Increases are interpolated at the window edges (metrics_math's windowing keeps only the
    scrapes inside, which loses the first interval of every short window).
    """
    by_le: dict[float, float] = defaultdict(float)
    for s in buckets:
        le = s.labels.get("le")
        if le is None:
            continue
        bound = float("inf") if le in ("+Inf", "Inf", "inf") else float(le)
        by_le[bound] += counter_increase(s, start, end)[0]
    ordered = sorted(by_le.items())
    if not ordered or ordered[-1][1] <= 0.5:
        return None
    value = histogram_quantile(q, ordered)
    return None if value != value else value  # NaN -> None
