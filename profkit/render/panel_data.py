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
from profkit.model import Finding, ObjectEvent, Series
from profkit.render.dashboard_spec import SeriesSpec

MAX_POINTS = 1500  # per drawn line; more are reduced to min/max pairs per bucket
MAX_COLUMNS = 240  # per heatmap; more scrape steps are merged (bucket increases add up exactly)
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


@dataclass
class Heatmap:
    """A histogram over time: how many observations fell in each bucket during each step.

    ``counts[i, j]`` is the increase of bucket ``i`` (``bounds[i-1] < value <= bounds[i]``, the last bound
    may be +Inf) from ``times[j] - step`` to ``times[j]``, counter resets added back as Prometheus'
    ``increase()`` does; ``rates`` is the same per second, what the heatmap colours.
    """

    name: str
    metric: str
    times: np.ndarray  # end of each step, unix seconds
    bounds: np.ndarray  # upper bound of each row
    counts: np.ndarray  # rows x columns
    step: float

    @property
    def rates(self) -> np.ndarray:
        return self.counts / self.step

    @property
    def total(self) -> float:
        return float(self.counts.sum())


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
        bound = _bound(le)
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


def _bound(le: str) -> float:
    return math.inf if le in ("+Inf", "Inf", "inf") else float(le)


def bucket_steps(buckets: Sequence[Series], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(upper bounds, counts): observations per bucket (not cumulative) in each step ``grid[j-1]..grid[j]``.

    Each ``_bucket`` series is made monotonic across counter resets, read at the grid times within its own
    span, and differenced; the series of several pods add up; cumulative ``le`` counts become per-bucket.
    """
    by_le: dict[float, np.ndarray] = {}
    for s in buckets:
        le = s.labels.get("le")
        if le is None or grid.size < 2:
            continue
        times, values = _counter(s)
        steps = np.nan_to_num(np.diff(_on_grid(times, values, grid, hold=False)), nan=0.0)
        bound = _bound(le)
        by_le[bound] = by_le.get(bound, np.zeros(grid.size - 1)) + steps
    if not by_le:
        return np.zeros(0), np.zeros((0, max(grid.size - 1, 0)))
    bounds = np.array(sorted(by_le))
    cumulative = np.maximum.accumulate(np.maximum(np.vstack([by_le[b] for b in bounds]), 0.0), axis=0)
    return bounds, np.diff(cumulative, axis=0, prepend=0.0)


def heatmaps(view: BundleView, spec: SeriesSpec, target: str | None) -> list[Heatmap]:
    """The heatmap of a ``buckets`` series per ``by`` group (usually one), buckets without observations trimmed."""
    metric, found = _pick_metric(view, spec, target, "_bucket")
    if not found:
        return []
    step = _step(found)
    grid = _grid(found, step)
    out: list[Heatmap] = []
    for key, members in _groups(found, spec.by).items():
        bounds, counts = bucket_steps(members, grid)
        used = np.flatnonzero(counts.sum(axis=1) > 0)
        if used.size == 0:
            continue
        bounds, counts = bounds[used[0]:used[-1] + 1], counts[used[0]:used[-1] + 1]
        times, width = grid[1:], step
        merge = -(-counts.shape[1] // MAX_COLUMNS)
        if merge > 1:  # whole groups of steps, the last one cut short at the grid's end
            edges = np.arange(0, counts.shape[1], merge)
            counts = np.add.reduceat(counts, edges, axis=1)
            times, width = times[np.minimum(edges + merge - 1, times.size - 1)], step * merge
        name = legend_text(spec.legend, dict(zip(spec.by, key)), metric)
        out.append(Heatmap(name, metric, times, bounds, counts, width))
    return out


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
    if spec.transform == "buckets":
        return []  # a histogram's buckets over time are a heatmap (heatmaps()), not lines
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


def _watched_objects(view: BundleView, target: str | None) -> list[ObjectEvent]:
    """The object watcher's events of the target's objects (all of them for the capture), in time order."""
    namespaces = watched_namespaces(view, target)  # objects the controller cannot see are not its load
    return [e for e in view.objects()
            if not (target is not None and e.target and e.target != target)
            and not (namespaces is not None and e.namespace and e.namespace not in namespaces)]


def object_state(event: ObjectEvent) -> str:
    """What an object is after this event: deleting (deletion requested), ready, not ready, or readiness unknown
    (no Ready condition the watcher could read)."""
    if event.deletion_ts is not None:
        return "deleting"
    if event.ready is None:
        return "readiness unknown"
    return "ready" if event.ready else "not ready"


def _state_lines(view: BundleView, spec: SeriesSpec, target: str | None) -> list[Line]:
    """Objects existing in each state over time, per ``by`` group (``resource``, ``state``)."""
    state: dict[tuple[str, str], str] = {}
    counts: dict[tuple[str, ...], float] = defaultdict(float)
    steps: dict[tuple[str, ...], list[tuple[float, float]]] = defaultdict(list)

    def group(resource: str, what: str) -> tuple[str, ...]:
        return tuple(resource if k == "resource" else what if k == "state" else "" for k in spec.by)

    def move(ts: float, key: tuple[str, str], to: str | None) -> None:
        before = state.pop(key, None)
        if before is not None:
            counts[group(key[0], before)] -= 1
            steps[group(key[0], before)].append((ts, counts[group(key[0], before)]))
        if to is not None:
            state[key] = to
            counts[group(key[0], to)] += 1
            steps[group(key[0], to)].append((ts, counts[group(key[0], to)]))

    for event in _watched_objects(view, target):
        key = (event.resource, event.uid or event.key)
        move(event.ts, key, None if event.event == "deleted" else object_state(event))
    end = view.time_range()[1]
    lines: list[Line] = []
    for labels, points in sorted(steps.items()):
        points = points + [(max(end, points[-1][0]), points[-1][1])]  # the count holds until the capture ends
        times, vals = _arrays(points)
        lines.append(Line(legend_text(spec.legend, dict(zip(spec.by, labels)), " ".join(labels) or "objects"),
                          times, vals, spec.style, "objects"))
    return lines


def _object_lines(view: BundleView, spec: SeriesSpec, target: str | None) -> list[Line]:
    if spec.transform == "state":
        return _state_lines(view, spec, target)
    created: dict[tuple[str, str], float] = {}
    ready: dict[tuple[str, str], float] = {}
    deleted: dict[tuple[str, str], float] = {}
    resource_of: dict[tuple[str, str], str] = {}
    for event in _watched_objects(view, target):
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


KSM_PHASE = "kube_pod_status_phase"  # kube-state-metrics: 1 for the pod's phase, 0 for the others
KSM_RESTARTS = "kube_pod_container_status_restarts_total"
POD_COLUMNS = ("pod", "node", "phase", "restarts", "first seen", "last seen")
_REMOVED = re.compile(r"^pod \S+ (?P<why>.*); its data is kept$")


@dataclass(frozen=True)
class PodRow:
    """One pod of a Deployment target: where it ran, its phase, its restarts and when profkit saw it.

    ``restarts`` is kube-state-metrics' count where the capture has it (``restarts_from`` "kube-state-metrics"),
    else the restarts profkit saw during the capture (restartCount going up, "capture"); ``phase`` is
    kube-state-metrics' where known, else what the pod watcher saw: Running while followed, then why it went.
    """

    pod: str
    node: str
    phase: str
    restarts: float
    restarts_from: str
    first_seen: float
    last_seen: float


def _phase_when_removed(message: str) -> str:
    why = m.group("why") if (m := _REMOVED.match(message)) else message
    ended = re.search(r"ended \((\w+)\)", why)
    if ended:
        return ended.group(1)
    return "Terminating" if "terminating" in why else "Deleted" if "deleted" in why else why


def pod_rows(view: BundleView, target: str | None) -> list[PodRow]:
    """The pods of the target's Deployment (every Deployment target's for the capture), from the pod watcher's
    records, the capture's restart and pod-removed events, and kube-state-metrics where the capture has it."""
    rows: list[PodRow] = []
    for t in view.targets():
        if t.kind != "deployment" or (target is not None and t.name != target):
            continue
        watched = {str(p.get("name")): p for p in t.spec.get("pods") or [] if isinstance(p, dict) and p.get("name")}
        seen = {i["instance"]: i for i in view.instances(t.name) if i["instance"]}
        events = view.events(target=t.name)
        phases: dict[str, tuple[float, str]] = {}
        for series in cached_series(view, KSM_PHASE, t.name):
            pod, points = series.labels.get("pod", series.instance), series.points
            if points and points[-1][1] == 1 and points[-1][0] >= phases.get(pod, (-math.inf, ""))[0]:
                phases[pod] = (points[-1][0], series.labels.get("phase", ""))
        ksm_restarts: dict[str, float] = defaultdict(float)
        for series in cached_series(view, KSM_RESTARTS, t.name):
            if series.points:
                ksm_restarts[series.labels.get("pod", series.instance)] += series.points[-1][1]
        for name in sorted(set(watched) | set(seen)):
            record, instance = watched.get(name, {}), seen.get(name, {})
            info = instance.get("info") or {}
            removed = [e for e in events if e.kind == "pod-removed" and e.instance == name]
            if name in phases:
                phase = phases[name][1]
            elif record:
                phase = _phase_when_removed(removed[-1].message) if record.get("removed") and removed else \
                    "Running" if not record.get("removed") else "gone"
            else:
                phase = ""
            counted = info.get("restarts")
            if name in ksm_restarts:
                restarts, source = ksm_restarts[name], "kube-state-metrics"
            elif isinstance(counted, dict) and counted:
                restarts, source = float(sum(counted.values())), "kube-state-metrics"
            else:
                restarts = float(sum(1 for e in events if e.kind == "restart" and e.instance == name))
                source = "capture"
            first = record.get("added") or instance.get("first_seen") or math.nan
            last = record.get("removed") or instance.get("last_seen") or math.nan
            rows.append(PodRow(name, str(record.get("node") or info.get("node") or ""), phase, restarts, source,
                               float(first), float(last)))
    return rows


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
