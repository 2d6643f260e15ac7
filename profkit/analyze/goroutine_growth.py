"""goroutine-growth: go_goroutines climbing over the run beyond what the object count explains (a goroutine leak)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.analyze.growth import (PLUMBING, Growth, assess, grower_paths, growth_evidence, key_frame,
                                   object_timeline, profile_growers)
from profkit.analyze.metrics_math import series_of
from profkit.analyze.rules import GoroutineGrowthRules, rules_from
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Series, Severity
from profkit.units import format_duration
from profkit.model.metric_names import GO_GOROUTINES

ID = "goroutine-growth"
METRIC = GO_GOROUTINES
THREADS = "go_threads"


def goroutine_group(names: list[str]) -> str:
    """``entry waiting in site``: the function a goroutine was started with and the code it is parked in.

    In a goroutine profile the root-most frame outside the runtime is the function passed to
    ``go``; the leaf-most one is where it waits (a channel receive, a lock, a network read).
    A leak shows as one such pair growing between the first and the last profile.
    """
    entry = next((n for n in names if not n.startswith(PLUMBING)), names[0] if names else "?")
    site = key_frame(names)
    return entry if site == entry else f"{entry} waiting in {site}"


def per_object(g: Growth) -> dict[str, Any]:
    """Goroutines per live object at the start and the end: constant for per-object workers, rising for a leak."""
    if not g.objects_first or not g.objects_last:
        return {}
    return {"goroutines_per_object_first": round(g.first / g.objects_first, 2),
            "goroutines_per_object_last": round(g.last / g.objects_last, 2)}


def _threads(view: BundleView, target: str, instance: str, objects: list[tuple[float, float]]) -> Growth | None:
    """How ``go_threads`` of the same instance moved (None without the series)."""
    for s in series_of(view, THREADS, target):
        if s.instance == instance:
            return assess(s, objects)
    return None


def _severity(g: Growth, rules: GoroutineGrowthRules) -> Severity | None:
    if g.unexplained < rules.min_growth or g.duration < rules.min_duration_seconds:
        return None
    if g.relative >= rules.critical_growth and g.still_growing:
        return "critical"
    if g.relative >= rules.warning_growth:
        return "warning"
    return None


@analyzer(ID, series=(GO_GOROUTINES,), profile_kind="goroutine")
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Flag targets whose goroutine count grows while the object count does not explain it."""
    rules = rules_from(options).goroutine_growth
    by_target: dict[str, list[Series]] = defaultdict(list)
    for s in series_of(view, METRIC):
        by_target[s.target].append(s)
    findings: list[Finding] = []
    for target, series in sorted(by_target.items()):
        objects = object_timeline(view, target)
        assessed = [g for g in (assess(s, objects) for s in series) if g is not None]
        if not assessed:
            continue
        g = max(assessed, key=lambda x: x.unexplained)
        severity = _severity(g, rules)
        if severity is None:
            continue
        evidence: dict[str, Any] = growth_evidence(METRIC, g)
        evidence.update(per_object(g))
        threads = _threads(view, target, g.instance, objects)
        if threads is not None:
            evidence["go_threads"] = growth_evidence(THREADS, threads)
        growers = profile_growers(view, target, "goroutine", group=goroutine_group)
        evidence["goroutine_profile_growers"] = growers
        where = (f" Goroutine profiles (first vs last) grow most in {growers[0]['function']} "
                 f"(+{growers[0]['growth']:.0f} goroutines)." if growers else
                 " Capture goroutine profiles (/debug/pprof/goroutine) to see where the new goroutines wait.")
        objects_text = (f"objects {g.objects_first:g} -> {g.objects_last:g}" if g.objects_first is not None
                        else "no object watcher data")
        findings.append(Finding(
            id=ID, severity=severity, target=target,
            title=(f"go_goroutines grew by {g.unexplained:.0f} ({g.relative:.0%}) over "
                   f"{format_duration(g.duration)} beyond the object count ({objects_text})"),
            evidence=evidence,
            recommendation=(
                "Goroutines started per reconcile or per event that never exit: look for `go func` without a "
                "cancelled context, watches or informers started per object and never stopped, and channels "
                "nobody reads." + where
                + (" OS threads (go_threads) grow too: goroutines are stuck in blocking syscalls or cgo calls, "
                   "each holding a thread." if threads is not None and threads.relative >= rules.warning_growth
                   else "")
            ),
            series=(METRIC, THREADS) if threads is not None else (METRIC,),
            profiles=grower_paths(growers),
        ))
    return findings
