"""Per-target summary numbers (CPU, memory, reconciles, errors, queue, latency, API, throttling), with units.

One pure computation for ``analyze --json`` / ``compare --json`` and the report's stat panels, so CI
asserts on the numbers the report shows. Every figure is ``{"value"/…, "unit", "source"}`` or None
when the bundle has no data for it; numbers keep full precision (rounding is for text output).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from profkit.analyze.throttling_logs import NEW_MESSAGE, parse_wait
from profkit.analyze.metrics_math import bucket_increases, histogram_quantile, total_increase
from profkit.analyze.usage_source import UsageSeries, usage_series
from profkit.bundle.reader import BundleView
from profkit.model import Series
from profkit.model.metric_names import RECONCILE_TIME, RECONCILE_TOTAL, REST_CLIENT_REQUESTS, WORKQUEUE_DEPTH

API_REQUESTS = REST_CLIENT_REQUESTS


def _regular_grid(series: Sequence[Series]) -> np.ndarray:
    """A time grid at the scrape interval (median gap of the series) over their union span."""
    gaps = [float(np.median(np.diff([t for t, _ in s.points]))) for s in series if len(s.points) > 2]
    step = max(min(gaps), 0.5) if gaps else 5.0
    start = min(s.points[0][0] for s in series if s.points)
    end = max(s.points[-1][0] for s in series if s.points)
    return start + step * np.arange(int((end - start) // step) + 1)


def _counter_rate_row(series: Sequence[Series], grid: np.ndarray) -> np.ndarray:
    """Summed per-second rate of counters between grid points (NaN where no series covers)."""
    total = np.full(max(grid.size - 1, 0), np.nan)
    for s in series:
        if len(s.points) < 2:
            continue
        points = Series(s.name, s.labels, s.points).points
        times = np.array([t for t, _ in points])
        values = np.array([v for _, v in points], dtype=float)
        drops = np.concatenate([[0.0], np.where(np.diff(values) < 0, values[:-1], 0.0)])
        values = values + np.cumsum(drops)  # resets added back
        at = np.interp(grid, times, values)
        rate = np.diff(at) / np.diff(grid)
        inside = (grid[1:] > times[0]) & (grid[:-1] < times[-1])
        total = np.where(inside, np.nan_to_num(total) + rate, total)
    return total


def _gauge_row(series: Sequence[Series], grid: np.ndarray) -> np.ndarray:
    """Summed gauges on the grid, each held at its last value within its span (NaN outside all)."""
    total = np.full(grid.size, np.nan)
    for s in series:
        if not s.points:
            continue
        times = np.array([t for t, _ in s.points])
        values = np.array([v for _, v in s.points], dtype=float)
        idx = np.clip(np.searchsorted(times, grid, side="right") - 1, 0, None)
        inside = (grid >= times[0]) & (grid <= times[-1] + 1e-9)
        total = np.where(inside, np.nan_to_num(total) + values[idx], total)
    return total


def _stats(row: np.ndarray) -> tuple[float, float, float] | None:
    values = row[~np.isnan(row)]
    if values.size == 0:
        return None
    return float(np.mean(values)), float(np.quantile(values, 0.95)), float(np.max(values))


def _cpu(usage: UsageSeries | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    grid = _regular_grid(usage.series)
    row = _counter_rate_row(usage.series, grid) if usage.transform == "rate" else _gauge_row(usage.series, grid)
    stats = _stats(row)
    if stats is None:
        return None
    mean, p95, peak = stats
    return {"mean": mean, "p95": p95, "max": peak, "unit": "cores", "source": usage.source, "metric": usage.metric}


def _memory(usage: UsageSeries | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    grid = _regular_grid(usage.series)
    values = _gauge_row(usage.series, grid)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    return {"max": float(np.max(values)), "last": float(values[-1]), "unit": "bytes", "source": usage.source,
            "metric": usage.metric, "instances": len({s.instance for s in usage.series})}


def _span(series: Sequence[Series]) -> float:
    starts = [s.points[0][0] for s in series if len(s.points) >= 2]
    ends = [s.points[-1][0] for s in series if len(s.points) >= 2]
    return max(ends) - min(starts) if starts else 0.0


def _reconciles(view: BundleView, target: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    series = [s for s in view.series(RECONCILE_TOTAL, target=target) if len(s.points) >= 2]
    span = _span(series)
    if not series or span <= 0:
        return None, None
    by_result: dict[str, list[Series]] = defaultdict(list)
    for s in series:
        by_result[s.labels.get("result", "")].append(s)
    rates = {result: total_increase(members) / span for result, members in sorted(by_result.items())}
    total = sum(rates.values())
    errors = rates.get("error", 0.0)
    rate = {"by_result": rates, "total": total, "unit": "per_second", "source": RECONCILE_TOTAL,
            "seconds": span}
    error = {"value": errors, "ratio": errors / total if total > 0 else None, "unit": "per_second",
             "source": f'{RECONCILE_TOTAL}{{result="error"}}'}
    return rate, error


def _workqueue_depth(view: BundleView, target: str) -> dict[str, Any] | None:
    series = [s for s in view.series(WORKQUEUE_DEPTH, target=target) if s.points]
    if not series:
        return None
    per_queue = {s.labels.get("name", ""): max(v for _, v in s.points) for s in series}
    summed = _gauge_row(series, _regular_grid(series))
    return {"max": float(np.nanmax(summed)), "max_by_queue": dict(sorted(per_queue.items())), "unit": "items",
            "source": WORKQUEUE_DEPTH}


def _reconcile_p99(view: BundleView, target: str) -> dict[str, Any] | None:
    buckets = view.series(RECONCILE_TIME + "_bucket", target=target)
    if not buckets:
        return None
    value = histogram_quantile(0.99, bucket_increases(buckets))
    if math.isnan(value):
        return None
    return {"value": value, "unit": "seconds", "source": RECONCILE_TIME}


def _api_rate(view: BundleView, target: str) -> dict[str, Any] | None:
    series = [s for s in view.series(API_REQUESTS, target=target) if len(s.points) >= 2]
    span = _span(series)
    if not series or span <= 0:
        return None
    return {"value": total_increase(series) / span, "unit": "per_second", "source": API_REQUESTS}


def _throttled(view: BundleView, target: str) -> dict[str, Any] | None:
    """Seconds client-go waited in its client-side rate limiter (from its log lines); None without logs."""
    if view.log_count(target) == 0:
        return None
    seen: set[tuple[float, str]] = set()
    waited = 0.0
    lines = 0
    for needle in ("client-side throttling", NEW_MESSAGE):
        for record in view.logs(target=target, contains=needle):
            ident = (record.ts, record.raw or record.message)
            wait = parse_wait(record)
            if wait is None or ident in seen:
                continue
            seen.add(ident)
            waited += wait.delay
            lines += 1
    return {"value": waited, "lines": lines, "unit": "seconds", "source": "client-go throttling log lines"}


def target_summary(view: BundleView, target: str) -> dict[str, Any]:
    """The summary block of one target (see the module docstring); absent data is None."""
    start, end = view.time_range()
    reconcile_rate, error_rate = _reconciles(view, target)
    return {
        "target": target,
        "capture": {"start": start, "end": end, "seconds": end - start},
        "cpu_cores": _cpu(usage_series(view, target, "cpu")),
        "memory_bytes": _memory(usage_series(view, target, "memory")),
        "reconcile_rate": reconcile_rate,
        "error_rate": error_rate,
        "workqueue_depth": _workqueue_depth(view, target),
        "reconcile_p99_seconds": _reconcile_p99(view, target),
        "api_request_rate": _api_rate(view, target),
        "throttled_seconds": _throttled(view, target),
    }


def bundle_summary(view: BundleView) -> dict[str, dict[str, Any]]:
    """``{target name: target_summary}`` for every target of the bundle."""
    return {t.name: target_summary(view, t.name) for t in view.targets()}
