"""concurrency-saturation: every reconcile worker busy while the workqueue backs up; sizes the concurrency flag."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.analyze.throttling_logs import is_throttled
from profkit.analyze.workqueue import queue_series
from profkit.analyze.metrics_math import (
    HistogramStats, average_rate, finite, fraction, histogram_mean, histogram_stats, sample_at, series_of,
    summed_gauge, trend,
)
from profkit.analyze.rate_budget import workers_for
from profkit.analyze.rules import rules_from
from profkit.analyze.tuning import tuning_for
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Series, Severity
from profkit.model.metric_names import (
    MAX_CONCURRENT_RECONCILES, RECONCILE_TIME_COUNT, RECONCILE_TOTAL, REST_CLIENT_REQUESTS,
    WORKQUEUE_DEPTH, WORKQUEUE_QUEUE_DURATION, WORKQUEUE_WORK_DURATION,
)

ID = "concurrency-saturation"


def queue_histogram(view: BundleView, base: str, target: str, controller: str) -> HistogramStats | None:
    return histogram_stats(queue_series(view, base + "_bucket", target, controller),
                           queue_series(view, base + "_sum", target, controller),
                           queue_series(view, base + "_count", target, controller))


def _saturation(active: list[Series], maximum: list[Series]) -> tuple[float, float, str]:
    """Best (share of samples with active >= max, max workers, instance) over the instances."""
    best = (0.0, 0.0, "")
    for m in maximum:
        a = next((s for s in active if s.instance == m.instance), None)
        if a is None or not a.points or not m.points:
            continue
        limits = sample_at(m.points, [t for t, _ in a.points])
        busy = [(t, 1.0 if limit > 0 and v >= limit else 0.0) for (t, v), limit in zip(a.points, limits)]
        share = fraction(busy, lambda v: v > 0)
        if share >= best[0]:
            best = (share, m.points[-1][1], m.instance)
    return best


@analyzer(ID, series=("controller_runtime_active_workers", WORKQUEUE_DEPTH, WORKQUEUE_QUEUE_DURATION))
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Flag controllers whose workers are all busy while items wait in the queue."""
    rules = rules_from(options).concurrency_saturation
    targets = view.targets()
    groups: dict[tuple[str, str], list[Series]] = defaultdict(list)
    for s in series_of(view, MAX_CONCURRENT_RECONCILES):
        groups[(s.target, s.labels.get("controller", ""))].append(s)
    findings: list[Finding] = []
    for (target, controller), maximum in sorted(groups.items()):
        active = series_of(view, "controller_runtime_active_workers", target=target, controller=controller)
        share, workers, instance = _saturation(active, maximum)
        if share < rules.warning_saturated or workers <= 0:
            continue
        depth_points = summed_gauge([s for s in queue_series(view, WORKQUEUE_DEPTH, target, controller)
                                     if not instance or s.instance == instance])
        depth_trend = trend(depth_points)
        above = fraction(depth_points, lambda v: v > workers)
        queued = queue_histogram(view, WORKQUEUE_QUEUE_DURATION, target, controller)
        work = queue_histogram(view, WORKQUEUE_WORK_DURATION, target, controller)
        ratio = (queued.p90 / work.p90 if queued is not None and work is not None and work.p90 > 0
                 else math.nan)
        waiting = above >= 0.25 or (ratio == ratio and ratio >= rules.wait_ratio)
        if not waiting:
            continue
        backlog_grows = (depth_trend is not None and depth_trend.last > depth_trend.first
                         and depth_trend.growth >= max(rules.critical_depth_growth, workers))
        critical = share >= rules.critical_saturated and (
            backlog_grows or (ratio == ratio and ratio >= rules.critical_wait_ratio))
        tuning = tuning_for(targets, target, view)
        flag = tuning.concurrency_flag_for(controller)

        # Little's law: workers needed = arrival rate x time per reconcile (x headroom).
        adds = queue_series(view, "workqueue_adds_total", target, controller)
        reconciles = series_of(view, RECONCILE_TOTAL, target=target, controller=controller)
        arrival = average_rate(adds) or average_rate(reconciles)
        if depth_trend is not None and depth_trend.duration > 0 and depth_trend.growth > 0:
            arrival = max(arrival, average_rate(reconciles) + depth_trend.growth / depth_trend.duration)
        spent = histogram_mean(
            series_of(view, "controller_runtime_reconcile_time_seconds_sum", target=target, controller=controller),
            series_of(view, RECONCILE_TIME_COUNT, target=target, controller=controller))
        per_item = (spent if spent is not None
                    else work.mean if work is not None and work.mean == work.mean else None)
        needed = workers_for(arrival, per_item, rules.headroom) if per_item else 0
        recommended = max(needed, int(workers) * 2)
        evidence: dict[str, Any] = {
            "controller": controller,
            "instance": instance,
            "max_concurrent_reconciles": workers,
            "saturated_share": round(share, 3),
            "depth_above_workers_share": round(above, 3),
            "series": [f'controller_runtime_active_workers{{controller="{controller}"}}',
                       f'controller_runtime_max_concurrent_reconciles{{controller="{controller}"}}',
                       f'workqueue_depth{{name="{controller}"}}'],
            "arrival_per_s": round(arrival, 3),
            "seconds_per_reconcile": round(per_item, 4) if per_item else None,
            "littles_law_workers": round(arrival * per_item, 2) if per_item else None,
            "recommended_workers": recommended,
        }
        if depth_trend is not None:
            evidence["workqueue_depth"] = {"first": depth_trend.first, "last": depth_trend.last,
                                           "max": max(v for _, v in depth_points)}
        if queued is not None:
            evidence["queue_wait_p90_seconds"] = finite(queued.p90)
        if work is not None:
            evidence["work_p90_seconds"] = finite(work.p90)
        if ratio == ratio:
            evidence["queue_to_work_ratio"] = round(ratio, 1)
        severity: Severity = "critical" if critical else "warning"
        note = ""
        if is_throttled(view, target, tuning.qps):
            severity = "info"
            note = (f" Workers are blocked on client-side throttling ({tuning.qps_label}={tuning.qps:g}); "
                    "raise the QPS first (see client-side-throttling), more workers would only wait longer."
                    + tuning.rate_limit_note())
            evidence["blocked_by_throttling"] = True
        requests_needed = arrival * (average_rate(series_of(view, REST_CLIENT_REQUESTS, target=target))
                                     / max(average_rate(reconciles), 1e-9))
        if tuning.qps > 0 and requests_needed > 0.8 * tuning.qps:
            note += (f" At that rate the controller needs ~{requests_needed:.0f} req/s: check "
                     f"{tuning.qps_label} ({tuning.qps:g}) too."
                     + ("" if "blocked_by_throttling" in evidence else tuning.rate_limit_note()))
        findings.append(Finding(
            id=ID, severity=severity, target=target,
            title=(f"{controller}: all {workers:g} workers busy in {share:.0%} of samples"
                   + (f", queue wait p90 {ratio:.0f}x work p90" if ratio == ratio else "")),
            evidence=evidence,
            recommendation=(
                f"Set {flag}={recommended} (now {workers:g}): arrival {arrival:.2f} reconciles/s x "
                + (f"{per_item:.3f} s each = {arrival * per_item:.1f} busy workers x {rules.headroom:g} headroom."
                   if per_item else "unknown reconcile time; doubling as a first step.")
                + note
            ),
        ))
    return findings
