"""``compare_bundles``: two bundle views in, one Comparison out (pure: no printing, no files written)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from profkit.analyze import AnalyzeOptions, run_analyzers
from profkit.analyze.cpu_profiles import PROCESS_CPU, cpu_profiles, process_cpu_increase
from profkit.model.metric_names import RECONCILE_TOTAL
from profkit.analyze.metrics_math import total_increase
from profkit.bundle.reader import BundleView
from profkit.compare.budget import apply_budget
from profkit.compare.findings import finding_changes
from profkit.compare.functions import grown_functions
from profkit.compare.metrics import METRICS, target_metrics
from profkit.compare.model import (
    CHANGED, IMPROVED, MISSING, REGRESSED, UNCHANGED, UNTESTED, BudgetEntry, Comparison, MetricChange, MetricDef,
    MetricValue, RunInfo, TargetComparison, TargetPair,
)
from profkit.compare.stats import ALPHA, event_count, judge
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
    pairs: Sequence[tuple[str, str]] = ()  # --pair BASE_TARGET=NEW_TARGET


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
                    alpha, base_count=event_count(base), new_count=event_count(new), unit=metric.unit)
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


def _deployment(view: BundleView, target: str) -> tuple[str, str] | None:
    """(namespace, deployment) of a Kubernetes target, None for local targets."""
    for t in view.targets():
        if t.name == target and t.spec.get("deployment"):
            return str(t.spec.get("namespace") or ""), str(t.spec["deployment"])
    return None


def pair_targets(base: BundleView, new: BundleView, explicit: Sequence[tuple[str, str]] = ()) -> list[TargetPair]:
    """Which BASE target is compared with which NEW target, in this order of precedence:
    ``--pair BASE=NEW``; the same name (``name=`` of capture); the same Deployment (namespace and name);
    and when each run has exactly one target, those two. Targets left over are only in one run."""
    base_targets, new_targets = run_targets(base), run_targets(new)
    pairs: list[TargetPair] = []
    for b, n in explicit:
        if b not in base_targets:
            raise BadInput(f"--pair {b}={n}: BASE {base.directory} has no target {b} "
                           f"(it has {', '.join(base_targets) or 'none'})")
        if n not in new_targets:
            raise BadInput(f"--pair {b}={n}: NEW {new.directory} has no target {n} "
                           f"(it has {', '.join(new_targets) or 'none'})")
        if any(p.base == b or p.new == n for p in pairs):
            raise BadInput(f"--pair {b}={n}: {b} or {n} is already paired")
        pairs.append(TargetPair(b, n, "--pair"))

    def free(side: list[str], attr: str) -> list[str]:
        return [t for t in side if t not in {getattr(p, attr) for p in pairs}]

    pairs += [TargetPair(n, n, "same name") for n in free(new_targets, "new") if n in free(base_targets, "base")]
    base_deployments = {d: t for t in free(base_targets, "base") if (d := _deployment(base, t)) is not None}
    for n in free(new_targets, "new"):
        d = _deployment(new, n)
        if d is not None and d in base_deployments and base_deployments[d] in free(base_targets, "base"):
            pairs.append(TargetPair(base_deployments[d], n, "same Deployment"))
    if not pairs and len(base_targets) == 1 and len(new_targets) == 1:
        pairs.append(TargetPair(base_targets[0], new_targets[0], "one target each side"))
    order = {n: i for i, n in enumerate(new_targets)}
    return sorted(pairs, key=lambda p: order[p.new])


def compare_bundles(base: BundleView, new: BundleView, options: CompareOptions | None = None) -> Comparison:
    """Compare every pair of targets (see :func:`pair_targets`); BadInput when there is none or a side lacks data."""
    options = options or CompareOptions()
    base_targets, new_targets = run_targets(base), run_targets(new)
    pairs = pair_targets(base, new, options.pairs)
    if not pairs:
        raise BadInput(f"the bundles capture different controllers: {base.directory} has "
                       f"{', '.join(base_targets) or 'no targets'}; {new.directory} has "
                       f"{', '.join(new_targets) or 'no targets'} (pair them with --pair BASE_TARGET=NEW_TARGET)")
    for pair in pairs:
        for view, label, target in ((base, "BASE", pair.base), (new, "NEW", pair.new)):
            if not _has_data(view, target):
                raise BadInput(f"{label} {view.directory}: target {target} has no metrics and no profiles")
    width = options.window_seconds or auto_window([base, new])
    if width <= 0:
        raise BadInput(f"window width {width:g} s: must be positive")
    base_windows, new_windows = slices(base, width), slices(new, width)
    base_cpu = {c.target: c for c in cpu_profiles(base)}
    new_cpu = {c.target: c for c in cpu_profiles(new)}
    result = Comparison(base=_run_info(base), new=_run_info(new), window_seconds=width, alpha=options.alpha,
                        only_in_base=[t for t in base_targets if t not in {p.base for p in pairs}],
                        only_in_new=[t for t in new_targets if t not in {p.new for p in pairs}], pairs=pairs)
    for pair in pairs:
        # Every result is named by NEW's target name; BASE's name is kept alongside when it differs.
        target = pair.new
        before = target_metrics(base, pair.base, base_windows)
        after = target_metrics(new, target, new_windows)
        tc = TargetComparison(target, base_target=pair.base if pair.base != target else "", paired_by=pair.paired_by,
                              context={"base": _context(base, pair.base), "new": _context(new, target)})
        for metric in METRICS:
            if metric.id not in before and metric.id not in after:
                continue
            tc.metrics.append(classify(metric, target, before.get(metric.id), after.get(metric.id), options.alpha))
        if pair.base in base_cpu and target in new_cpu:
            tc.functions, tc.normalised_per = grown_functions(
                base, base_cpu[pair.base], new, new_cpu[target], options.top_functions, options.analyze.own_code)
        result.targets.append(tc)
    if options.run_findings:
        base_findings = (options.base_findings if options.base_findings is not None
                         else run_analyzers(base, options.analyze))
        new_findings = (options.new_findings if options.new_findings is not None
                        else run_analyzers(new, options.analyze))
        renamed = {p.base: p.new for p in pairs}
        result.findings = finding_changes(
            [replace(f, target=renamed[f.target]) if f.target else f
             for f in base_findings if not f.target or f.target in renamed],
            [f for f in new_findings if not f.target or f.target in {p.new for p in pairs}])
    if options.budgets:
        result.budgets = apply_budget(options.budgets, result.targets, f"BASE {base.directory}",
                                      f"NEW {new.directory}")
    return result
