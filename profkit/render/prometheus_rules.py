"""Prometheus alerting rules for the analyzers that can be judged on metrics alone, thresholds from analyze/rules.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import yaml

from profkit.analyze.rules import DEFAULT_RULES, Rules
from profkit.analyze.tuning import GENERIC_QPS, Tuning, resolve_tuning
from profkit.catalog import builtin_catalog
from profkit.model import Target
from profkit.model.metric_names import GO_GOROUTINES, PROCESS_RESIDENT_MEMORY

RuleFormat = Literal["prometheus", "prometheusrule"]
Severity = Literal["warning", "critical"]
TARGET = "namespace, job"  # a capture target: kube-prometheus-stack's job is the Service / PodMonitor
CONTROLLER = "namespace, job, controller"
INSTANCE = "namespace, job, instance"
INSTANCE_CONTROLLER = "namespace, job, instance, controller"
SUBQUERY_STEP = "1m"


@dataclass(frozen=True)
class AlertRule:
    """One alert: the analyzer's finding id, its severity, the PromQL and the labels its series carry."""

    finding_id: str
    severity: Severity
    expr: str
    by: str  # the labels the alert carries (besides alertname and severity)
    summary: str
    fix: str

    @property
    def alert(self) -> str:
        name = "Profkit" + "".join(part.capitalize() for part in self.finding_id.split("-"))
        return name + ("Critical" if self.severity == "critical" else "")


def _as_controller(expr: str) -> str:
    """Workqueue series name their controller in ``name``; give them controller-runtime's ``controller`` label."""
    return f'label_replace({expr}, "controller", "$1", "name", "(.+)")'


def _quantile(q: float, bucket: str, by: str, window: str, rename: bool = False) -> str:
    increase = f"increase({bucket}[{window}])"
    return f"histogram_quantile({q:g}, sum by ({by}, le) ({_as_controller(increase) if rename else increase}))"


def _pinned(qps: float, pinned_ratio: float, pinned_share: float, window: str) -> str:
    """client-go's token bucket pinned: request rate at ``pinned_ratio`` of QPS in ``pinned_share`` of the window."""
    rate = f"sum by ({TARGET}) (rate(rest_client_requests_total[2m]))"
    return f"avg_over_time(({rate} >= bool {pinned_ratio * qps:g})[{window}:{SUBQUERY_STEP}]) >= {pinned_share:g}"


def _growth(metric: str, seconds: int, min_growth: float, relative: float, critical: bool) -> str:
    """Least-squares growth over the window (as the analyzer's trend fit) relative to the fitted start."""
    window = f"{seconds}s"
    growth = f"deriv({metric}[{window}]) * {seconds}"
    start = f"predict_linear({metric}[{window}], -{seconds})"
    expr = f"({growth} >= {min_growth:g}) and ({growth}) / ({start}) >= {relative:g}"
    if critical:  # ... and still growing over the last third
        expr += f" and deriv({metric}[{max(seconds // 3, 60)}s]) > 0"
    return f"max by ({INSTANCE}) ({expr})"


def catalog_flags() -> str:
    """Every catalog entry's tuning flags, for the runbook text."""
    lines = []
    for alias, spec in sorted(builtin_catalog().items()):
        concurrency = ", ".join(spec.concurrency_flags()) or "--concurrency"
        history = spec.flag_history.get(spec.flag("qps", "--kube-api-qps"))
        since = (f" (from {spec.release(history.since_text)})" if history and history.since_text
                 else f" (since {history.change})" if history else "")
        lines.append(f"{alias}: {spec.flag('qps', '--kube-api-qps')}/{spec.flag('burst', '--kube-api-burst')}{since}, "
                     f"{concurrency}, {spec.flag('sync_period', '--sync-period')}")
    return "; ".join(lines)


def alert_rules(rules: Rules = DEFAULT_RULES, window_seconds: int = 1200, qps: float | None = None,
                target: str | None = None) -> list[AlertRule]:
    """The alerts, warning then critical per finding id; ``target`` is a catalog alias whose flags and QPS to use."""
    tuning: Tuning = resolve_tuning(Target(target, "deployment", {"alias": target}) if target else None, target or "")
    limit = qps if qps is not None else (tuning.qps if target else GENERIC_QPS)
    w = f"{window_seconds}s"
    out: list[AlertRule] = []

    t = rules.client_side_throttling
    p99 = _quantile(0.99, "rest_client_rate_limiter_duration_seconds_bucket", TARGET, w)
    mean = (f"sum by ({TARGET}) (increase(rest_client_rate_limiter_duration_seconds_sum[{w}])) / "
            f"sum by ({TARGET}) (increase(rest_client_rate_limiter_duration_seconds_count[{w}]))")
    depth_grows = f"sum by ({TARGET}) (deriv(workqueue_depth[{w}])) > 0"
    pinned = _pinned(limit, t.pinned_ratio, t.pinned_share, w)
    names = (tuning.rate_limit_names() if target
             else f"(QPS/Burst: {tuning.qps_flag}/{tuning.burst_flag} where the controller has these flags)")
    throttle_fix = (f"Raise the client rate limit {names} (rules assume QPS {limit:g}); "
                    "check calls per reconcile first (cache reads, fewer GETs). Run profkit analyze on a capture "
                    "for the exact values." + (tuning.rate_limit_note() if target else ""))
    out.append(AlertRule("client-side-throttling", "warning",
                         f"({p99} > {t.critical_wait_seconds:g}) or ({mean} > {t.warning_mean_wait_seconds:g}) "
                         f"or (({pinned}) and ({depth_grows}))",
                         TARGET, "API requests wait in client-go's client-side rate limiter", throttle_fix))
    out.append(AlertRule("client-side-throttling", "critical", f"{p99} > {t.critical_wait_seconds:g}", TARGET,
                         f"rate limiter wait p99 over {t.critical_wait_seconds:g}s", throttle_fix))

    c = rules.concurrency_saturation
    maximum = f"max by ({INSTANCE_CONTROLLER}) (controller_runtime_max_concurrent_reconciles)"
    active = f"max by ({INSTANCE_CONTROLLER}) (controller_runtime_active_workers)"
    saturated = f"avg_over_time((({active} >= bool {maximum}) * ({maximum} > bool 0))[{w}:{SUBQUERY_STEP}])"
    depth = f"sum by ({INSTANCE_CONTROLLER}) ({_as_controller('workqueue_depth')})"
    above = f"avg_over_time(({depth} > bool {maximum})[{w}:{SUBQUERY_STEP}])"
    ratio = (f"{_quantile(0.9, 'workqueue_queue_duration_seconds_bucket', CONTROLLER, w, rename=True)} / "
             f"{_quantile(0.9, 'workqueue_work_duration_seconds_bucket', CONTROLLER, w, rename=True)}")
    per_instance_ratio = f"(({maximum}) * 0 + on ({CONTROLLER}) group_left () ({ratio}))"
    growth = f"sum by ({INSTANCE_CONTROLLER}) ({_as_controller(f'deriv(workqueue_depth[{w}])')}) * {window_seconds}"
    not_throttled = f"unless on ({TARGET}) ({pinned})"
    concurrency_fix = ("Raise the controller's concurrency flag (Little's law: arrival rate x seconds per reconcile x "
                       f"{c.headroom:g}); if the controller is throttled client-side, raise its QPS first.")
    out.append(AlertRule("concurrency-saturation", "warning",
                         f"(({saturated} >= {c.warning_saturated:g}) and (({above} >= 0.25) or "
                         f"({per_instance_ratio} >= {c.wait_ratio:g}))) {not_throttled}",
                         INSTANCE_CONTROLLER, "every reconcile worker busy while items wait in the workqueue",
                         concurrency_fix))
    out.append(AlertRule("concurrency-saturation", "critical",
                         f"(({saturated} >= {c.critical_saturated:g}) and (({above} >= 0.25) or "
                         f"({per_instance_ratio} >= {c.wait_ratio:g})) and (({growth} >= "
                         f"clamp_min({maximum}, {c.critical_depth_growth:g})) or "
                         f"({per_instance_ratio} >= {c.critical_wait_ratio:g}))) {not_throttled}",
                         INSTANCE_CONTROLLER, "workers saturated and the workqueue keeps growing", concurrency_fix))

    e = rules.reconcile_errors
    errors = f'sum by ({CONTROLLER}) (increase(controller_runtime_reconcile_total{{result="error"}}[{w}]))'
    total = f"sum by ({CONTROLLER}) (increase(controller_runtime_reconcile_total[{w}]))"
    panics = f"sum by ({CONTROLLER}) (increase(controller_runtime_reconcile_panics_total[{w}])) > 0"
    errors_fix = ("Fix the most frequent error in the reconciler (profkit analyze groups the messages); ignore "
                  "NotFound with client.IgnoreNotFound(err), re-read before update on conflicts.")
    out.append(AlertRule("reconcile-errors", "warning",
                         f"(({errors} / {total} >= {e.warning_error_share:g}) and ({errors} >= {e.min_errors:g})) "
                         f"or ({panics})", CONTROLLER, "reconciles returning errors", errors_fix))
    out.append(AlertRule("reconcile-errors", "critical",
                         f"(({errors} / {total} >= {e.critical_error_share:g}) and ({errors} >= {e.min_errors:g})) "
                         f"or ({panics})", CONTROLLER, "a large share of reconciles fail, or one panicked", errors_fix))

    s = rules.slow_reconcile
    reconcile_p99 = _quantile(0.99, "controller_runtime_reconcile_time_seconds_bucket", CONTROLLER, w)
    longest = (f"max by ({CONTROLLER}) "
               f"({_as_controller(f'max_over_time(workqueue_longest_running_processor_seconds[{w}])')})")
    slow_fix = ("Find where the reconcile spends its time (profkit flame on a CPU profile of the window, blocking "
                "API calls or external services); move slow work out of the reconcile (RequeueAfter).")
    for severity, p99_limit, longest_limit in (("warning", s.warning_p99_seconds, s.warning_longest_running_seconds),
                                               ("critical", s.critical_p99_seconds,
                                                s.critical_longest_running_seconds)):
        out.append(AlertRule("slow-reconcile", severity,  # type: ignore[arg-type]
                             f"(({reconcile_p99} >= {p99_limit:g}) or ({longest} >= {longest_limit:g})) "
                             f"{not_throttled}", CONTROLLER,
                             f"reconcile p99 over {p99_limit:g}s or a processor running {longest_limit:g}s", slow_fix))

    m = rules.memory_growth
    memory_fix = ("Compare heap profiles of the start and the end (profkit flame --diff --kind heap): the top grower "
                  "is the leak, unless the object count grew as much (this rule cannot see the object count).")
    for severity, relative in (("warning", m.warning_growth), ("critical", m.critical_growth)):
        critical = severity == "critical"
        expr = " or ".join(f"({_growth(metric, window_seconds, m.min_growth_bytes, relative, critical)})"
                           for metric in ("go_memstats_heap_inuse_bytes", PROCESS_RESIDENT_MEMORY))
        out.append(AlertRule("memory-growth", severity, expr, INSTANCE,  # type: ignore[arg-type]
                             f"memory grew over {relative:.0%} of its start in {window_seconds}s", memory_fix))
    g = rules.goroutine_growth
    goroutine_fix = ("Compare goroutine profiles of the start and the end (profkit flame --diff --kind goroutine): "
                     "the growing group names the code that starts goroutines and never ends them.")
    for severity, relative in (("warning", g.warning_growth), ("critical", g.critical_growth)):
        out.append(AlertRule("goroutine-growth", severity,  # type: ignore[arg-type]
                             _growth(GO_GOROUTINES, window_seconds, g.min_growth, relative, severity == "critical"),
                             INSTANCE, f"goroutines grew over {relative:.0%} of their start in {window_seconds}s",
                             goroutine_fix))

    gc = rules.gc_pressure
    out.append(AlertRule("gc-pressure", "warning",
                         f"avg by ({TARGET}) (rate(go_gc_duration_seconds_sum[{w}])) >= {gc.warning_pause_share:g}",
                         TARGET, f"GC stop-the-world pauses over {gc.warning_pause_share:.0%} of wall time",
                         "Find the allocation hot spot (profkit flame --kind allocs) and allocate less, or raise "
                         "GOGC / set GOMEMLIMIT if memory allows."))
    return out


def rule_annotations(rule: AlertRule) -> dict[str, str]:
    """Static annotations (no templating): the finding id, what it means, the fix and the catalog's flags."""
    return {
        "finding_id": rule.finding_id,
        "summary": f"{rule.finding_id}: {rule.summary}",
        "fix": rule.fix,
        "runbook": (f"profkit analyze reports {rule.finding_id} with the exact flag values; capture the target "
                    f"(profkit capture --deployment ...) or import this window (profkit import prometheus ...). "
                    f"Tuning flags per controller: {catalog_flags()}"),
    }


def rule_groups(rules: Rules = DEFAULT_RULES, window_seconds: int = 1200, qps: float | None = None,
                target: str | None = None) -> dict[str, Any]:
    """A Prometheus rule file's content: one group per finding id."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in alert_rules(rules, window_seconds, qps, target):
        groups.setdefault(rule.finding_id, []).append({
            "alert": rule.alert,
            "expr": rule.expr,
            "labels": {"severity": rule.severity, "finding_id": rule.finding_id},
            "annotations": rule_annotations(rule),
        })
    return {"groups": [{"name": f"profkit-{finding_id}", "rules": items} for finding_id, items in groups.items()]}


def render_rules(fmt: RuleFormat = "prometheus", rules: Rules = DEFAULT_RULES, window_seconds: int = 1200,
                 qps: float | None = None, target: str | None = None, name: str = "profkit") -> str:
    """YAML text of a rule file, or of a prometheus-operator PrometheusRule holding the same groups."""
    content = rule_groups(rules, window_seconds, qps, target)
    if fmt == "prometheusrule":
        content = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                   "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "profkit"}},
                   "spec": content}
    return yaml.safe_dump(content, sort_keys=False, width=10_000)
