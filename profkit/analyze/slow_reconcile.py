"""slow-reconcile: reconcile time p99 from the histogram, longest-running processor and unfinished work."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.analyze.throttling_logs import is_throttled
from profkit.analyze.workqueue import queue_series
from profkit.analyze.metrics_math import (
    finite, histogram_stats, label_values, series_of, summed_gauge, total_increase, trend,
)
from profkit.analyze.rules import SlowReconcileRules, rules_from
from profkit.analyze.tuning import tuning_for
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Series, Severity
from profkit.model.metric_names import RECONCILE_TIME, RECONCILE_TIME_COUNT, WORKQUEUE_WORK_DURATION

ID = "slow-reconcile"


def _level(value: float, warning: float, critical: float) -> int:
    return 2 if value >= critical else 1 if value >= warning else 0


def _controllers(view: BundleView) -> set[tuple[str, str]]:
    found = label_values(view, RECONCILE_TIME_COUNT, "controller")
    found |= label_values(view, "workqueue_longest_running_processor_seconds", "name")
    return {k for k in found if k[1]}


def _surely_fast(view: BundleView, target: str, controller: str, counts: list[Series], threshold: float) -> bool:
    """Whether 99 % of reconciles fell in the bucket bounded by ``threshold`` (then p99 <= threshold).

    Reads two bucket series per instance instead of all of them; a large bundle has thousands.
    Undecided (False) when the threshold is not a bucket bound.
    """
    total = total_increase(counts)
    if total <= 0:
        return True
    for text in (f"{threshold:g}", f"{threshold:.1f}"):
        below = view.series("controller_runtime_reconcile_time_seconds_bucket", target=target,
                            controller=controller, le=text)
        if below:
            return total_increase(below) >= 0.99 * total
    return False


def _assess(view: BundleView, target: str, controller: str, rules: SlowReconcileRules
            ) -> tuple[int, dict[str, Any], list[str]]:
    evidence: dict[str, Any] = {"controller": controller, "series": []}
    how: list[str] = []
    level = 0
    base = RECONCILE_TIME
    counts = series_of(view, base + "_count", target=target, controller=controller)
    stats = None
    if not _surely_fast(view, target, controller, counts, rules.warning_p99_seconds):
        stats = histogram_stats(view.series(base + "_bucket", target=target, controller=controller),
                                series_of(view, base + "_sum", target=target, controller=controller), counts)
    if stats is not None:
        evidence.update(reconciles=stats.count, mean_seconds=finite(stats.mean), p50_seconds=finite(stats.p50),
                        p90_seconds=finite(stats.p90), p99_seconds=finite(stats.p99))
        evidence["series"].append(f'{base}_bucket{{controller="{controller}"}}')
        lv = _level(stats.p99, rules.warning_p99_seconds, rules.critical_p99_seconds)
        if lv:
            how.append(f"reconcile p99 {stats.p99:.2f}s (mean {stats.mean:.2f}s over {stats.count:.0f})")
        level = max(level, lv)
    longest = summed_gauge(queue_series(view, "workqueue_longest_running_processor_seconds", target, controller))
    if longest:
        worst_ts, worst = max(longest, key=lambda p: p[1])
        evidence["longest_running_seconds"] = round(worst, 2)
        evidence["longest_running_at"] = worst_ts
        evidence["series"].append(f'workqueue_longest_running_processor_seconds{{name="{controller}"}}')
        lv = _level(worst, rules.warning_longest_running_seconds, rules.critical_longest_running_seconds)
        if lv:
            how.append(f"a processor ran {worst:.0f}s")
        level = max(level, lv)
    unfinished = summed_gauge(queue_series(view, "workqueue_unfinished_work_seconds", target, controller))
    if unfinished:
        t = trend(unfinished)
        evidence["unfinished_work_seconds"] = {"max": max(v for _, v in unfinished),
                                               "growth_per_min": round(t.slope * 60, 2) if t else None}
        evidence["series"].append(f'workqueue_unfinished_work_seconds{{name="{controller}"}}')
    return level, evidence, how


@analyzer(ID, series=(RECONCILE_TIME, WORKQUEUE_WORK_DURATION))
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Flag controllers whose reconciles take long (p99) or get stuck (longest running processor)."""
    rules = rules_from(options).slow_reconcile
    targets = view.targets()
    by_target: dict[str, list[str]] = defaultdict(list)
    for target, controller in sorted(_controllers(view)):
        by_target[target].append(controller)
    findings: list[Finding] = []
    for target, controllers in sorted(by_target.items()):
        tuning = tuning_for(targets, target, view)
        throttled: bool | None = None
        for controller in controllers:
            level, evidence, how = _assess(view, target, controller, rules)
            if level == 0:
                continue
            severity: Severity = "critical" if level == 2 else "warning"
            advice = (f"Find where the {controller} reconcile spends its time: open the CPU profile of the same "
                      "window (profkit flame) for CPU-bound work, and look for blocking calls (API round-trips, "
                      "external services, sleeps) for wall time. Move slow external work out of the reconcile "
                      "(return RequeueAfter and check back) so workers are not held.")
            if throttled is None:
                throttled = is_throttled(view, target, tuning.qps)
            if throttled:
                severity = "info"
                evidence["blocked_by_throttling"] = True
                advice = (f"Reconciles are slow because API calls wait in client-side throttling: raise "
                          f"{tuning.rate_limit_names()} first (see client-side-throttling), then re-measure."
                          + tuning.rate_limit_note())
            findings.append(Finding(
                id=ID, severity=severity, target=target,
                title=f"{controller}: slow reconciles: " + "; ".join(how),
                evidence=evidence,
                recommendation=advice,
            ))
    return findings
