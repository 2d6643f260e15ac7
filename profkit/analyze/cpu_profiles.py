"""CPU profiles per target for the profile analyzers: merged windows, CPU seconds, reconciles meanwhile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from profkit.bundle.reader import BundleView
from profkit.model import Profile, ProfileRef, Series, merge_profiles
from profkit.model.metric_names import PROCESS_CPU_SECONDS, RECONCILE_TOTAL

CPU_KINDS = ("cpu", "wall")  # py-spy without --idle samples running threads only: close to CPU
PROCESS_CPU = PROCESS_CPU_SECONDS
PY_SPY_DEFAULT_RATE = 100.0  # samples per second, when a sample-count profile does not say

_SECONDS_PER_UNIT = {
    "nanoseconds": 1e-9, "microseconds": 1e-6, "milliseconds": 1e-3, "seconds": 1.0,
}


@dataclass
class TargetCpu:
    """All CPU profile windows of one target, merged, with what is needed to turn weights into seconds."""

    target: str
    profile: Profile
    windows: list[ProfileRef]
    window_profiles: list[Profile] = field(repr=False)
    skipped: list[ProfileRef] = field(default_factory=list)
    seconds_per_unit: float = 1e-9
    seconds_estimated: bool = False

    @property
    def cpu_seconds(self) -> float:
        return self.profile.total * self.seconds_per_unit

    @property
    def sample_count(self) -> float:
        """Samples behind the profile (its weight over the sampling period; 100 Hz when unknown)."""
        period = self.profile.period * self.seconds_per_unit
        return self.cpu_seconds / (period if period > 0 else 1.0 / PY_SPY_DEFAULT_RATE)

    @property
    def profiled_seconds(self) -> float:
        """Wall seconds covered by profiles (windows of several replicas add up)."""
        return sum(w.duration or p.duration for w, p in zip(self.windows, self.window_profiles))

    @property
    def paths(self) -> tuple[str, ...]:
        """Bundle paths of the profile windows used (what the finding's flame graph links to)."""
        return tuple(ref.path for ref in self.windows)

    def window_evidence(self, share_of: Callable[[Profile], float] | None = None) -> list[dict[str, object]]:
        """The windows used, as evidence: file, start, duration and optionally a share per window."""
        out: list[dict[str, object]] = []
        for ref, prof in zip(self.windows, self.window_profiles):
            entry: dict[str, object] = {"path": ref.path, "instance": ref.instance, "start": ref.start,
                                        "duration": ref.duration}
            if share_of is not None:
                entry["share"] = round(share_of(prof), 4)
            out.append(entry)
        return out


def seconds_per_unit(profile: Profile) -> tuple[float, bool]:
    """Seconds per weight unit of a CPU profile, and whether that is an assumption."""
    factor = _SECONDS_PER_UNIT.get(profile.unit)
    if factor is not None:
        return factor, False
    rate = profile.extra.get("sample_rate") or profile.extra.get("rate") or ""
    try:
        return 1.0 / float(rate), False
    except (TypeError, ValueError, ZeroDivisionError):
        return 1.0 / PY_SPY_DEFAULT_RATE, True


def cpu_profiles(view: BundleView) -> list[TargetCpu]:
    """One merged CPU profile per target (``cpu`` kind preferred over ``wall``), damaged files skipped."""
    out: list[TargetCpu] = []
    targets = sorted({r.target for r in view.profile_refs() if r.kind in CPU_KINDS})
    for target in targets:
        for kind in CPU_KINDS:
            refs = view.profile_refs(target, kind)
            if not refs:
                continue
            loaded: list[tuple[ProfileRef, Profile]] = list(view.profiles(target, kind))
            loaded_ids = {r.id for r, _ in loaded}
            skipped = [r for r in refs if r.id not in loaded_ids]
            loaded = [(r, p) for r, p in loaded if p.stacks]
            if not loaded:
                break
            merged = merge_profiles([p for _, p in loaded])
            merged.target = target
            factor, estimated = seconds_per_unit(merged)
            out.append(TargetCpu(target, merged, [r for r, _ in loaded], [p for _, p in loaded], skipped,
                                 factor, estimated))
            break
    return out


def _reset_free(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """A counter's points made monotonic across resets (process restarts)."""
    out: list[tuple[float, float]] = []
    offset, previous = 0.0, None
    for t, v in points:
        if previous is not None and v < previous:
            offset += previous
        previous = v
        out.append((t, v + offset))
    return out


def _value_at(points: list[tuple[float, float]], t: float) -> float:
    """Linear interpolation of a monotonic counter at ``t`` (inside its span)."""
    lo, hi = 0, len(points) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if points[mid][0] <= t:
            lo = mid
        else:
            hi = mid
    (t0, v0), (t1, v1) = points[lo], points[hi]
    if t1 <= t0:
        return v1
    return v0 + (v1 - v0) * min(max((t - t0) / (t1 - t0), 0.0), 1.0)


def counter_increase(series: Series, start: float, end: float) -> tuple[float, float]:
    """Increase of a counter between ``start`` and ``end`` and the seconds of that span it covers."""
    return _increase(_reset_free(series.points), start, end)


def _increase(points: list[tuple[float, float]], start: float, end: float) -> tuple[float, float]:
    """:func:`counter_increase` over points already made reset-free."""
    if len(points) < 2:
        return 0.0, 0.0
    lo, hi = max(start, points[0][0]), min(end, points[-1][0])
    if hi <= lo:
        return 0.0, 0.0
    return _value_at(points, hi) - _value_at(points, lo), hi - lo


@dataclass(frozen=True)
class RateDuringWindows:
    """How much a counter grew during the profile windows, and over how many of their seconds."""

    increase: float
    covered_seconds: float
    window_seconds: float

    @property
    def coverage(self) -> float:
        return self.covered_seconds / self.window_seconds if self.window_seconds else 0.0

    @property
    def per_second(self) -> float:
        return self.increase / self.covered_seconds if self.covered_seconds else 0.0


def counter_during_windows(view: BundleView, metric: str, cpu: TargetCpu,
                           same_process: bool = False) -> RateDuringWindows | None:
    """A counter summed over its series (label sets, instances) during the profile windows.

    ``same_process``: the series of one instance all count the same thing (process CPU from
    /metrics and from psutil), so the largest is taken instead of the sum.
    """
    series = view.series(metric, target=cpu.target)
    if not series:
        return None
    increase = covered = window_seconds = 0.0
    free = [_reset_free(s.points) for s in series]  # once per series, not once per window
    for ref in cpu.windows:
        start, end = ref.start, ref.start + ref.duration
        window_seconds += ref.duration
        mine = [i for i, s in enumerate(series) if s.instance == ref.instance] or range(len(series))
        spans = [_increase(free[i], start, end) for i in mine]
        if same_process:  # one process counted by several collectors (/metrics and psutil): take one
            spans = [max(spans)] if spans else []
        increase += sum(i for i, _ in spans)
        covered += max((c for _, c in spans), default=0.0)
    return RateDuringWindows(increase, covered, window_seconds)


def reconciles_during(view: BundleView, cpu: TargetCpu) -> RateDuringWindows | None:
    """``controller_runtime_reconcile_total`` (all controllers and results) during the windows."""
    counted = counter_during_windows(view, RECONCILE_TOTAL, cpu)
    return counted if counted is not None and counted.covered_seconds > 0 else None


def cores_during(view: BundleView, cpu: TargetCpu) -> tuple[float, str]:
    """Mean CPU cores the target used while profiled: from process_cpu_seconds_total, else the profile."""
    counted = counter_during_windows(view, PROCESS_CPU, cpu, same_process=True)
    if counted is not None and counted.coverage >= 0.5:
        return counted.per_second, PROCESS_CPU
    wall = cpu.profiled_seconds
    return (cpu.cpu_seconds / wall if wall else 0.0), "profile"


def process_cpu_increase(series: Sequence[Series]) -> float:
    """CPU seconds used over whole series of process_cpu_seconds_total: one series per instance."""
    per_instance: dict[str, float] = {}
    for s in series:
        per_instance[s.instance] = max(per_instance.get(s.instance, 0.0), s.increase())
    return sum(per_instance.values())
