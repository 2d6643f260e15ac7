"""Shared by memory-growth and goroutine-growth: growth over the run not explained by the object count, and profile diffs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

from profkit.analyze.lifecycle import dominant_resource, live_count
from profkit.analyze.metrics_math import Points, sample_at, trend, unexplained_growth
from profkit.bundle.reader import BundleView
from profkit.errors import BadInput
from profkit.model import Profile, Series

# Frames that say nothing about who allocates or who started a goroutine.
PLUMBING = ("runtime.", "runtime/", "sync.", "internal/", "reflect.", "syscall.", "<")


@dataclass(frozen=True)
class Growth:
    """How one instance's metric moved over the run."""

    instance: str
    first: float
    last: float
    fitted_growth: float
    unexplained: float  # growth left after fitting value ~ objects + time
    relative: float  # unexplained / fitted start
    per_object: float
    duration: float
    still_growing: bool  # slope over the last third of the run is positive
    objects_first: float | None
    objects_last: float | None


def object_timeline(view: BundleView, target: str) -> Points:
    """Live objects of the primary watched resource over time (empty without an object watcher)."""
    events = view.objects()
    scoped = [e for e in events if e.target in ("", target)] or events
    resource = dominant_resource(scoped)
    return live_count(scoped, resource) if resource else []


def assess(series: Series, objects: Points) -> Growth | None:
    """Growth of one series against the object timeline; None when too short to say."""
    t = trend(series.points)
    if t is None:
        return None
    unexplained, per_object = unexplained_growth(series.points, objects)
    base = t.fitted_start if t.fitted_start > 0 else max(t.first, 1e-9)
    tail = series.points[len(series.points) * 2 // 3:]
    tail_trend = trend(tail)
    # Objects where the "first" and "last" medians of the trend are taken (a tenth into the run, and its end).
    probe = [series.points[len(series.points) // 10][0], series.points[-1][0]]
    obj_first, obj_last = sample_at(objects, probe) if objects else (None, None)
    return Growth(
        instance=series.instance, first=t.first, last=t.last, fitted_growth=t.growth, unexplained=unexplained,
        relative=unexplained / base, per_object=per_object, duration=t.duration,
        still_growing=tail_trend is not None and tail_trend.slope > 0,
        objects_first=obj_first, objects_last=obj_last,
    )


def growth_evidence(metric: str, g: Growth) -> dict[str, Any]:
    return {
        "series": metric, "instance": g.instance, "first": g.first, "last": g.last,
        "fitted_growth": round(g.fitted_growth, 1), "unexplained_growth": round(g.unexplained, 1),
        "unexplained_relative": round(g.relative, 3), "per_object": round(g.per_object, 2),
        "duration_seconds": round(g.duration, 1), "still_growing": g.still_growing,
        "objects_first": g.objects_first, "objects_last": g.objects_last,
    }


def grower_paths(growers: list[dict[str, Any]]) -> tuple[str, ...]:
    """Bundle paths of the first and last profiles the growers were read from."""
    return tuple(dict.fromkeys(path for g in growers for path in g["profiles"]))


def key_frame(names: list[str]) -> str:
    """The leaf-most frame outside the runtime: the allocation site, or the code a goroutine waits in."""
    for name in reversed(names):
        if not name.startswith(PLUMBING):
            return name
    return names[-1] if names else "?"


def _grouped(profile: Profile, group: Callable[[list[str]], str]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for names, weight in profile.named_stacks():
        out[group(names)] += weight
    return out


def profile_growers(view: BundleView, target: str, kind: str, group: Callable[[list[str]], str] = key_frame,
                    top: int = 5) -> list[dict[str, Any]]:
    """Top growers between the first and the last profile of ``kind`` per instance (empty when unavailable).

    Stacks are grouped by ``group`` (default: the leaf-most frame outside the runtime).
    """
    try:
        refs = view.profile_refs(target=target, kind=kind)
    except Exception:  # an older bundle without profiles
        return []
    by_instance: dict[str, list[Any]] = defaultdict(list)
    for ref in refs:
        by_instance[ref.instance].append(ref)
    out: list[dict[str, Any]] = []
    for instance, items in by_instance.items():
        if len(items) < 2:
            continue
        try:
            first, last = view.load_profile(items[0]), view.load_profile(items[-1])
        except (BadInput, ValueError, OSError):
            return []
        before, after = _grouped(first, group), _grouped(last, group)
        deltas = sorted(((after.get(k, 0.0) - before.get(k, 0.0), k) for k in set(before) | set(after)),
                        reverse=True)
        for delta, name in deltas[:top]:
            if delta <= 0:
                break
            out.append({"instance": instance, "function": name, "first": before.get(name, 0.0),
                        "last": after.get(name, 0.0), "growth": delta, "unit": last.unit,
                        "profiles": [items[0].path, items[-1].path]})
    return out
