"""client-side-throttling: client-go's token bucket delaying API requests (logs, rate limiter histogram, or inferred)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import replace
from typing import Any

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.analyze.metrics_math import (
    average_rate, calls_per_reconcile, finite, fraction, histogram_stats, percentile, round_up_nice,
    series_of, summed_gauge, summed_rate, trend,
)
from profkit.analyze.rules import ThrottlingRules, rules_from
from profkit.analyze.throttling_logs import NEW_MESSAGE, Wait, parse_wait
from profkit.analyze.tuning import Tuning, tuning_for
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Severity
from profkit.model.metric_names import RECONCILE_TOTAL, REST_CLIENT_REQUESTS, WORKQUEUE_DEPTH

ID = "client-side-throttling"

RESOURCE = re.compile(r"/(?:api/v1|apis/[^/]+/[^/]+)(?:/namespaces/[^/]+)?/([a-z0-9.-]+)")
MAX_SAMPLES = 5


def _waits_by_target(view: BundleView) -> dict[str, list[Wait]]:
    seen: set[tuple[float, str, str]] = set()
    out: dict[str, list[Wait]] = defaultdict(list)
    for needle in ("client-side throttling", NEW_MESSAGE):
        for r in view.logs(contains=needle):
            ident = (r.ts, r.instance, r.raw or r.message)
            if ident in seen:
                continue
            seen.add(ident)
            wait = parse_wait(r)
            if wait is not None:
                out[r.target].append(wait)
    return out


def _log_evidence(waits: list[Wait], rules: ThrottlingRules) -> dict[str, Any]:
    delays = [w.delay for w in waits]
    worst = max(waits, key=lambda w: w.delay)
    resources = Counter(m.group(1) for w in waits if (m := RESOURCE.search(w.url)))
    samples = [w.line for w in waits[:MAX_SAMPLES - 1]]
    if worst.line not in samples:
        samples.append(worst.line)
    return {
        "throttled_requests_logged": len(waits),
        "waits_over_critical": sum(1 for d in delays if d > rules.critical_wait_seconds),
        "max_wait_seconds": round(max(delays), 3),
        "p50_wait_seconds": round(percentile(delays, 0.5), 3),
        "p95_wait_seconds": round(percentile(delays, 0.95), 3),
        "total_wait_seconds": round(sum(delays), 2),
        "window": [waits[0].ts, waits[-1].ts],
        "by_verb": dict(Counter(w.verb for w in waits if w.verb).most_common()),
        "by_resource": dict(resources.most_common(5)),
        "log_samples": samples,
    }


def _recommend(tuning: Tuning, demand_rps: float, rules: ThrottlingRules) -> tuple[int, int]:
    qps = round_up_nice(max(2 * tuning.qps, demand_rps * rules.demand_headroom))
    burst = max(2 * qps, int(tuning.burst))
    return qps, burst


@analyzer(ID, series=(REST_CLIENT_REQUESTS, "rest_client_rate_limiter_duration_seconds"), logs=True)
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Flag targets whose API requests wait in client-go's client-side rate limiter."""
    rules = rules_from(options).client_side_throttling
    targets = view.targets()
    waits = _waits_by_target(view)
    names = sorted(set(waits) | {s.target for s in series_of(view, REST_CLIENT_REQUESTS)}
                   | {s.target for s in series_of(view, "rest_client_rate_limiter_duration_seconds_count")})
    findings: list[Finding] = []
    for target in names:
        tuning = tuning_for(targets, target, view)
        requests = series_of(view, REST_CLIENT_REQUESTS, target=target)
        rates = summed_rate(requests)
        observed = average_rate(requests)
        peak = max((v for _, v in rates), default=0.0)
        evidence: dict[str, Any] = {
            "configured": tuning.describe(),
            "requests_per_s": round(observed, 2),
            "peak_requests_per_s": round(peak, 2),
        }
        if requests:
            evidence["series"] = [{"name": REST_CLIENT_REQUESTS, "labels": s.labels, "instance": s.instance}
                                  for s in requests[:10]]
        severity: Severity | None = None
        how: list[str] = []
        demand = peak
        target_waits = waits.get(target, [])
        if target_waits and rates and not tuning.sources.get("qps", "").startswith(("args", "target")):
            # The flags are unknown (an endpoint target): the request rate's ceiling while throttled is the QPS.
            ceiling = percentile([v for _, v in rates], 0.9)
            if 0 < ceiling < 0.9 * tuning.qps:
                tuning = replace(tuning, qps=round(ceiling, 1), burst=min(tuning.burst, round(ceiling, 1)),
                                 sources={**tuning.sources, "qps": "inferred: request rate ceiling while throttled",
                                          "burst": "unknown"})
                evidence["configured"] = tuning.describe()
        if target_waits:
            evidence.update(_log_evidence(target_waits, rules))
            severity = "critical" if evidence["max_wait_seconds"] > rules.critical_wait_seconds else "warning"
            how.append(f"{len(target_waits)} throttling log lines, waits up to {evidence['max_wait_seconds']:g}s")
            # A wait of w s behind a bucket refilling at qps means ~w x qps requests were queued ahead.
            demand = max(demand, tuning.qps * (1 + evidence["p95_wait_seconds"]))
        hist = histogram_stats(
            series_of(view, "rest_client_rate_limiter_duration_seconds_bucket", target=target),
            series_of(view, "rest_client_rate_limiter_duration_seconds_sum", target=target),
            series_of(view, "rest_client_rate_limiter_duration_seconds_count", target=target))
        if hist is not None:
            evidence["rate_limiter_wait"] = {"series": "rest_client_rate_limiter_duration_seconds",
                                             "requests": hist.count, "mean_seconds": finite(hist.mean),
                                             "p99_seconds": finite(hist.p99)}
            if hist.p99 > rules.critical_wait_seconds:
                severity = "critical"
            elif hist.mean > rules.warning_mean_wait_seconds and severity is None:
                severity = "warning"
            if severity is not None:
                how.append(f"rate limiter wait p99 {hist.p99:.2f}s, mean {hist.mean:.3f}s")
                demand = max(demand, tuning.qps * (1 + hist.p99))
        if severity is None and tuning.qps > 0 and rates:
            pinned = fraction(rates, lambda v: v >= rules.pinned_ratio * tuning.qps)
            depth = summed_gauge(series_of(view, WORKQUEUE_DEPTH, target=target))
            depth_trend = trend(depth)
            growing = depth_trend is not None and depth_trend.growth > 0 and depth_trend.last > depth_trend.first
            evidence["pinned_share"] = round(pinned, 3)
            if depth_trend is not None:
                evidence["workqueue_depth"] = {"first": depth_trend.first, "last": depth_trend.last,
                                               "growth_per_min": round(depth_trend.slope * 60, 2)}
            if pinned >= rules.pinned_share and growing and depth_trend is not None:
                severity = "warning"
                evidence["inferred"] = True
                how.append(f"rest_client_requests_total pinned at >= {rules.pinned_ratio:.0%} of "
                           f"{tuning.qps:g} QPS in {pinned:.0%} of scrapes while workqueue_depth grew "
                           f"{depth_trend.first:g} -> {depth_trend.last:g}")
                per = calls_per_reconcile(requests, series_of(view, RECONCILE_TOTAL, target=target))
                backlog_rps = depth_trend.slope * (per or 1.0)
                demand = max(demand, observed + backlog_rps)
        if severity is None:
            continue
        qps, burst = _recommend(tuning, demand, rules)
        evidence["estimated_demand_rps"] = round(demand, 2)
        absent = tuning.rate_flags == "absent"
        how_to = tuning.set_rate_limit(qps, burst)
        evidence["recommended"] = ({"QPS": qps, "Burst": burst} if absent
                                   else {tuning.qps_flag: qps, tuning.burst_flag: burst})
        evidence["controller_flags"] = tuning.flags_status()
        known = tuning.sources.get("qps", "").startswith(("args", "target", "catalog", "inferred"))
        evidence["qps_known"] = known
        if known:
            advice = (f"Raise the client rate limit to {qps} QPS / {burst} burst"
                      + (f": {how_to}" if how_to else "")
                      + f" (now {tuning.qps:g}/{tuning.burst:g}; estimated demand {demand:.1f} req/s x "
                      f"{rules.demand_headroom:g} headroom).")
        else:
            # Neither the flags nor the request rate are in the bundle: size relative to the unknown QPS.
            factor = max(2.0, demand / tuning.qps * rules.demand_headroom)
            advice = (f"Raise the client rate limit ({tuning.rate_limit_names()}) to about {factor:.0f}x "
                      f"its current value (waits of {evidence.get('p95_wait_seconds', 0):g} s at p95 mean "
                      f"requests queue that long behind the token bucket); at the controller-runtime default "
                      f"{tuning.qps:g}/{tuning.burst:g} that is {tuning.qps_burst_flags(qps, burst)}. The bundle "
                      "has neither the controller's flags nor rest_client_requests_total to size it exactly.")
        findings.append(Finding(
            id=ID, severity=severity, target=target,
            title=(f"Client-side throttling at {tuning.qps:g} QPS: " if known else "Client-side throttling: ")
            + "; ".join(how),
            evidence=evidence,
            recommendation=(
                advice + tuning.rate_limit_note()
                + " If the API server can take it, check calls per reconcile first (cache reads, fewer GETs)."
            ),
            series=(REST_CLIENT_REQUESTS,) if requests else (),
            window=(target_waits[0].ts, target_waits[-1].ts) if target_waits else None,
            log_samples=tuple(evidence.get("log_samples", ())),
        ))
    return findings
