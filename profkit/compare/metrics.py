"""Per-target metrics of one run, each as a headline value plus one sample per window.

Metric ids are part of the ``--json`` and ``--budget`` contract (docs/compare-json.md). Ratios
(CPU per reconcile, API requests per reconcile) take totals over the run as the headline and the
ratio of each window as samples; windows without a reconcile give no ratio sample.
"""

from __future__ import annotations

import statistics
from typing import Callable, Sequence

import numpy as np

from profkit.analyze.throttling_logs import NEW_MESSAGE, parse_wait
from profkit.analyze.cpu_profiles import PROCESS_CPU, cpu_profiles
from profkit.model.metric_names import (
    GO_GOROUTINES, RECONCILE_TIME, RECONCILE_TOTAL, REST_CLIENT_REQUESTS, WORKQUEUE_DEPTH,
    WORKQUEUE_QUEUE_DURATION, WORKQUEUE_RETRIES_TOTAL,
)
from profkit.analyze.usage_source import usage_series
from profkit.bundle.reader import BundleView
from profkit.compare.model import MetricDef, MetricValue
from profkit.compare.windows import (
    Slice, counter_by_window, covered_seconds, gauge_by_window, histogram_quantile_between,
    histogram_quantile_by_window,
)
from profkit.model import Series

MiB = 2.0**20

METRICS: tuple[MetricDef, ...] = (
    MetricDef("cpu_per_reconcile", "CPU per reconcile", "seconds", "lower", 0.25, 0.002,
              "process CPU seconds / reconciles (all controllers and results)"),
    MetricDef("cpu_cores", "CPU (cores = CPU seconds per second)", "cores", "lower", 0.25, 0.02,
              "rate of process_cpu_seconds_total, else CPU profile time per profiled second"),
    MetricDef("memory_peak_bytes", "Memory peak (resident)", "bytes", "lower", 0.20, 16 * MiB,
              "max of the memory series (working set, else process_resident_memory_bytes, else psutil RSS; "
              "one source per target) summed over replicas"),
    MetricDef("memory_median_bytes", "Memory median (resident)", "bytes", "lower", 0.20, 16 * MiB,
              "median of the memory series (one source per target, as memory_peak_bytes) summed over replicas"),
    MetricDef("reconcile_rate", "Reconciles per second", "per_second", "none", 0.25, 0.1,
              "rate of controller_runtime_reconcile_total, all results"),
    MetricDef("reconcile_p50_seconds", "Reconcile duration p50", "seconds", "lower", 0.25, 0.05,
              RECONCILE_TIME),
    MetricDef("reconcile_p90_seconds", "Reconcile duration p90", "seconds", "lower", 0.25, 0.1,
              RECONCILE_TIME),
    MetricDef("reconcile_p99_seconds", "Reconcile duration p99", "seconds", "lower", 0.5, 0.25,
              RECONCILE_TIME),
    MetricDef("error_rate", "Reconcile errors per second", "per_second", "lower", 0.25, 0.05,
              'controller_runtime_reconcile_total{result="error"}'),
    MetricDef("requeue_rate", "Requeues per second", "per_second", "lower", 0.25, 0.05,
              'controller_runtime_reconcile_total{result=~"requeue|requeue_after"}'),
    MetricDef("retry_rate", "Workqueue retries per second", "per_second", "lower", 0.25, 0.05,
              WORKQUEUE_RETRIES_TOTAL),
    MetricDef("workqueue_depth", "Workqueue depth (mean)", "items", "lower", 0.5, 2.0, WORKQUEUE_DEPTH),
    MetricDef("queue_time_p90_seconds", "Workqueue queue time p90", "seconds", "lower", 0.5, 0.25,
              WORKQUEUE_QUEUE_DURATION),
    MetricDef("api_requests_per_reconcile", "API requests per reconcile", "requests", "lower", 0.2, 0.5,
              "rest_client_requests_total / reconciles"),
    MetricDef("throttling_wait_per_second", "Client-side throttling wait per second", "ratio", "lower", 0.25,
              0.05, "seconds waited (client-go throttling log lines) per second of capture"),
    MetricDef("goroutines", "Goroutines (mean)", "goroutines", "lower", 0.2, 20.0, GO_GOROUTINES),
    MetricDef("time_to_ready_p50_seconds", "Time to ready p50 (watched objects)", "seconds", "lower", 0.25, 1.0,
              "first seen (added, not ready) to first seen ready"),
    MetricDef("time_to_ready_p90_seconds", "Time to ready p90 (watched objects)", "seconds", "lower", 0.25, 1.0,
              "first seen (added, not ready) to first seen ready"),
)
METRIC_IDS = tuple(m.id for m in METRICS)
BY_ID = {m.id: m for m in METRICS}
MIN_RECONCILES_PER_WINDOW = 1.0

Extractor = Callable[["_Run"], MetricValue | None]


class _Run:
    """One target of one run sliced into windows; caches the series it reads."""

    def __init__(self, view: BundleView, target: str, windows: Sequence[Slice]) -> None:
        self.view, self.target, self.windows = view, target, list(windows)
        self._cache: dict[str, list[Series]] = {}

    def series(self, name: str) -> list[Series]:
        if name not in self._cache:
            self._cache[name] = self.view.series(name, target=self.target)
        return self._cache[name]

    def reconciles(self, *results: str) -> list[Series]:
        return [s for s in self.series(RECONCILE_TOTAL) if not results or s.labels.get("result") in results]


def _ratio(numerator: list[float | None], denominator: list[float | None], source: str,
           min_denominator: float = MIN_RECONCILES_PER_WINDOW) -> MetricValue | None:
    pairs = [(n, d) for n, d in zip(numerator, denominator) if n is not None and d is not None]
    total_d = sum(d for _, d in pairs)
    if not pairs or total_d <= 0:
        return None
    samples = [n / d for n, d in pairs if d >= min_denominator]
    return MetricValue(sum(n for n, _ in pairs) / total_d, samples, source)


def _rate(run: _Run, series: list[Series], source: str) -> MetricValue | None:
    if not series:
        return None
    increases = counter_by_window(series, run.windows)
    seconds = covered_seconds(series, run.windows)
    pairs = [(i, s) for i, s in zip(increases, seconds) if i is not None and s > 0]
    if not pairs:
        return None
    events, seconds_total = sum(i for i, _ in pairs), sum(s for _, s in pairs)
    return MetricValue(events / seconds_total, [i / s for i, s in pairs], source, events=events,
                       seconds=seconds_total)


def _cpu_by_window(run: _Run) -> tuple[list[float | None], list[float], str]:
    """CPU seconds per window (and covered seconds): process_cpu_seconds_total, else CPU profile windows."""
    usage = usage_series(run.view, run.target, "cpu")
    if usage is not None and usage.metric == PROCESS_CPU:  # one source (/metrics or psutil), not both
        increases = counter_by_window(usage.series, run.windows, same_process=True)
        if any(i is not None for i in increases):
            return increases, covered_seconds(usage.series, run.windows), f"{PROCESS_CPU} ({usage.source})"
    for cpu in cpu_profiles(run.view):
        if cpu.target != run.target:
            continue
        per_window: list[float | None] = []
        seconds: list[float] = []
        for start, end in run.windows:
            used = 0.0
            covered = 0.0
            for ref, prof in zip(cpu.windows, cpu.window_profiles):
                p_end = ref.start + (ref.duration or prof.duration)
                overlap = min(end, p_end) - max(start, ref.start)
                if overlap > 0 and p_end > ref.start:
                    used += prof.total * cpu.seconds_per_unit * overlap / (p_end - ref.start)
                    covered += overlap
            per_window.append(used if covered >= 0.5 * (end - start) else None)
            seconds.append(covered)
        return per_window, seconds, "profile"
    return [], [], ""


def cpu_per_reconcile(run: _Run) -> MetricValue | None:
    cpu, _, source = _cpu_by_window(run)
    reconciles = counter_by_window(run.reconciles(), run.windows) if run.reconciles() else []
    if not cpu or not reconciles:
        return None
    return _ratio(cpu, reconciles, f"{source} / {RECONCILE_TOTAL}")


def cpu_cores(run: _Run) -> MetricValue | None:
    cpu, seconds, source = _cpu_by_window(run)
    pairs = [(c, s) for c, s in zip(cpu, seconds) if c is not None and s > 0]
    if not pairs:
        return None
    return MetricValue(sum(c for c, _ in pairs) / sum(s for _, s in pairs), [c / s for c, s in pairs], source)


def _memory(run: _Run, peak: bool) -> MetricValue | None:
    usage = usage_series(run.view, run.target, "memory")
    if usage is None:
        return None
    name = f"{usage.metric} ({usage.source})"
    per_window = [w for w in gauge_by_window(usage.series, run.windows) if w]
    if not per_window:
        return None
    values = [v for w in per_window for v in w]
    if peak:
        return MetricValue(max(values), [max(w) for w in per_window], name)
    return MetricValue(statistics.median(values), [statistics.median(w) for w in per_window], name)


def _gauge_mean(run: _Run, name: str) -> MetricValue | None:
    per_window = [w for w in gauge_by_window(run.series(name), run.windows) if w]
    if not per_window:
        return None
    values = [v for w in per_window for v in w]
    return MetricValue(statistics.fmean(values), [statistics.fmean(w) for w in per_window], name)


def _histogram_q(run: _Run, base: str, q: float) -> MetricValue | None:
    buckets = run.series(base + "_bucket")
    if not buckets:
        return None
    start, end = run.windows[0][0], run.windows[-1][1]
    headline = histogram_quantile_between(buckets, q, start, end)
    if headline is None:
        return None
    samples = [v for v in histogram_quantile_by_window(buckets, q, run.windows) if v is not None]
    return MetricValue(headline, samples, base)


def api_requests_per_reconcile(run: _Run) -> MetricValue | None:
    requests = run.series(REST_CLIENT_REQUESTS)
    reconciles = run.reconciles()
    if not requests or not reconciles:
        return None
    return _ratio(counter_by_window(requests, run.windows), counter_by_window(reconciles, run.windows),
                  "rest_client_requests_total / " + RECONCILE_TOTAL)


def _logs_collected(run: _Run) -> bool:
    """Whether logs were collected for the target (a quiet controller logs nothing, which is not missing data)."""
    for target in run.view.targets():
        if target.name == run.target:
            return target.kind == "deployment" or bool(target.spec.get("log_files"))
    return False


def throttling_wait(run: _Run) -> MetricValue | None:
    """Seconds of client-side throttling wait per second; None when the run collected no logs."""
    if run.view.log_count(run.target) == 0 and not _logs_collected(run):
        return None
    waits: dict[tuple[float, str], float] = {}
    for needle in ("client-side throttling", NEW_MESSAGE):
        for record in run.view.logs(target=run.target, contains=needle):
            wait = parse_wait(record)
            if wait is not None:
                waits[(wait.ts, wait.line)] = wait.delay
    samples = []
    for start, end in run.windows:
        samples.append(sum(d for (ts, _), d in waits.items() if start <= ts < end) / (end - start))
    span = run.windows[-1][1] - run.windows[0][0]
    return MetricValue(sum(waits.values()) / span if span > 0 else 0.0, samples, "logs")


def time_to_ready(run: _Run, q: float) -> MetricValue | None:
    """Quantile of created-to-ready times of objects first seen not ready; samples are per object."""
    single = len(run.view.targets()) <= 1
    first_seen: dict[str, float] = {}
    ready_at: dict[str, float] = {}
    for e in run.view.objects():
        if e.target not in (run.target, "") or (e.target == "" and not single):
            continue
        key = f"{e.resource}/{e.key}"
        if key not in first_seen:
            if e.event != "added" or e.ready:
                first_seen[key] = float("nan")  # existed (or was ready) before we watched: no time to ready
                continue
            first_seen[key] = e.ts
        if e.ready and key not in ready_at and first_seen[key] == first_seen[key]:
            ready_at[key] = e.ts
    times = sorted(ready_at[k] - first_seen[k] for k in ready_at)
    if not times:
        return None
    return MetricValue(float(np.quantile(times, q)), times, "objects")


EXTRACTORS: dict[str, Extractor] = {
    "cpu_per_reconcile": cpu_per_reconcile,
    "cpu_cores": cpu_cores,
    "memory_peak_bytes": lambda r: _memory(r, peak=True),
    "memory_median_bytes": lambda r: _memory(r, peak=False),
    "reconcile_rate": lambda r: _rate(r, r.reconciles(), RECONCILE_TOTAL),
    "reconcile_p50_seconds": lambda r: _histogram_q(r, RECONCILE_TIME, 0.5),
    "reconcile_p90_seconds": lambda r: _histogram_q(r, RECONCILE_TIME, 0.9),
    "reconcile_p99_seconds": lambda r: _histogram_q(r, RECONCILE_TIME, 0.99),
    "error_rate": lambda r: _rate(r, r.reconciles("error"), RECONCILE_TOTAL),
    "requeue_rate": lambda r: _rate(r, r.reconciles("requeue", "requeue_after"), RECONCILE_TOTAL),
    "retry_rate": lambda r: _rate(r, r.series(WORKQUEUE_RETRIES_TOTAL), WORKQUEUE_RETRIES_TOTAL),
    "workqueue_depth": lambda r: _gauge_mean(r, WORKQUEUE_DEPTH),
    "queue_time_p90_seconds": lambda r: _histogram_q(r, WORKQUEUE_QUEUE_DURATION, 0.9),
    "api_requests_per_reconcile": api_requests_per_reconcile,
    "throttling_wait_per_second": throttling_wait,
    "goroutines": lambda r: _gauge_mean(r, GO_GOROUTINES),
    "time_to_ready_p50_seconds": lambda r: time_to_ready(r, 0.5),
    "time_to_ready_p90_seconds": lambda r: time_to_ready(r, 0.9),
}


def target_metrics(view: BundleView, target: str, windows: Sequence[Slice]) -> dict[str, MetricValue]:
    """Every metric this run has data for on ``target`` (absent ids: no data)."""
    if not windows:
        return {}
    run = _Run(view, target, windows)
    out: dict[str, MetricValue] = {}
    for metric_id, extract in EXTRACTORS.items():
        value = extract(run)
        if value is not None and value.value is not None:
            out[metric_id] = value
    return out
