"""requeue-storm-deleted: objects reconciled again and again after they were deleted, NotFound, or stuck Terminating.

Three variants of one pathology, one finding id (the same fix area, so ``compare`` pairs them):
``deleted`` (the watcher saw the object go, the logs go on about it), ``notfound`` (no watcher:
the controller's own NotFound lines repeat) and ``stuck-terminating`` (deletion was requested,
the object never went away because its finalizer is never removed, and the controller keeps
retrying its deletion: log lines about it, or the watcher's modified events while it carries a
deletionTimestamp). The last is the same bug one step earlier, in Go and Python (kopf's
``TemporaryError`` in a deletion handler whose backing object is gone) alike.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.analyze.workqueue import queue_series
from profkit.analyze.lifecycle import KeyLife, group_reconciles, key_lives, live_count, per_minute, terminating_objects
from profkit.analyze.metrics_math import average_rate, series_of, total_increase
from profkit.analyze.rules import RequeueStormRules, rules_from
from profkit.bundle.reader import BundleView
from profkit.formats.logs import object_key_of
from profkit.model import Finding, LogRecord, ObjectEvent, Series, Severity
from profkit.units import format_number, plural
from profkit.model.metric_names import RECONCILE_TOTAL, WORKQUEUE_RETRIES_TOTAL

ID = "requeue-storm-deleted"

# Messages that say the reconciled object is gone: apimachinery's NotFound text, BMO's
# "could not get baremetalhost, not running reconciler" (issue 1190) and the like.
NOT_FOUND = re.compile(r"not ?found|could not get|no longer exists|already deleted|does not exist", re.I)
QUOTED_NOT_FOUND = re.compile(r'"([^"]+)" not ?found', re.I)
SELF_GONE = re.compile(r"could not get|no longer exists|already deleted|does not exist|^not ?found|object not found", re.I)
# The same, as SQL LIKE needles (case-insensitive for ASCII) to select candidate lines cheaply.
NOT_FOUND_NEEDLES = ("not found", "notfound", "could not get", "no longer exists", "already deleted", "does not exist")
REQUEUE_RESULTS = ("requeue", "requeue_after", "error")
MAX_SAMPLES = 5
MAX_LISTED = 20
# kopf's handler lines name the handler: "Handler 'delete_widget' failed temporarily: ...".
KOPF_HANDLER = re.compile(r"Handler '([^']+)'")


@dataclass
class _KeyTrail:
    """What the logs say about one (target, controller, key) after its deletion or NotFound."""

    after_delete: list[LogRecord] = field(default_factory=list)
    not_found: list[LogRecord] = field(default_factory=list)
    deleted_at: float | None = None


def record_key(r: LogRecord) -> str:
    """The reconciled object's ``namespace/name``: the parsed key, else derived from the fields."""
    return r.object_key or object_key_of(r.fields)


def _controller(r: LogRecord) -> str:
    return r.controller or r.logger or "?"


def _is_kopf(r: LogRecord) -> bool:
    return not r.controller and (r.logger == "kopf" or r.logger.startswith("kopf."))


def same_controller(log_name: str, metric_label: str) -> bool:
    """Whether a log's controller/logger (``controllers.HostFirmwareSettings``) is a metric's ``controller`` label."""
    def norm(text: str) -> str:
        text = re.sub(r"[^a-z0-9.]", "", text.lower())
        return re.sub(r"^(controllers?\.)+", "", text).replace(".", "")
    return bool(log_name) and norm(log_name) == norm(metric_label)


def _metric_controller(view: BundleView, target: str, log_name: str) -> str:
    for s in series_of(view, RECONCILE_TOTAL, target=target):
        label = s.labels.get("controller", "")
        if same_controller(log_name, label):
            return label
    return log_name


def _text(r: LogRecord) -> str:
    err = r.fields.get("error") or r.fields.get("err") or ""
    return f"{r.message} {err}"


def logs_about(view: BundleView, keys: set[str], since: float | None = None) -> Iterator[LogRecord]:
    """Log lines about these object keys, after ``since`` when given (filtered in SQLite by the bundle reader)."""
    if not keys:
        return iter(())
    return view.logs(object_keys=sorted(keys), since=since)


def about_itself(r: LogRecord, key: str) -> bool:
    """Whether a NotFound line is about the reconciled object itself, not a dependency it waits for.

    ``widgets.scale.profkit.dev "w-1" not found`` names the object; "could not get <kind>" and
    "no longer exists" phrases carry no other name. ``secrets "w-1-kubeconfig" not found`` is a
    missing dependency (normal while waiting for it) and does not count.
    """
    named = QUOTED_NOT_FOUND.findall(_text(r))
    if named:
        return key.rsplit("/", 1)[-1] in named
    return SELF_GONE.search(_text(r)) is not None


def _not_found_lines(view: BundleView) -> Iterator[LogRecord]:
    """Lines whose message (or, for "Reconciler error", error field) says the object is gone, each once."""
    # NotFound in the message; or a "Reconciler error" whose fields (the error) say NotFound, found
    # by the same needles in the fields' JSON text so that other error lines are never decoded.
    scans = [view.logs(contains=NOT_FOUND_NEEDLES),
             view.logs(contains="Reconciler error", fields_contains=NOT_FOUND_NEEDLES)]
    seen: set[tuple[float, str, str]] = set()
    for scan in scans:
        for r in scan:
            ident = (r.ts, r.instance, r.raw or r.message)
            if ident not in seen and NOT_FOUND.search(_text(r)):
                seen.add(ident)
                yield r


def _live(life: KeyLife | None, ts: float) -> bool:
    return life is not None and any((c is None or c <= ts) and (d is None or d > ts) for c, d in life.intervals)


def _scan_logs(view: BundleView, lives: dict[str, KeyLife], rules: RequeueStormRules
               ) -> dict[tuple[str, str, str], _KeyTrail]:
    """Lines about keys after their deletion, and NotFound lines about keys that are not live."""
    trails: dict[tuple[str, str, str], _KeyTrail] = defaultdict(_KeyTrail)
    deleted_keys = {key for key, life in lives.items() if life.last_deleted is not None}
    # Lines before the first deletion plus grace can never count: leave them in SQLite.
    first_deletion = min((d for key in deleted_keys for _, d in lives[key].intervals if d is not None), default=None)
    since = None if first_deletion is None else first_deletion + rules.grace_seconds
    for r in logs_about(view, deleted_keys, since):
        key = record_key(r)
        life = lives.get(key)
        deleted = life.deleted_at(r.ts) if life is not None else None
        if deleted is not None and r.ts > deleted + rules.grace_seconds:
            trail = trails[(r.target, _controller(r), key)]
            trail.after_delete.append(r)
            trail.deleted_at = deleted
    for r in _not_found_lines(view):
        key = record_key(r)
        if not key or key in deleted_keys or _live(lives.get(key), r.ts) or not about_itself(r, key):
            continue
        trails[(r.target, _controller(r), key)].not_found.append(r)
    for trail in trails.values():
        trail.not_found.sort(key=lambda r: r.ts)
    return trails


def _stuck_entries(view: BundleView, events: list[ObjectEvent], lives: dict[str, KeyLife],
                   rules: RequeueStormRules) -> dict[tuple[str, str], list[tuple[dict[str, Any], list[LogRecord]]]]:
    """Objects stuck Terminating for ``stuck_min_seconds`` while something keeps retrying them, per controller."""
    end = view.time_range()[1]
    stuck = {k: t for k, t in terminating_objects(events, lives).items() if end - t.requested >= rules.stuck_min_seconds}
    if not stuck:
        return {}
    since = min(t.requested for t in stuck.values()) + rules.grace_seconds
    for r in logs_about(view, set(stuck), since):
        item = stuck.get(record_key(r))
        if item is not None and r.ts > item.requested + rules.grace_seconds:
            item.lines.append(r)
    out: dict[tuple[str, str], list[tuple[dict[str, Any], list[LogRecord]]]] = defaultdict(list)
    for key, item in sorted(stuck.items()):
        by_controller: dict[tuple[str, str], list[LogRecord]] = defaultdict(list)
        for r in item.lines:
            # kopf logs as logger kopf.objects: the resource its handlers serve names the controller.
            by_controller[(r.target, item.resource if _is_kopf(r) else _controller(r))].append(r)
        updates = [ts for ts in item.modified if ts > item.requested + rules.grace_seconds]
        if not by_controller and len(updates) >= rules.min_reconciles_after_delete:
            by_controller[(item.target, item.resource)] = []  # no logs: the watcher's updates are the retries
        for (target, controller), lines in by_controller.items():
            retries = group_reconciles(lines) if lines else sorted(updates)
            if len(retries) < rules.min_reconciles_after_delete:
                continue
            entry: dict[str, Any] = {
                "key": key, "state": "terminating", "deletion_requested_at": item.requested,
                "stuck_seconds": round(end - item.requested, 1), "finalizers": item.finalizers,
                "source": "objects+logs" if lines else "objects (updates while terminating)",
                "retries": len(retries), "updates_while_terminating": len(updates),
                "first": retries[0], "last": retries[-1], "per_minute": round(per_minute(retries), 2),
            }
            handlers = sorted({m.group(1) for r in lines for m in [KOPF_HANDLER.search(r.message)] if m})
            if handlers:
                entry["handlers"] = handlers
            if any(_is_kopf(r) for r in lines):
                entry["framework"] = "kopf"
            out[(target, controller)].append((entry, lines))
    return out


def _stuck_findings(view: BundleView, events: list[ObjectEvent], lives: dict[str, KeyLife],
                    rules: RequeueStormRules) -> list[Finding]:
    findings: list[Finding] = []
    for (target, controller), pairs in sorted(_stuck_entries(view, events, lives, rules).items()):
        entries = sorted((e for e, _ in pairs), key=lambda e: -e["retries"])
        samples: list[str] = []
        for _, lines in pairs:
            for r in lines[:1]:
                if len(samples) < MAX_SAMPLES and (r.raw or r.message) not in samples:
                    samples.append(r.raw or r.message)
        rate = sum(e["per_minute"] for e in entries)
        handlers = sorted({h for e in entries for h in e.get("handlers", [])})
        evidence: dict[str, Any] = {
            "variant": "stuck-terminating",
            "controller": controller,
            "objects_stuck_terminating": len(entries),
            "longest_stuck_seconds": max(e["stuck_seconds"] for e in entries),
            "retries": sum(e["retries"] for e in entries),
            "retries_per_minute": round(rate, 2),
            "window": [min(e["first"] for e in entries), max(e["last"] for e in entries)],
            "objects": entries[:MAX_LISTED],
            "log_samples": samples,
        }
        if handlers:
            evidence["handlers"] = handlers
        if any(e.get("framework") == "kopf" for e in entries):
            evidence["framework"] = "kopf"
        critical = len(entries) >= rules.critical_objects or rate >= rules.critical_per_minute
        findings.append(_stuck_finding(target, controller, "critical" if critical else "warning", evidence))
    return findings


def _stuck_finding(target: str, controller: str, severity: Severity, evidence: dict[str, Any]) -> Finding:
    count = evidence["objects_stuck_terminating"]
    handlers = evidence.get("handlers", [])
    keys = ", ".join(e["key"] for e in evidence["objects"][:3])
    finalizers = sorted({f for e in evidence["objects"] for f in e["finalizers"]})
    kopf = evidence.get("framework") == "kopf" or any(f.startswith("kopf.") for f in finalizers)
    title = (f"{controller}: {plural(count, 'object')} stuck Terminating "
             f"(up to {evidence['longest_stuck_seconds']:.0f} s), "
             f"deletion retried {format_number(evidence['retries_per_minute'])} times/min"
             + (f" by handler {', '.join(handlers)}" if handlers else ""))
    if kopf:
        fix = (f"In the deletion handler ({', '.join(handlers) or '@kopf.on.delete'}), treat a backing object that is "
               "already gone (NotFound) as cleaned up and return normally, so kopf removes its finalizer; raise "
               "`kopf.TemporaryError` only for failures that can heal, and `kopf.PermanentError` (or a retry limit "
               "with `retries=`/`timeout=` on the handler) for the rest")
    else:
        fix = (f"In the {controller} reconciler's deletion path, when what the finalizer cleans up is already gone "
               "(NotFound), count the cleanup as done and remove the finalizer (`controllerutil.RemoveFinalizer` "
               "and Update) instead of returning an error or `Requeue`; the object then goes away (the same bug as "
               "baremetal-operator issue 1190, one step earlier)")
    return Finding(
        id=ID, severity=severity, target=target, title=title, evidence=evidence,
        recommendation=fix + (f". Finalizers held: {', '.join(finalizers)}" if finalizers else "")
        + (f". Stuck keys include {keys}." if keys else "."),
        window=(float(evidence["window"][0]), float(evidence["window"][1])), log_samples=tuple(evidence["log_samples"]),
    )


def _metric_storm(view: BundleView, controller: str, target: str, quiet_from: float | None) -> dict[str, Any]:
    """Requeue/error reconcile rate and retries after ``quiet_from`` (no live object), and before it."""
    evidence: dict[str, Any] = {}
    requeues: list[Series] = []
    for result in REQUEUE_RESULTS:
        requeues += series_of(view, RECONCILE_TOTAL, target=target,
                                controller=controller, result=result)
    retries = queue_series(view, WORKQUEUE_RETRIES_TOTAL, target, controller)
    if not requeues:
        return evidence
    # Only the series that show the signal: a flat-zero retries counter proves nothing.
    evidence["series"] = [{"name": s.name, "labels": s.labels, "instance": s.instance}
                          for s in requeues + retries if s.increase() > 0]
    end = max((s.points[-1][0] for s in requeues if s.points), default=0.0)
    evidence["requeue_rate_per_s"] = round(average_rate(requeues), 4)
    if quiet_from is not None and end - quiet_from > 0:
        evidence["requeue_rate_after_per_s"] = round(average_rate(requeues, quiet_from, end), 4)
        evidence["requeue_rate_before_per_s"] = round(average_rate(requeues, None, quiet_from), 4)
        evidence["retries_increase_after"] = total_increase(retries, quiet_from, end)
        evidence["window"] = [quiet_from, end]
    return evidence


def _all_gone_since(view: BundleView, grace: float) -> float | None:
    """When the last watched object went away (live count 0 until the end), plus grace; None otherwise."""
    timeline = live_count(view.objects())
    if not timeline or timeline[-1][1] > 0 or max(v for _, v in timeline) <= 0:
        return None
    last_nonzero = max(t for t, v in timeline if v > 0)
    return min(t for t, v in timeline if v == 0 and t >= last_nonzero) + grace


@analyzer(ID, series=(RECONCILE_TOTAL,))  # retries only when a finding names them
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Flag controllers that keep reconciling objects that are gone."""
    rules = rules_from(options).requeue_storm_deleted
    events = view.objects()
    lives = key_lives(events)
    trails = _scan_logs(view, lives, rules)

    storms: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    samples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (target, controller, key), trail in trails.items():
        entry: dict[str, Any] | None = None
        if len(group_reconciles(trail.after_delete)) >= rules.min_reconciles_after_delete:
            times = group_reconciles(trail.after_delete)
            entry = {"key": key, "state": "deleted", "deleted_at": trail.deleted_at, "source": "objects+logs",
                     "reconciles_after_delete": len(times), "first": times[0], "last": times[-1],
                     "per_minute": round(per_minute(times), 2)}
            lines = trail.after_delete
        else:
            times = group_reconciles(trail.not_found)
            if len(times) >= rules.notfound_min_repeats and times[-1] - times[0] >= rules.notfound_min_span_seconds:
                entry = {"key": key, "state": "gone (NotFound)", "source": "NotFound log lines",
                         "reconciles_after_delete": len(times),
                         "first": times[0], "last": times[-1], "per_minute": round(per_minute(times), 2)}
                lines = trail.not_found
        if entry is None:
            continue
        storms[(target, controller)].append(entry)
        bucket = samples[(target, controller)]
        for r in lines[:2]:
            if len(bucket) < MAX_SAMPLES and (r.raw or r.message) not in bucket:
                bucket.append(r.raw or r.message)

    findings: list[Finding] = _stuck_findings(view, events, lives, rules)
    quiet_from = _all_gone_since(view, rules.grace_seconds) if lives else None
    for (target, controller), entries in sorted(storms.items()):
        entries.sort(key=lambda e: -e["reconciles_after_delete"])
        rate = sum(e["per_minute"] for e in entries)
        evidence: dict[str, Any] = {
            "controller": controller,
            "objects_in_storm": len(entries),
            "reconciles_after_delete": sum(e["reconciles_after_delete"] for e in entries),
            "reconciles_per_minute": round(rate, 2),
            "window": [min(e["first"] for e in entries), max(e["last"] for e in entries)],
            "objects": entries[:MAX_LISTED],
            "log_samples": samples[(target, controller)],
            "grace_seconds": rules.grace_seconds,
        }
        evidence["metrics"] = _metric_storm(view, _metric_controller(view, target, controller), target, quiet_from)
        critical = len(entries) >= rules.critical_objects or rate >= rules.critical_per_minute
        findings.append(_finding(target, controller, "critical" if critical else "warning", evidence))

    # Metrics alone: requeues go on while no watched object is left.
    seen = set(storms)
    if quiet_from is not None:
        for s in series_of(view, RECONCILE_TOTAL):
            controller = s.labels.get("controller", "")
            if s.labels.get("result") not in REQUEUE_RESULTS or any(
                    t == s.target and same_controller(c, controller) for t, c in seen):
                continue
            seen.add((s.target, controller))
            metrics = _metric_storm(view, controller, s.target, quiet_from)
            window = metrics.get("window", [0.0, 0.0])
            if (window[1] - window[0] >= 60
                    and metrics.get("requeue_rate_after_per_s", 0.0) >= rules.metric_min_rate):
                evidence = {"controller": controller, "objects_in_storm": 0, "live_objects": 0,
                            "reconciles_per_minute": round(metrics["requeue_rate_after_per_s"] * 60, 2),
                            "window": metrics["window"], "objects": [], "log_samples": [], "metrics": metrics}
                findings.append(_finding(s.target, controller, "warning", evidence))
    return findings


def _finding(target: str, controller: str, severity: Severity, evidence: dict[str, Any]) -> Finding:
    count = evidence["objects_in_storm"]
    watched = any(e["source"] == "objects+logs" for e in evidence["objects"])
    rate_text = format_number(evidence["reconciles_per_minute"])
    what = (f"{plural(count, 'deleted object')} reconciled {rate_text} times/min after deletion"
            if count and watched else
            f"{plural(count, 'object')} gone (NotFound) reconciled {rate_text} times/min"
            if count else
            f"requeues go on at {rate_text}/min with no live object left")
    keys = ", ".join(e["key"] for e in evidence["objects"][:3])
    window = evidence.get("window")
    return Finding(
        id=ID,
        severity=severity,
        target=target,
        title=f"{controller}: {what}",
        evidence=evidence,
        recommendation=(
            f"In the {controller} reconciler, stop requeueing objects that are gone: when Get returns NotFound "
            "return `ctrl.Result{}, client.IgnoreNotFound(err)` instead of `Requeue`/`RequeueAfter` or an error, "
            "and return without requeueing once the finalizer is removed (the Bare Metal Operator bug, "
            "baremetal-operator issue 1190, fixed by PR 1191)"
            + (f". Affected keys include {keys}." if keys else ".")
        ),
        series=tuple(dict.fromkeys(s["name"] for s in evidence["metrics"].get("series", ()))),
        window=(float(window[0]), float(window[1])) if window else None,
        log_samples=tuple(evidence["log_samples"]),
    )
