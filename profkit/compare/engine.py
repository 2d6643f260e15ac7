"""``compare_bundles``: two bundle views in, one Comparison out (pure: no printing, no files written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from profkit.analyze import AnalyzeOptions, run_analyzers
from profkit.analyze.cpu_profiles import PROCESS_CPU, RECONCILE_TOTAL, cpu_profiles, process_cpu_increase
from profkit.analyze.metrics_math import total_increase
from profkit.bundle.reader import BundleView
from profkit.compare.budget import apply_budget
from profkit.compare.findings import finding_changes
from profkit.compare.functions import grown_functions
from profkit.compare.metrics import METRICS, target_metrics
from profkit.compare.model import (
    CHANGED, IMPROVED, MISSING, REGRESSED, UNCHANGED, UNTESTED, BudgetEntry, Comparison, MetricChange, MetricDef,
    MetricValue, RunInfo, TargetComparison,
)
from profkit.compare.stats import ALPHA, judge
from profkit.compare.windows import auto_window, slices
from profkit.errors import BadInput
from profkit.model import Finding

CRITICAL_FACTOR = 2.0  # a regression to at least twice the base value is critical


@dataclass
class CompareOptions:
    """Knobs of a comparison: window width (None: automatic), test level, budgets, analyzer options."""

    window_seconds: float | None = None
    alpha: float = ALPHA
    budgets: Sequence[BudgetEntry] = ()
    analyze: AnalyzeOptions = field(default_factory=AnalyzeOptions)
    top_functions: int = 10
    run_findings: bool = True
    base_findings: list[Finding] | None = None  # precomputed findings (tests, callers that already analyzed)
    new_findings: list[Finding] | None = None


def run_targets(view: BundleView) -> list[str]:
    """Targets of a run: declared ones, plus any seen only in profiles or controller metrics."""
    names = [t.name for t in view.targets()]
    seen = {r.target for r in view.profile_refs()}
    for metric in (PROCESS_CPU, RECONCILE_TOTAL):
        seen |= {s.target for s in view.series(metric)}
    return names + sorted(n for n in seen if n and n not in names)


def _has_data(view: BundleView, target: str) -> bool:
    return bool(view.metric_names(target)) or bool(view.profile_refs(target))


def _run_info(view: BundleView) -> RunInfo:
    start, end = view.time_range()
    return RunInfo(str(view.directory), start, end - start, view.status, run_targets(view))


def classify(metric: MetricDef, target: str, base: MetricValue | None, new: MetricValue | None,
             alpha: float = ALPHA) -> MetricChange:
    """The verdict on one metric of one target (see profkit.compare.stats for the rule)."""
    if base is None or new is None or base.value is None or new.value is None:
        side = "base" if base is None or base.value is None else "new"
        if (base is None or base.value is None) and (new is None or new.value is None):
            side = "both runs"
        return MetricChange(metric, target, base or MetricValue(None), new or MetricValue(None), MISSING,
                            reason=f"no data in {side}")
    verdict = judge(base.value, new.value, base.samples, new.samples, metric.min_relative, metric.min_absolute,
                    alpha)
    change = MetricChange(metric, target, base, new, UNCHANGED, p_value=verdict.p_value, reason=verdict.reason)
    if not verdict.tested:
        change.status = UNTESTED
    elif verdict.significant:
        worse = (verdict.direction > 0) if metric.better == "lower" else (verdict.direction < 0)
        if metric.better == "none":
            change.status = CHANGED
        elif worse:
            change.status = REGRESSED
            doubled = (new.value >= CRITICAL_FACTOR * base.value if metric.better == "lower"
                       else new.value * CRITICAL_FACTOR <= base.value)
            change.severity = "critical" if base.value > 0 and doubled else "warning"
        else:
            change.status = IMPROVED
    return change


def _context(view: BundleView, target: str) -> dict[str, float]:
    start, end = view.time_range()
    return {
        "duration_seconds": round(end - start, 3),
        "cpu_seconds": round(process_cpu_increase(view.series(PROCESS_CPU, target=target)), 6),
        "reconciles": round(total_increase(view.series(RECONCILE_TOTAL, target=target)), 3),
    }


def compare_bundles(base: BundleView, new: BundleView, options: CompareOptions | None = None) -> Comparison:
    """Compare every target present in both runs; BadInput when they share none or one side lacks data."""
    options = options or CompareOptions()
    base_targets, new_targets = run_targets(base), run_targets(new)
    common = [t for t in new_targets if t in base_targets]
    if not common:
        raise BadInput(f"the bundles capture different controllers: {base.directory} has "
                       f"{', '.join(base_targets) or 'no targets'}; {new.directory} has "
                       f"{', '.join(new_targets) or 'no targets'}")
    for target in common:
        for view, label in ((base, "BASE"), (new, "NEW")):
            if not _has_data(view, target):
                raise BadInput(f"{label} {view.directory}: target {target} has no metrics and no profiles")
    width = options.window_seconds or auto_window([base, new])
    if width <= 0:
        raise BadInput(f"window width {width:g} s: must be positive")
    base_windows, new_windows = slices(base, width), slices(new, width)
    base_cpu = {c.target: c for c in cpu_profiles(base)}
    new_cpu = {c.target: c for c in cpu_profiles(new)}
    result = Comparison(base=_run_info(base), new=_run_info(new), window_seconds=width, alpha=options.alpha,
                        only_in_base=[t for t in base_targets if t not in common],
                        only_in_new=[t for t in new_targets if t not in common])
    for target in common:
        before = target_metrics(base, target, base_windows)
        after = target_metrics(new, target, new_windows)
        tc = TargetComparison(target, context={"base": _context(base, target), "new": _context(new, target)})
        for metric in METRICS:
            if metric.id not in before and metric.id not in after:
                continue
            tc.metrics.append(classify(metric, target, before.get(metric.id), after.get(metric.id), options.alpha))
        if target in base_cpu and target in new_cpu:
            tc.functions, tc.normalised_per = grown_functions(
                base, base_cpu[target], new, new_cpu[target], options.top_functions, options.analyze.own_code)
        result.targets.append(tc)
    if options.run_findings:
        base_findings = (options.base_findings if options.base_findings is not None
                         else run_analyzers(base, options.analyze))
        new_findings = (options.new_findings if options.new_findings is not None
                        else run_analyzers(new, options.analyze))
        result.findings = finding_changes([f for f in base_findings if not f.target or f.target in common],
                                          [f for f in new_findings if not f.target or f.target in common])
    if options.budgets:
        result.budgets = apply_budget(options.budgets, result.targets, f"BASE {base.directory}",
                                      f"NEW {new.directory}")
    return result
