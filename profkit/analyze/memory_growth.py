"""memory-growth: heap or resident memory growing over the run beyond what the object count explains."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.analyze.growth import (Growth, assess, grower_paths, growth_evidence, object_timeline,
                                   profile_growers)
from profkit.analyze.metrics_math import series_of
from profkit.analyze.rules import MemoryGrowthRules, rules_from
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Series, Severity
from profkit.units import format_bytes, format_duration
from profkit.model.metric_names import CONTAINER_MEMORY_WORKING_SET, PROCESS_RESIDENT_MEMORY

ID = "memory-growth"
# Heap in use tracks live objects closely; RSS lags (the Go runtime returns memory lazily).
HEAP, RSS = "go_memstats_heap_inuse_bytes", PROCESS_RESIDENT_MEMORY
METRICS = (HEAP, RSS)
SEVERITY_ORDER = ("info", "warning", "critical")


def _worst(series: list[Series], objects: list[tuple[float, float]], rules: MemoryGrowthRules) -> Growth | None:
    best: Growth | None = None
    for s in series:
        g = assess(s, objects)
        if g is None or g.duration < rules.min_duration_seconds:
            continue
        if best is None or g.unexplained > best.unexplained:
            best = g
    return best


def _severity(g: Growth, rules: MemoryGrowthRules) -> Severity | None:
    if g.unexplained < rules.min_growth_bytes:
        return None
    if g.relative >= rules.critical_growth and g.still_growing:
        return "critical"
    if g.relative >= rules.warning_growth:
        return "warning"
    return None


def _pick(assessed: dict[str, Growth | None], rules: MemoryGrowthRules) -> tuple[str, Growth, Severity] | None:
    """The most severe growing metric; the heap wins ties (it points at live objects, RSS lags)."""
    best: tuple[str, Growth, Severity] | None = None
    for metric in METRICS:
        g = assessed.get(metric)
        severity = _severity(g, rules) if g is not None else None
        if g is None or severity is None:
            continue
        if best is None or SEVERITY_ORDER.index(severity) > SEVERITY_ORDER.index(best[2]):
            best = (metric, g, severity)
    return best


@analyzer(ID, series=(CONTAINER_MEMORY_WORKING_SET, PROCESS_RESIDENT_MEMORY,
                        "go_memstats_heap_alloc_bytes"), profile_kind="heap")
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Flag targets whose memory grows while the number of objects does not explain it."""
    rules = rules_from(options).memory_growth
    by_target: dict[str, dict[str, list[Series]]] = defaultdict(lambda: defaultdict(list))
    for metric in METRICS:
        for s in series_of(view, metric):
            by_target[s.target][metric].append(s)
    findings: list[Finding] = []
    for target, metrics in sorted(by_target.items()):
        objects = object_timeline(view, target)
        assessed = {metric: _worst(metrics.get(metric, []), objects, rules) for metric in METRICS}
        picked = _pick(assessed, rules)
        if picked is None:
            continue
        metric, g, severity = picked
        evidence: dict[str, Any] = growth_evidence(metric, g)
        heap = assessed.get(HEAP)
        off_heap = metric == RSS and heap is not None and _severity(heap, rules) is None
        if heap is not None and metric == RSS:
            evidence["heap"] = growth_evidence(HEAP, heap)
        growers = profile_growers(view, target, "heap")
        evidence["heap_profile_growers"] = growers
        objects_text = (f"objects {g.objects_first:g} -> {g.objects_last:g}" if g.objects_first is not None
                        else "no object watcher data")
        where = (f" Heap profiles (first vs last) grow most in {growers[0]['function']} "
                 f"(+{format_bytes(growers[0]['growth'])})." if growers else
                 " Capture heap profiles (profkit capture with pprof heap) to see which allocation site grows.")
        advice = ("Look for caches or maps keyed by object that are never pruned on deletion, informers on "
                  "resources the controller does not need (or without a label selector / transform to drop "
                  "managedFields), and goroutines holding memory." + where)
        if off_heap:
            advice = ("Resident memory grows while the Go heap in use stays flat: memory the runtime keeps after "
                      "GC (heap fragmentation, not yet returned to the OS) or memory outside the Go heap (cgo, "
                      "mmap). Set GOMEMLIMIT near the container limit so the runtime returns it sooner, and check "
                      "go_memstats_heap_idle_bytes / heap_released_bytes and any cgo libraries.")
        findings.append(Finding(
            id=ID, severity=severity, target=target,
            title=(f"{metric} grew {format_bytes(g.unexplained)} ({g.relative:.0%}) over "
                   f"{format_duration(g.duration)} beyond the object count ({objects_text})"
                   + ("; the Go heap did not" if off_heap else "")),
            evidence=evidence,
            recommendation=advice,
            series=(metric, HEAP) if "heap" in evidence else (metric,),
            profiles=grower_paths(growers),
        ))
    return findings
