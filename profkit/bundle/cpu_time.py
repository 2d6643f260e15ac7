"""py-spy samples to CPU seconds: scale each thread's samples to the CPU time the kernel charged it.

py-spy (without ``--idle``) keeps a sample when the thread's kernel state is *runnable*. A runnable
thread is not necessarily on a CPU: on a loaded machine, or in a pod throttled by its CPU limit, it
waits in the run queue, and py-spy's weights (1/rate per sample) then measure wall time spent wanting
CPU. Measured here: a busy thread that got 1.83 CPU seconds in 15 s on a loaded 2-core machine had
14.9 s of py-spy samples. The samples still tell *where* a thread is; the amount of CPU comes from the
kernel: profkit's py-spy collectors (local, and in a pod through the same exec) store each thread's
and the process's utime+stime (/proc) at every window's edges, and this module scales each thread's
stacks to its measured CPU seconds. Samples of threads that ended during the window share what the
process used beyond the threads still alive. Without thread counters, the window is scaled to the
process's ``process_cpu_seconds_total``; without any CPU counter the profile is left as sampled and
labelled ``wall`` (runnable time, not CPU).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from profkit.model import Profile, Series, merge_profiles
from profkit.model.metric_names import PROCESS_CPU_SECONDS

THREAD_CPU = "profkit_thread_cpu_seconds_total"
PROCESS_CPU = "profkit_process_cpu_seconds_total"
PROCESS_METRIC = PROCESS_CPU_SECONDS  # the process's own counter (or psutil's): the fallback
EDGE_SLACK = 2.0  # seconds between a window's edge and the counter point taken for it
SCALED_THREADS = "thread CPU time (utime+stime per thread, /proc)"
SCALED_PROCESS = "process CPU time (process_cpu_seconds_total)"
UNSCALED = "py-spy samples of runnable threads (wall time, no CPU counter to scale to)"

_THREAD_NAME = re.compile(r"\bThread (\d+)\b")

SeriesLookup = Callable[[str], Sequence[Series]]


@dataclass(frozen=True)
class Window:
    """Where and when one py-spy window was recorded."""

    instance: str
    start: float
    duration: float


def _thread_profiles(data: bytes, decode: Callable[[bytes], Profile]) -> list[tuple[str, Profile]]:
    """Each thread of a py-spy speedscope file as its own Profile (decoded by the format reader)."""
    document: Any = json.loads(data)
    profiles = document.get("profiles") if isinstance(document, dict) else None
    if not isinstance(profiles, list) or len(profiles) < 1:
        return []
    out = []
    for entry in profiles:
        one = dict(document, profiles=[entry])
        out.append((str(entry.get("name", "")) if isinstance(entry, dict) else "", decode(json.dumps(one).encode())))
    return out


def _edge_values(series: Series, window: Window) -> tuple[float | None, float | None]:
    """The counter at the window's start edge (None: not alive then) and end edge (None: gone)."""
    start, end = window.start, window.start + window.duration
    before = [v for t, v in series.points if start - EDGE_SLACK <= t <= start + 0.5]
    after = [v for t, v in series.points if end - 0.5 <= t <= end + EDGE_SLACK + window.duration * 0.2]
    return (before[-1] if before else None), (after[0] if after else None)


def _edge_span(series: Sequence[Series], window: Window) -> float:
    """Seconds between the counter points taken at the window's edges (longer than the window by
    py-spy's start-up), from the process series."""
    start, end = window.start, window.start + window.duration
    for s in series:
        before = [t for t, _ in s.points if start - EDGE_SLACK <= t <= start + 0.5]
        after = [t for t, _ in s.points if end - 0.5 <= t <= end + EDGE_SLACK + window.duration * 0.2]
        if before and after and after[0] > before[-1]:
            return after[0] - before[-1]
    return 0.0


def _process_increase(series: Sequence[Series], window: Window) -> float | None:
    """CPU seconds the process used during the window: edge points if present, else interpolated."""
    best: float | None = None
    for s in series:
        first, last = _edge_values(s, window)
        if first is not None and last is not None:
            value = last - first
        else:
            covered = _interpolated_increase(s, window.start, window.start + window.duration)
            if covered is None:
                continue
            value = covered
        best = value if best is None else max(best, value)  # one process seen by two collectors
    return best


def _interpolated_increase(series: Series, start: float, end: float) -> float | None:
    """A counter's increase over [start, end] by linear interpolation (resets added back), scaled
    up from the part of the span it covers; None when it covers less than half of it."""
    points, offset, previous = [], 0.0, None
    for t, v in series.points:
        if previous is not None and v < previous:
            offset += previous
        previous = v
        points.append((t, v + offset))
    if len(points) < 2:
        return None
    lo, hi = max(start, points[0][0]), min(end, points[-1][0])
    if hi - lo < 0.5 * (end - start) or hi <= lo:
        return None

    def at(x: float) -> float:
        for (t0, v0), (t1, v1) in zip(points, points[1:]):
            if t0 <= x <= t1:
                return v0 + (v1 - v0) * ((x - t0) / (t1 - t0) if t1 > t0 else 1.0)
        return points[-1][1]

    return (at(hi) - at(lo)) * (end - start) / (hi - lo)


def cpu_seconds_profile(data: bytes, decode: Callable[[bytes], Profile], window: Window,
                        series: SeriesLookup) -> Profile:
    """The py-spy window ``data`` with weights in CPU nanoseconds (see the module docstring).

    ``series(name)`` returns the bundle's series of that name for the window's instance.
    ``extra["cpu_time"]`` says what the weights were scaled to; ``extra["sampled_seconds"]`` keeps
    py-spy's own total.
    """
    merged = decode(data)
    sampled = merged.total / 1e9 if merged.unit == "nanoseconds" else 0.0
    merged.extra["sampled_seconds"] = f"{sampled:.3f}"
    if merged.unit != "nanoseconds" or not merged.stacks:
        return merged
    process_series = [s for s in series(PROCESS_CPU) if s.instance == window.instance]
    process_used = _process_increase(process_series, window)
    thread_series = {s.labels.get("tid", ""): s for s in series(THREAD_CPU) if s.instance == window.instance}
    threads = _thread_profiles(data, decode) if thread_series else []
    if threads and process_used is not None:
        span = _edge_span(process_series, window)
        # The counters' edges include py-spy's start-up; charge the window its share of that span.
        inside = min(1.0, window.duration / span) if span > 0 else 1.0
        scaled: list[Profile] = []
        unknown: list[Profile] = []
        known_cpu = 0.0
        for name, profile in threads:
            match = _THREAD_NAME.search(name)
            counter = thread_series.get(match.group(1)) if match else None
            first, last = _edge_values(counter, window) if counter is not None else (None, None)
            if last is None:  # not an OS thread id we measured, or the thread ended: share the rest
                unknown.append(profile)
                continue
            used = max(0.0, (last - (first or 0.0)) * inside)
            known_cpu += used
            scaled.append(_scaled(profile, used))
        rest = max(0.0, process_used * inside - known_cpu)
        unknown_total = sum(p.total for p in unknown)
        scaled += [_scaled(p, rest * p.total / unknown_total) for p in unknown if unknown_total > 0]
        kept = [p for p in scaled if p.stacks]
        result = merge_profiles(kept) if kept else _scaled(merged, 0.0)
        _carry(merged, result, SCALED_THREADS, sampled)
        result.extra["unattributed_cpu_seconds"] = f"{rest if unknown_total <= 0 else 0.0:.3f}"
        return result
    if process_used is None:
        process_used = _process_increase([s for s in series(PROCESS_METRIC) if s.instance == window.instance],
                                         window)
    if process_used is not None and sampled > 0:
        result = _scaled(merged, max(0.0, process_used))
        _carry(merged, result, SCALED_PROCESS, sampled)
        return result
    merged.sample_type = "wall"
    merged.extra["cpu_time"] = UNSCALED
    return merged


def _scaled(profile: Profile, cpu_seconds: float) -> Profile:
    """``profile`` with its weights scaled so they add up to ``cpu_seconds`` (zero weights dropped)."""
    total = profile.total
    factor = cpu_seconds * 1e9 / total if total > 0 else 0.0
    keep = [(stack, w * factor) for stack, w in zip(profile.stacks, profile.weights) if w * factor > 0]
    # Only the frames the kept stacks use (a table of unused frames confuses top-N by name).
    used = sorted({i for stack, _ in keep for i in stack})
    remap = {old: new for new, old in enumerate(used)}
    out = Profile(frames=[profile.frames[i] for i in used],
                  stacks=[tuple(remap[i] for i in s) for s, _ in keep], weights=[w for _, w in keep],
                  sample_type=profile.sample_type, unit=profile.unit, kind=profile.kind,
                  language=profile.language, duration=profile.duration, period=profile.period,
                  extra=dict(profile.extra))
    return out


def _carry(source: Profile, result: Profile, how: str, sampled: float) -> None:
    """Keep the decoded file's identity (kind, language, exporter, threads) on the scaled profile."""
    result.kind, result.language, result.unit = source.kind, source.language, source.unit
    result.sample_type = "cpu"
    result.duration = source.duration
    result.extra = {**source.extra, "cpu_time": how, "sampled_seconds": f"{sampled:.3f}"}
