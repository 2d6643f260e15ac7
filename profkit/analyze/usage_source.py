"""One source per target for CPU and memory usage: never the sum of two collectors of one process.

A bundle may hold the same process's usage more than once: ``process_resident_memory_bytes`` from
the controller's own ``/metrics`` and from psutil (``source="psutil"``) when a local process is
captured with ``--pid`` and ``--endpoint``; pod working set from metrics.k8s.io next to the
process's own metric. Summing them doubles the number. The rule, per target, first with data wins:

memory: container working set (metrics.k8s.io, or cAdvisor via Prometheus) > the process's own
        ``process_resident_memory_bytes`` > psutil's RSS.
cpu:    ``container_cpu_usage_seconds_total`` (cAdvisor via Prometheus) > the process's own
        ``process_cpu_seconds_total`` > psutil's utime+stime > metrics.k8s.io's
        ``container_cpu_usage_cores`` (a gauge averaged over metrics-server's window).

Dashboard panels (render/panel_data.py), the compare table and charts, and the analyze summary
all take their usage series from here, so they show the same number and can say where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from profkit.bundle.reader import BundleView
from profkit.model import Series
from profkit.model.metric_names import (
    CONTAINER_CPU_SECONDS, CONTAINER_MEMORY_WORKING_SET, PROCESS_CPU_SECONDS,
    PROCESS_RESIDENT_MEMORY,
)

UsageKind = Literal["cpu", "memory"]
Transform = Literal["rate", "gauge"]

#: (metric, source label value or "" for the process's own /metrics, how to read it, source shown)
_CHOICES: dict[UsageKind, tuple[tuple[str, str, Transform, str], ...]] = {
    "memory": (
        (CONTAINER_MEMORY_WORKING_SET, "metrics.k8s.io", "gauge", "working set (metrics.k8s.io)"),
        (CONTAINER_MEMORY_WORKING_SET, "", "gauge", "working set (cAdvisor)"),
        (PROCESS_RESIDENT_MEMORY, "", "gauge", "process_resident_memory_bytes (/metrics)"),
        (PROCESS_RESIDENT_MEMORY, "psutil", "gauge", "RSS (psutil)"),
    ),
    "cpu": (
        (CONTAINER_CPU_SECONDS, "", "rate", "container CPU (cAdvisor)"),
        (PROCESS_CPU_SECONDS, "", "rate", "process_cpu_seconds_total (/metrics)"),
        (PROCESS_CPU_SECONDS, "psutil", "rate", "utime+stime (psutil)"),
        ("container_cpu_usage_cores", "metrics.k8s.io", "gauge", "CPU (metrics.k8s.io)"),
    ),
}
USAGE_METRICS = frozenset(metric for choices in _CHOICES.values() for metric, _, _, _ in choices)
_SHOWN = {(metric, source): shown for choices in _CHOICES.values() for metric, source, _, shown in choices}


@dataclass(frozen=True)
class UsageSeries:
    """The usage series chosen for one target: metric, source, how to read them, and the series."""

    kind: UsageKind
    metric: str
    source: str  # what a panel or table says the number is, e.g. "RSS (psutil)"
    transform: Transform
    series: list[Series]


def source_label(series: Series) -> str:
    """The collector a series came from: its ``source`` label ("" for the process's own /metrics)."""
    return series.labels.get("source", "")


def _rank(metric: str, source: str) -> int:
    for choices in _CHOICES.values():
        for index, (name, wanted, _, _) in enumerate(choices):
            if name == metric and wanted == source:
                return index
    return len(_CHOICES["cpu"]) + len(_CHOICES["memory"])


def one_source(series: Sequence[Series]) -> list[Series]:
    """Of series of one metric, per target only those of the best-ranked source (see module doc).

    Series of metrics that are not usage metrics, or of a single source, come back unchanged.
    """
    best: dict[str, int] = {}
    for s in series:
        rank = _rank(s.name, source_label(s))
        best[s.target] = min(best.get(s.target, rank), rank)
    return [s for s in series if _rank(s.name, source_label(s)) == best[s.target]]


def shown_source(series: Sequence[Series]) -> str:
    """How a panel names the source of ``series`` (already reduced by :func:`one_source`)."""
    names = sorted({_SHOWN.get((s.name, source_label(s)), source_label(s) or s.name) for s in series})
    return ", ".join(names)


def usage_series(view: BundleView, target: str | None, kind: UsageKind) -> UsageSeries | None:
    """The usage series of ``kind`` for ``target`` (None: the whole bundle, one source per target)."""
    picked: list[Series] = []
    chosen: tuple[str, str, Transform, str] | None = None
    targets = [target] if target is not None else sorted({t.name for t in view.targets()})
    for name in targets:
        for metric, source, transform, shown in _CHOICES[kind]:
            found = [s for s in view.series(metric, target=name) if source_label(s) == source and s.points]
            if found:
                picked += found
                chosen = chosen or (metric, source, transform, shown)
                break
    if chosen is None:
        return None
    metrics = {s.name for s in picked}
    metric, _, transform, _ = chosen
    if len(metrics) > 1:  # targets of one bundle with different sources: name them all
        metric = ", ".join(sorted(metrics))
    return UsageSeries(kind, metric, shown_source(picked), transform, picked)
