"""Object lifecycle from the watcher's events: live counts over time, deletion times, reconcile counting from logs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from profkit.analyze.rules import RequeueStormRules
from profkit.bundle.reader import BundleView
from profkit.model import LogRecord, ObjectEvent

Points = list[tuple[float, float]]


@dataclass
class KeyLife:
    """One object key's observed lifetimes: ``(created, deleted)`` intervals (deleted None while live)."""

    key: str
    resource: str
    intervals: list[tuple[float | None, float | None]] = field(default_factory=list)
    deletion_requested: float | None = None  # first deletionTimestamp seen (finalizers may hold it)

    def deleted_at(self, ts: float) -> float | None:
        """When the incarnation of the key current at ``ts`` was deleted, if it was deleted before ``ts``."""
        latest: float | None = None
        for created, deleted in self.intervals:
            if deleted is not None and deleted <= ts and (created is None or created <= deleted):
                latest = deleted
            if created is not None and created <= ts and (deleted is None or deleted > ts):
                return None  # live again at ts
        return latest

    @property
    def last_deleted(self) -> float | None:
        gone = [d for _, d in self.intervals if d is not None]
        return max(gone) if gone else None


def key_lives(events: Iterable[ObjectEvent]) -> dict[str, KeyLife]:
    """Lifetimes per object key (``namespace/name``), merged across resources with the same key."""
    lives: dict[str, KeyLife] = {}
    for e in events:
        life = lives.setdefault(e.key, KeyLife(e.key, e.resource))
        open_interval = life.intervals and life.intervals[-1][1] is None
        if e.event == "deleted":
            if open_interval:
                created, _ = life.intervals[-1]
                life.intervals[-1] = (created, e.ts)
            else:
                life.intervals.append((None, e.ts))  # existed before the capture started
        else:
            if not open_interval:
                life.intervals.append((e.ts if e.event == "added" else None, None))
            if e.deletion_ts is not None and life.deletion_requested is None:
                life.deletion_requested = e.deletion_ts
    return lives


def live_count(events: Sequence[ObjectEvent], resource: str | None = None) -> Points:
    """Live objects over time (one point per event). Objects first seen as ``modified`` count as pre-existing."""
    live: set[str] = set()
    out: Points = []
    for e in events:
        if resource is not None and e.resource != resource:
            continue
        key = f"{e.resource}:{e.key}"
        if e.event == "deleted":
            live.discard(key)
        else:
            live.add(key)
        out.append((e.ts, float(len(live))))
    return out


def dominant_resource(events: Sequence[ObjectEvent]) -> str | None:
    """The watched resource with the most distinct objects (the controller's primary kind, usually)."""
    keys: dict[str, set[str]] = defaultdict(set)
    for e in events:
        keys[e.resource].add(e.key)
    return max(keys, key=lambda r: len(keys[r])) if keys else None


def group_reconciles(records: Iterable[LogRecord], window: float = 0.5) -> list[float]:
    """Distinct reconciles among one key's log lines: one per ``reconcileID`` field, else lines ``window`` s apart."""
    ids: dict[str, float] = {}
    loose: list[float] = []
    for r in records:
        rid = r.fields.get("reconcileID") or r.fields.get("reconcile_id")
        if isinstance(rid, str) and rid:
            ids.setdefault(rid, r.ts)
        else:
            loose.append(r.ts)
    out = list(ids.values())
    last: float | None = None
    for ts in sorted(loose):
        if last is None or ts - last > window:
            out.append(ts)
        last = ts
    return sorted(out)


def per_minute(timestamps: Sequence[float], until: float | None = None) -> float:
    """Rate per minute of periodic events: intervals over the span they cover (first to last, or ``until``).

    One event alone counts as one per minute.
    """
    if not timestamps:
        return 0.0
    end = until if until is not None else timestamps[-1]
    span = end - timestamps[0]
    if len(timestamps) < 2 or span <= 0:
        return float(len(timestamps))
    return (len(timestamps) - 1) / span * 60.0


@dataclass
class Terminating:
    """One object whose deletion was requested and that was still there when the capture ended."""

    key: str
    resource: str
    requested: float
    finalizers: list[str] = field(default_factory=list)
    target: str = ""
    modified: list[float] = field(default_factory=list)  # watcher updates while it carried a deletionTimestamp
    lines: list[LogRecord] = field(default_factory=list)  # filled by requeue-storm-deleted


def terminating_objects(events: list[ObjectEvent], lives: dict[str, KeyLife]) -> dict[str, Terminating]:
    """Objects with a deletionTimestamp that never got their deleted event, with their updates meanwhile."""
    out: dict[str, Terminating] = {}
    for e in events:
        life = lives.get(e.key)
        if e.deletion_ts is None or life is None or not life.intervals or life.intervals[-1][1] is not None:
            continue
        created = life.intervals[-1][0]
        if created is not None and e.ts < created:
            continue  # an earlier incarnation
        item = out.get(e.key)
        if item is None:
            item = out[e.key] = Terminating(e.key, e.resource, e.deletion_ts, target=e.target)
        item.finalizers = list(e.finalizers)
        if e.event == "modified":
            item.modified.append(e.ts)
    return out


def stuck_terminating_keys(view: BundleView, rules: RequeueStormRules) -> set[str]:
    """Keys of objects whose deletion was requested ``stuck_min_seconds`` before the capture ended and that
    are still there (for other analyzers: errors about them are this pathology, reported here)."""
    events = view.objects()
    end = view.time_range()[1]
    return {k for k, t in terminating_objects(events, key_lives(events)).items() if end - t.requested >= rules.stuck_min_seconds}
