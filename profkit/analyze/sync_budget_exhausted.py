"""sync-budget-exhausted: periodic resync alone eating the client's QPS budget (the 600-cluster lesson)."""

from __future__ import annotations

from typing import Any

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.analyze.lifecycle import dominant_resource, live_count
from profkit.analyze.metrics_math import average_rate, calls_per_reconcile, histogram_mean, series_of
from profkit.analyze.rate_budget import DEFAULT_TARGET_SHARE, BudgetInput, BudgetPlan, default_for_objects, plan
from profkit.analyze.rules import SyncBudgetRules, rules_from
from profkit.analyze.tuning import Tuning, tuning_for
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Severity
from profkit.units import format_duration
from profkit.model.metric_names import (
    MAX_CONCURRENT_RECONCILES, RECONCILE_TIME_COUNT, RECONCILE_TOTAL, REST_CLIENT_REQUESTS,
    WORKQUEUE_DEPTH,
)

ID = "sync-budget-exhausted"


# Above this many log lines the distinct-key fallback would decode them all; it is skipped.
MAX_LOG_SCAN = 200_000


def observed_objects(view: BundleView, target: str, reconcile_rate: float = 0.0, sync_period: float = 0.0
                     ) -> tuple[float, str]:
    """Objects the target reconciles, and how that number was found.

    The object watcher's peak live count of the primary resource; else the distinct object keys
    the target logged about; else (an estimate, an upper bound) reconciles per second x the sync
    period, which assumes every reconcile is a periodic one.
    """
    events = view.objects()
    scoped = [e for e in events if e.target in ("", target)] or events
    resource = dominant_resource(scoped)
    if resource is not None:
        timeline = live_count(scoped, resource)
        return max(v for _, v in timeline), f"object watcher ({resource}, peak live)"
    if view.log_count(target) <= MAX_LOG_SCAN:
        keys = {r.object_key for r in view.logs(target=target) if r.object_key}
        if keys:
            return float(len(keys)), "distinct object keys in logs"
    if reconcile_rate > 0 and sync_period > 0:
        return round(reconcile_rate * sync_period), "estimated: reconciles/s x sync period (no object watcher)"
    return 0.0, "unknown"


def budget_for(view: BundleView, target: str, tuning: Tuning, target_share: float = DEFAULT_TARGET_SHARE
               ) -> tuple[BudgetPlan, dict[str, Any]] | None:
    """The rate budget model fed with what the bundle observed for one target, or None without data."""
    requests = series_of(view, REST_CLIENT_REQUESTS, target=target)
    reconciles = series_of(view, RECONCILE_TOTAL, target=target)
    per = calls_per_reconcile(requests, reconciles)
    if per is None or tuning.qps <= 0:
        return None
    reconcile_rate = average_rate(reconciles)
    objects, how = observed_objects(view, target, reconcile_rate, tuning.sync_period)
    if objects <= 0:
        return None
    resync_rate = objects / tuning.sync_period
    mean = histogram_mean(series_of(view, "controller_runtime_reconcile_time_seconds_sum", target=target),
                          series_of(view, RECONCILE_TIME_COUNT, target=target))
    workers = series_of(view, MAX_CONCURRENT_RECONCILES, target=target)
    concurrency = int(sum(s.points[-1][1] for s in workers if s.points)) or tuning.concurrency
    inp = BudgetInput(
        objects=objects, sync_period=tuning.sync_period, qps=tuning.qps, burst=tuning.burst,
        calls_per_reconcile=per, concurrency=concurrency,
        reconcile_time=mean,
        event_reconciles_per_s=max(0.0, reconcile_rate - resync_rate),
    )
    inputs = {
        "objects": objects, "objects_from": how,
        "sync_period_seconds": tuning.sync_period, "sync_period_from": tuning.sources.get("sync_period"),
        "qps": tuning.qps, "qps_from": tuning.sources.get("qps"), "burst": tuning.burst,
        "calls_per_reconcile": round(per, 2),
        "calls_per_reconcile_from": "rest_client_requests_total increase / controller_runtime_reconcile_total increase",
        "requests_per_s": round(average_rate(requests), 3), "reconciles_per_s": round(reconcile_rate, 3),
    }
    return plan(inp, default_for_objects(objects), target_share), inputs


def _severity(share: float, rules: SyncBudgetRules) -> Severity | None:
    if share >= rules.critical_share:
        return "critical"
    if share >= rules.warning_share:
        return "warning"
    if share >= rules.info_share:
        return "info"
    return None


@analyzer(ID, series=(RECONCILE_TOTAL, WORKQUEUE_DEPTH))
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Compute the share of the QPS budget periodic resync eats at the observed object count."""
    rules = rules_from(options).sync_budget_exhausted
    targets = view.targets()
    findings: list[Finding] = []
    names = sorted({s.target for s in series_of(view, REST_CLIENT_REQUESTS)})
    for target in names:
        tuning = tuning_for(targets, target, view)
        result = budget_for(view, target, tuning, rules.target_share)
        if result is None:
            continue
        p, inputs = result
        severity = _severity(p.share, rules)
        if severity is None:
            continue
        if str(inputs["objects_from"]).startswith("estimated"):
            severity = "info"  # circular without a real object count: it only restates the request rate
        holds = p.holds
        evidence: dict[str, Any] = {
            **inputs,
            "resync_requests_per_s": round(p.resync_rps, 3),
            "resync_share_of_qps": round(p.share, 3),
            "left_for_events_requests_per_s": round(p.left_rps, 3),
            "left_for_events_reconciles_per_min": round(p.left_reconciles_per_s * 60, 1),
            "knee_objects": round(p.knee_objects),
            "controller_flags": tuning.flags_status(),
            "flags_for": [{"objects": h.objects,
                           **({"QPS": h.qps, "Burst": h.burst} if tuning.rate_flags == "absent"
                              else {tuning.qps_flag: h.qps, tuning.burst_flag: h.burst}),
                           **({"concurrency": h.concurrency} if h.concurrency else {})} for h in holds],
            "series": [REST_CLIENT_REQUESTS, RECONCILE_TOTAL],
        }
        objects = int(inputs["objects"])
        sizing = "; ".join(f"{h.objects:g} objects: {tuning.qps_burst_flags(h.qps, h.burst)}" for h in holds)
        findings.append(Finding(
            id=ID, severity=severity, target=target,
            title=(f"Periodic resync alone eats {p.share:.0%} of {tuning.qps:g} QPS at {objects} objects "
                   f"(knee at {p.knee_objects:.0f} objects)"),
            evidence=evidence,
            series=(REST_CLIENT_REQUESTS, RECONCILE_TOTAL),
            recommendation=(
                f"{objects} objects / {format_duration(tuning.sync_period)} x {inputs['calls_per_reconcile']:g} calls = "
                f"{p.resync_rps:.2f} req/s of {tuning.qps:g} QPS before any event-driven work; "
                f"{max(p.left_rps, 0):.2f} req/s are left. Raise {tuning.rate_limit_names()} "
                f"({sizing}), or lengthen {tuning.sync_flag} (e.g. {tuning.sync_flag}="
                f"{format_duration(2 * tuning.sync_period)} halves resync cost), or cut API calls per reconcile. "
                f"Plan other counts with `profkit plan --objects N --sync-period {format_duration(tuning.sync_period)} "
                f"--qps {tuning.qps:g} --calls-per-reconcile {inputs['calls_per_reconcile']:g}`."
                + tuning.rate_limit_note()
            ),
        ))
    return findings
