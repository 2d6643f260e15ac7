"""memory-growth: heap or resident memory growing over the run beyond what the object count explains."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.analyze.growth import Growth, assess, growth_evidence, object_timeline, profile_growers
from profkit.analyze.metrics_math import series_of
from profkit.analyze.rules import MemoryGrowthRules, rules_from
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Series
from profkit.units import format_bytes, format_duration

ID = "memory-growth"
# Heap in use tracks live objects closely; RSS lags (the Go runtime returns memory lazily).
METRICS = ("go_memstats_heap_inuse_bytes", "process_resident_memory_bytes")


def _worst(series: list[Series], objects: list[tuple[float, float]], rules: MemoryGrowthRules) -> Growth | None:
    best: Growth | None = None
    for s in series:
        g = assess(s, objects)
        if g is None or g.duration < rules.min_duration_seconds:
            continue
        if best is None or g.unexplained > best.unexplained:
            best = g
    return best


def _severity(g: Growth, rules: MemoryGrowthRules) -> str | None:
    if g.unexplained < rules.min_growth_bytes:
        return None
    if g.relative >= rules.critical_growth and g.still_growing:
        return "critical"
    if g.relative >= rules.warning_growth:
        return "warning"
    return None


@analyzer(ID)
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
        chosen: tuple[str, Growth] | None = None
        for metric in METRICS:
            g = _worst(metrics.get(metric, []), objects, rules)
            if g is not None:
                chosen = (metric, g)
                break
        if chosen is None:
            continue
        metric, g = chosen
        severity = _severity(g, rules)
        if severity is None:
            continue
        evidence: dict[str, Any] = growth_evidence(metric, g)
        growers = profile_growers(view, target, "heap")
        evidence["heap_profile_growers"] = growers
        objects_text = (f"objects {g.objects_first:g} -> {g.objects_last:g}" if g.objects_first is not None
                        else "no object watcher data")
        where = (f" Heap profiles (first vs last) grow most in {growers[0]['function']} "
                 f"(+{format_bytes(growers[0]['growth'])})." if growers else
                 " Capture heap profiles (profkit capture with pprof heap) to see which allocation site grows.")
        findings.append(Finding(
            id=ID, severity=severity, target=target,
            title=(f"{metric} grew {format_bytes(g.unexplained)} ({g.relative:.0%}) over "
                   f"{format_duration(g.duration)} beyond the object count ({objects_text})"),
            evidence=evidence,
            recommendation=(
                "Look for caches or maps keyed by object that are never pruned on deletion, informers on "
                "resources the controller does not need (or without a label selector / transform to drop "
                "managedFields), and goroutines holding memory." + where
            ),
        ))
    return findings
