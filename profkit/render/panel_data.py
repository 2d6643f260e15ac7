"""Panel data: evaluate a dashboard series spec against a bundle (rates, sums by label, quantiles, objects, logs)."""

from __future__ import annotations

import itertools
import math
import re
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from profkit.analyze.usage_source import USAGE_METRICS, one_source, shown_source
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Series
from profkit.render.dashboard_spec import SeriesSpec

MAX_POINTS = 1500  # per drawn line; more are reduced to min/max pairs per bucket
RATE_WINDOW_SCRAPES = 4  # histogram quantiles over 4 scrape intervals, like Grafana's $__rate_interval
SEVERITY_Y = {"info": 1, "warning": 2, "critical": 3}


@dataclass
class Line:
    """One drawn line: legend name, times (unix seconds) and values, style, the metric behind it."""

    name: str
    times: np.ndarray
    values: np.ndarray
    style: str = "solid"
    metric: str = ""
    hover: list[str] = field(default_factory=list)  # one text per point (findings timeline)
    colour: str = ""
    source: str = ""  # usage panels: which collector the value is from (analyze/usage_source.py)


def label_value(series: Series, label: str) -> str:
    """A label for grouping: ``pod`` is the instance (pod or process), ``job`` the target."""
    if label == "pod":
        return series.labels.get("pod", series.instance)
    if label == "job":
        return series.labels.get("job", series.target)
    return series.labels.get(label, "")


def _matches(series: Series, filters: Sequence[tuple[str, str]]) -> bool:
    for key, wanted in filters:
        value = label_value(series, key)
        if wanted.startswith("~"):
            if not re.fullmatch(wanted[1:], value):
                return False
        elif value != wanted:
            return False
    return True


def legend_text(template: str, values: dict[str, str], fallback: str) -> str:
    """``"{controller} {result}"`` filled in; unknown keys stay empty; blank falls back."""
    if not template:
        text = " ".join(v for v in values.values() if v and not v.startswith("0."))
        return text or fallback
    text = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), ""), template).strip()
    return text or fallback


def downsample(times: np.ndarray, values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: each bucket keeps its minimum and maximum, in time order."""
    n = times.size
    if n <= max_points:
        return times, values
    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep: list[int] = []
    safe = np.where(np.isnan(values), np.inf, values)
    unsafe = np.where(np.isnan(values), -np.inf, values)
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            continue
        a = lo + int(np.argmin(safe[lo:hi]))
        b = lo + int(np.argmax(unsafe[lo:hi]))
        keep.extend(sorted({a, b}))
    index = np.array(keep, dtype=np.int64)
    return times[index], values[index]


_ARRAYS: weakref.WeakKeyDictionary[BundleView, dict[int, tuple[np.ndarray, np.ndarray]]] = \
    weakref.WeakKeyDictionary()


def cached_series(view: BundleView, name: str, target: str | None) -> list[Series]:
    """``view.series(name, target=target)`` (the view reads it once), with numpy arrays made once."""
    found = view.series(name, target=target)
    arrays = _ARRAYS.setdefault(view, {})
    for s in found:
        if id(s) not in arrays:
            arrays[id(s)] = _to_arrays(s.points)
    return found


def _to_arrays(points: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    if not points:
        return np.zeros(0), np.zeros(0)
    flat = np.fromiter(itertools.chain.from_iterable(points), dtype=float, count=2 * len(points))
    return flat[0::2], flat[1::2]


def _arrays(points: Sequence[tuple[float, float]], series: Series | None = None) -> tuple[np.ndarray, np.ndarray]:
    if series is not None:
        for arrays in _ARRAYS.values():
            found = arrays.get(id(series))
            if found is not None:
                return found
    return _to_arrays(points)


def _step(series: Sequence[Series]) -> float:
    gaps = [np.median(np.diff(_arrays(s.points, s)[0])) for s in series if len(s.points) > 2]
    return float(min(gaps)) if gaps else 5.0


def _grid(series: Sequence[Series], step: float) -> np.ndarray:
    starts = [s.points[0][0] for s in series if s.points]
    ends = [s.points[-1][0] for s in series if s.points]
    if not starts:
        return np.zeros(0)
    count = int((max(ends) - min(starts)) // step) + 1
    return min(starts) + step * np.arange(max(count, 1))


def _counter(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """A counter's times and values with resets added back (monotonic)."""
    times, values = _arrays(series.points, series)
    if values.size > 1:
        drops = np.concatenate([[0.0], np.where(np.diff(values) < 0, values[:-1], 0.0)])
        values = values + np.cumsum(drops)
    return times, values


def _on_grid(times: np.ndarray, values: np.ndarray, grid: np.ndarray, hold: bool) -> np.ndarray:
    """Values at grid times within the series' span (NaN outside): held (gauges) or interpolated."""
    if times.size == 0:
        return np.full(grid.size, np.nan)
    if hold:
        idx = np.clip(np.searchsorted(times, grid, side="right") - 1, 0, None)
        out = values[idx]
    else:
        out = np.interp(grid, times, values)
    return np.where((grid >= times[0]) & (grid <= times[-1] + 1e-9), out, np.nan)


def _aggregate(rows: list[np.ndarray], how: str) -> np.ndarray:
    stacked = np.vstack(rows)
    present = ~np.isnan(stacked).all(axis=0)
    with np.errstate(all="ignore"):
        if how == "max":
            out = np.nanmax(np.where(np.isnan(stacked), -np.inf, stacked), axis=0)
        elif how == "min":
            out = np.nanmin(np.where(np.isnan(stacked), np.inf, stacked), axis=0)
        elif how == "avg":
            out = np.nanmean(stacked, axis=0)
        else:
            out = np.nansum(stacked, axis=0)
    return np.where(present, out, np.nan)


def _rate_rows(series: Sequence[Series], grid: np.ndarray) -> list[np.ndarray]:
    rows = []
    for s in series:
        times, values = _counter(s)
        if times.size < 2:
            continue
        at = _on_grid(times, values, grid, hold=False)
        rate = np.full(grid.size, np.nan)
        rate[1:] = np.diff(at) / np.diff(grid)
        rows.append(rate)
    return rows


def _quantile_rows(buckets: Sequence[Series], grid: np.ndarray, quantiles: Sequence[float]) -> list[np.ndarray]:
    """Prometheus' histogram_quantile over increases in a sliding window of a few scrapes."""
    by_le: dict[float, np.ndarray] = {}
    for s in buckets:
        le = s.labels.get("le")
        if le is None:
            continue
        bound = math.inf if le in ("+Inf", "Inf", "inf") else float(le)
        times, values = _counter(s)
        at = np.nan_to_num(_on_grid(times, values, grid, hold=False), nan=0.0)
        by_le[bound] = by_le.get(bound, np.zeros(grid.size)) + at
    if not by_le or grid.size < 2:
        return []
    bounds = np.array(sorted(by_le))
    counts = np.maximum.accumulate(np.vstack([by_le[b] for b in bounds]), axis=0)
    k = min(RATE_WINDOW_SCRAPES, grid.size - 1)
    window = np.full_like(counts, np.nan)
    window[:, k:] = counts[:, k:] - counts[:, :-k]
    window = np.maximum.accumulate(np.maximum(window, 0), axis=0)
    total = window[-1]
    finite = bounds[np.isfinite(bounds)]
    top = finite[-1] if finite.size else np.nan
    lower = np.concatenate([[0.0], np.where(np.isfinite(bounds[:-1]), bounds[:-1], top)])
    rows = []
    for q in quantiles:
        rank = q * total
        idx = np.argmax(window >= rank[None, :], axis=0)
        cols = np.arange(grid.size)
        upper_count = window[idx, cols]
        lower_count = np.where(idx > 0, window[np.maximum(idx - 1, 0), cols], 0.0)
        hi_bound = np.where(np.isfinite(bounds[idx]), bounds[idx], top)
        with np.errstate(all="ignore"):
            span = np.where(upper_count > lower_count, (rank - lower_count) / (upper_count - lower_count), 1.0)
            value = np.where(np.isfinite(bounds[idx]), lower[idx] + (hi_bound - lower[idx]) * span, top)
        rows.append(np.where((total > 0) & ~np.isnan(total), value, np.nan))
    return rows


def _pick_metric(view: BundleView, spec: SeriesSpec, target: str | None, suffix: str) -> tuple[str, list[Series]]:
    for metric in spec.metrics:
        found = [s for s in cached_series(view, metric + suffix, target) if _matches(s, spec.labels)]
        if found:
            return metric, found
    return (spec.metrics[0] if spec.metrics else ""), []


def _groups(series: Iterable[Series], by: Sequence[str]) -> dict[tuple[str, ...], list[Series]]:
    out: dict[tuple[str, ...], list[Series]] = defaultdict(list)
    for s in series:
        out[tuple(label_value(s, k) for k in by)].append(s)
    return dict(sorted(out.items()))


def metric_lines(view: BundleView, spec: SeriesSpec, target: str | None) -> list[Line]:
    """Lines of a metric series spec: transform per series, then aggregate by the ``by`` labels."""
    suffix = "_bucket" if spec.transform == "quantile" else ""
    metric, found = _pick_metric(view, spec, target, suffix)
    if not found:
        return []
    found = one_source(found)  # one process reported by /metrics and psutil is one value, not two
    source = shown_source(found) if metric in USAGE_METRICS else ""
    divisor = ([s for s in cached_series(view, spec.divide_by, target) if _matches(s, spec.labels)]
               if spec.divide_by else [])
    if spec.divide_by and not divisor:
        return []
    step = _step(found)
    grid = _grid(found + divisor, step)
    lines: list[Line] = []
    for key, members in _groups(found, spec.by).items():
        values = dict(zip(spec.by, key))
        if spec.transform == "quantile":
            rows = _quantile_rows(members, grid, spec.quantiles)
            for q, row in zip(spec.quantiles, rows):
                name = legend_text(spec.legend, {**values, "quantile": f"{q * 100:g}"}, f"p{q * 100:g} {metric}")
                lines.append(Line(name, grid, row, spec.style, metric))
            continue
        if spec.transform == "rate":
            rows = _rate_rows(members, grid)
        else:
            rows = [_on_grid(*_arrays(s.points, s), grid, hold=True) for s in members if s.points]
        if not rows:
            continue
        value = _aggregate(rows, spec.aggregate)
        if spec.divide_by:
            mine = [s for s in divisor if tuple(label_value(s, k) for k in spec.by) == key]
            if not mine:
                continue
            denominator = _aggregate([_on_grid(*_arrays(s.points, s), grid, hold=True) for s in mine], spec.aggregate)
            with np.errstate(all="ignore"):
                value = np.where(denominator > 0, value / denominator, np.nan)
        name = legend_text(spec.legend, values, metric)
        lines.append(Line(f"{name} · {source}" if source else name, grid, value, spec.style, metric, source=source))
    return lines


NAMESPACE_FLAGS = ("--namespace", "-n", "--watch-namespace", "--namespaces")
ALL_NAMESPACES_FLAGS = ("--all-namespaces", "-A")


def namespaces_from_args(args: Sequence[str]) -> set[str] | None:
    """The namespaces a controller's command line restricts it to (kopf/controller-runtime style), or None (all)."""
    found: set[str] = set()
    for i, arg in enumerate(args):
        if arg in ALL_NAMESPACES_FLAGS:
            return None
        flag, _, value = arg.partition("=")
        if flag in NAMESPACE_FLAGS:
            value = value or (args[i + 1] if i + 1 < len(args) else "")
            found.update(v for v in value.split(",") if v and not v.startswith("-") and "$(" not in v)
    return found or None


def watched_namespaces(view: BundleView, target: str | None) -> set[str] | None:
    """Namespaces the target's controller watches, from its container's args; None when unknown or all.

    For the whole capture (``target`` None): the union over targets, when every Deployment target says.
    """
    scopes: list[set[str] | None] = []
    for t in view.targets():
        if (target is None or t.name == target) and t.kind == "deployment":
            args = t.spec.get("args")
            scopes.append(namespaces_from_args([str(a) for a in args]) if isinstance(args, list) else None)
    if not scopes or any(s is None for s in scopes):
        return None
    return set().union(*(s for s in scopes if s is not None))


def _object_lines(view: BundleView, spec: SeriesSpec, target: str | None) -> list[Line]:
    created: dict[tuple[str, str], float] = {}
    ready: dict[tuple[str, str], float] = {}
    deleted: dict[tuple[str, str], float] = {}
    resource_of: dict[tuple[str, str], str] = {}
    namespaces = watched_namespaces(view, target)  # objects the controller cannot see are not its load
    for event in view.objects():
        if target is not None and event.target and event.target != target:
            continue
        if namespaces is not None and event.namespace and event.namespace not in namespaces:
            continue
        key = (event.resource, event.uid or event.key)
        resource_of[key] = event.resource
        created.setdefault(key, event.ts)
        if event.ready and key not in ready:
            ready[key] = event.ts
        if event.event == "deleted":
            deleted.setdefault(key, event.ts)
    by_group: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
    for key, resource in resource_of.items():
        by_group[tuple(resource if k == "resource" else "" for k in spec.by)].append(key)
    lines: list[Line] = []
    for group, keys in sorted(by_group.items()):
        values = dict(zip(spec.by, group))
        name = legend_text(spec.legend, values, spec.transform)
        if spec.transform == "time_to_ready":
            pairs = sorted((ready[k], ready[k] - created[k]) for k in keys if k in ready)
            times, vals = _arrays(pairs)
        else:
            if spec.transform == "existing":
                steps = [(created[k], 1.0) for k in keys] + [(deleted[k], -1.0) for k in keys if k in deleted]
            else:
                source = {"created": created, "ready": ready, "deleted": deleted}[spec.transform]
                steps = [(source[k], 1.0) for k in keys if k in source]
            if not steps:
                continue
            steps.sort()
            end = max(view.time_range()[1], steps[-1][0])
            times = np.array([t for t, _ in steps] + [end])  # the count holds until the capture ends
            vals = np.cumsum([d for _, d in steps] + [0.0])
        if times.size:
            lines.append(Line(name, times, vals.astype(float), spec.style, "objects"))
    return lines


def _log_lines(view: BundleView, spec: SeriesSpec, target: str | None) -> list[Line]:
    from profkit.analyze.throttling_logs import parse_wait

    if spec.transform == "throttling" or spec.match == "throttling":
        seen: set[tuple[float, str]] = set()
        pairs: list[tuple[float, float]] = []
        for needle in ("client-side throttling", "Waited before sending request"):
            for record in view.logs(target=target, contains=needle):
                wait = parse_wait(record)
                if wait is not None and (record.ts, record.raw or record.message) not in seen:
                    seen.add((record.ts, record.raw or record.message))
                    pairs.append((wait.ts, wait.delay))
        pairs.sort()
        times, values = _arrays(pairs)
        return [Line(spec.legend or "throttling wait", times, values, spec.style, "logs")] if pairs else []
    stamps = np.array([r.ts for r in view.logs(target=target, contains=spec.match or None)])
    if stamps.size == 0:
        return []
    edges = np.arange(stamps.min(), stamps.max() + 60.0, 60.0)
    counts, _ = np.histogram(stamps, bins=edges)
    return [Line(spec.legend or f"lines matching {spec.match}", edges[1:], counts / 60.0, spec.style, "logs")]


def finding_window(finding: Finding, capture: tuple[float, float]) -> tuple[float, float, bool]:
    """When a finding applies: the window it declares, else the capture (False: not declared)."""
    if finding.window is not None:
        return finding.window[0], finding.window[1], True
    return capture[0], capture[1], False


def finding_lines(view: BundleView, findings: Sequence[Finding], target: str | None) -> list[Line]:
    """The findings timeline: one bar per finding over its window, at the height of its severity."""
    capture = view.time_range()
    lines: list[Line] = []
    for index, finding in enumerate(findings):
        if target is not None and finding.target and finding.target != target:
            continue
        start, end, _ = finding_window(finding, capture)
        y = float(SEVERITY_Y.get(finding.severity, 1))
        label = f"{finding.severity}: {finding.title}"
        lines.append(Line(f"{finding.id} {finding.target}".strip(), np.array([start, end]), np.array([y, y]),
                          "solid", "findings", [label, label], f"finding-{index}"))
    return lines


def series_lines(view: BundleView, spec: SeriesSpec, target: str | None,
                 findings: Sequence[Finding] = ()) -> list[Line]:
    """The lines one series spec draws for a target (None: the whole capture), downsampled."""
    if spec.source == "metrics":
        lines = metric_lines(view, spec, target)
    elif spec.source == "objects":
        lines = _object_lines(view, spec, target)
    elif spec.source == "logs":
        lines = _log_lines(view, spec, target)
    else:
        return finding_lines(view, findings, target)
    out = []
    for line in lines:
        keep = ~np.isnan(line.values)
        if not keep.any():
            continue
        times, values = downsample(line.times[keep], line.values[keep])
        out.append(Line(line.name, times, values, line.style, line.metric, line.hover, line.colour, line.source))
    return out


def reduce_values(values: np.ndarray, how: str) -> float:
    """One number for a stat panel or table cell: last, mean, max, min or increase (counters)."""
    if values.size == 0:
        return math.nan
    if how == "mean":
        return float(np.mean(values))
    if how == "max":
        return float(np.max(values))
    if how == "min":
        return float(np.min(values))
    if how == "increase":
        steps = np.diff(values)
        return float(np.sum(np.where(steps >= 0, steps, values[1:]))) if values.size > 1 else 0.0
    return float(values[-1])
