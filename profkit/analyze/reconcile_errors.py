"""reconcile-errors: reconciles returning errors (and panics), kopf handler failures, with the most frequent errors."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.analyze.metrics_math import series_of
from profkit.analyze.lifecycle import stuck_terminating_keys
from profkit.analyze.rules import rules_from
from profkit.bundle.reader import BundleView
from profkit.model import Finding, LogRecord, Severity
from profkit.model.metric_names import RECONCILE_ERRORS_TOTAL, RECONCILE_TOTAL

ID = "reconcile-errors"
MAX_SAMPLES = 5
# Object names, UIDs, numbers and quoted values vary per object; strip them to group messages.
_VARIABLE = re.compile(r'"[^"]*"|\b[0-9a-f]{8}-[0-9a-f-]{27}\b|\b\d+(\.\d+)?\b')
RATE_LIMITER = re.compile(r"rate limiter wait|rate: wait", re.I)
# kopf's handler failures (kopf/_core/actions/execution.py): each is one failed reconcile of one object.
KOPF_FAILURE = re.compile(r"^(?:Handler|Daemon|Timer|Activity|Index|Webhook) '([^']+)' (?:failed (?:temporarily|"
                          r"permanently|with an exception)|has timed out after|has exceeded \d+ retries)")
_KOPF_NEEDLES = ("failed temporarily", "failed permanently", "failed with an exception", "has timed out after",
                 "has exceeded")
KOPF_PREFIX = "kopf handler "
_HINTS = (
    ("the object has been modified", "optimistic-lock conflicts: re-read before update, or patch instead of update"),
    ("not found", "NotFound errors: ignore them with client.IgnoreNotFound(err) when the object is gone"),
    ("rate limiter wait", "the client rate limiter's wait ended by a deadline or cancel: see client-side-throttling"),
    ("context deadline exceeded", "timeouts: check API server latency and the work done per reconcile"),
    ("connection refused", "a dependency is unreachable"),
)

_KOPF_HINTS = {
    "not found": "NotFound errors: when the object the handler needs is gone, finish (return) instead of raising "
                 "kopf.TemporaryError, or the handler is retried forever",
}


def error_text(r: LogRecord) -> str:
    value = r.fields.get("error") or r.fields.get("err") or r.message
    return str(value)


@lru_cache(maxsize=4096)
def error_shape(text: str) -> str:
    """An error message with object names and numbers replaced, for grouping (memoized: errors repeat)."""
    return _VARIABLE.sub("…", text)[:200]


@dataclass
class ErrorLines:
    """What the "Reconciler error" lines of one (target, controller) say, summed as they are read
    (a million error lines with stack traces are not kept in memory)."""

    count: int = 0
    rate_limiter: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    first_line: dict[str, str] = field(default_factory=dict)  # shape -> its first raw line
    keys: Counter[str] = field(default_factory=Counter)
    first_ts: float = 0.0
    last_ts: float = 0.0

    def add(self, r: LogRecord) -> None:
        text = error_text(r)
        shape = error_shape(text)
        if not self.count:
            self.first_ts = r.ts
        self.count += 1
        self.last_ts = r.ts
        self.rate_limiter += RATE_LIMITER.search(text) is not None
        self.shapes[shape] += 1
        self.first_line.setdefault(shape, r.raw or r.message)
        if r.object_key:
            self.keys[r.object_key] += 1


def _error_logs(view: BundleView) -> dict[tuple[str, str], ErrorLines]:
    """controller-runtime's "Reconciler error" lines by (target, controller), and kopf's handler
    failures by (target, "kopf handler NAME")."""
    out: dict[tuple[str, str], ErrorLines] = defaultdict(ErrorLines)
    for r in view.logs(contains=("Reconciler error", *_KOPF_NEEDLES)):
        if "Reconciler error" in r.message:
            out[(r.target, r.controller or r.logger or "?")].add(r)
            continue
        kopf = KOPF_FAILURE.match(r.message)
        if kopf is not None:
            out[(r.target, KOPF_PREFIX + kopf.group(1))].add(r)
    return out


@analyzer(ID, series=(RECONCILE_ERRORS_TOTAL, RECONCILE_TOTAL))
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Flag controllers with a high share of failed reconciles, grouping the error messages."""
    rules = rules_from(options).reconcile_errors
    totals: dict[tuple[str, str], float] = defaultdict(float)
    errors: dict[tuple[str, str], float] = defaultdict(float)
    for s in series_of(view, RECONCILE_TOTAL):
        key = (s.target, s.labels.get("controller", ""))
        inc = s.increase()
        totals[key] += inc
        if s.labels.get("result") == "error":
            errors[key] += inc
    panics: dict[tuple[str, str], float] = defaultdict(float)
    for s in series_of(view, "controller_runtime_reconcile_panics_total"):
        panics[(s.target, s.labels.get("controller", ""))] += s.increase()
    logs = _error_logs(view)
    stuck = stuck_terminating_keys(view, rules_from(options).requeue_storm_deleted)
    findings: list[Finding] = []
    for key in sorted(set(totals) | set(logs)):
        target, controller = key
        lines = logs.get(key) or ErrorLines()
        count = errors.get(key, 0.0) or float(lines.count)
        total = totals.get(key, 0.0)
        share = count / total if total > 0 else (1.0 if count else 0.0)
        panic = panics.get(key, 0.0)
        if count <= 0 and panic <= 0:
            continue
        measured = total > 0  # without controller_runtime_reconcile_total the share is unknown
        if panic > 0 or (measured and share >= rules.critical_error_share and count >= rules.min_errors):
            severity: Severity = "critical"
        elif count >= rules.min_errors and (share >= rules.warning_error_share or not measured):
            severity = "warning"
        else:
            severity = "info"
        throttled = lines.rate_limiter
        if lines.count and throttled * 2 >= lines.count and panic <= 0:
            severity = "info"  # the rate limiter's wait was cut short: client-side-throttling says why
        if severity == "warning" and stuck and sum(n for k, n in lines.keys.items() if k in stuck) * 2 >= lines.count:
            severity = "info"  # retried deletions of objects stuck Terminating: requeue-storm-deleted says why
        shapes, keys = lines.shapes, lines.keys
        samples = [lines.first_line[shape] for shape, _ in shapes.most_common(MAX_SAMPLES)]
        kopf = controller.startswith(KOPF_PREFIX)
        hints = [_KOPF_HINTS.get(needle, hint) if kopf else hint
                 for needle, hint in _HINTS if any(needle in s.lower() for s in shapes)]
        evidence: dict[str, Any] = {
            "controller": controller,
            "handler": controller[len(KOPF_PREFIX):] if kopf else None,
            "errors": count,
            "reconciles": total,
            "error_share": round(share, 4) if measured else None,
            "rate_limiter_errors": throttled,
            "panics": panic,
            "series": [f'controller_runtime_reconcile_total{{controller="{controller}",result="error"}}',
                       f'controller_runtime_reconcile_errors_total{{controller="{controller}"}}'],
            "top_errors": [{"message": shape, "count": n} for shape, n in shapes.most_common(MAX_SAMPLES)],
            "top_objects": [{"key": k, "errors": n} for k, n in keys.most_common(MAX_SAMPLES)],
            "log_samples": samples,
        }
        if lines.count:
            evidence["window"] = [lines.first_ts, lines.last_ts]
        top = shapes.most_common(1)[0][0] if shapes else "see controller_runtime_reconcile_errors_total"
        findings.append(Finding(
            id=ID, severity=severity, target=target,
            title=(f"{controller}: {count:.0f} failed reconciles" + (f" ({share:.1%})" if measured else "")
                   + (f", {panic:.0f} panics" if panic else "") + f"; top error: {top[:80]}"),
            evidence=evidence,
            recommendation=(
                f"Fix the most frequent error in the {controller} reconciler first ({top[:120]})"
                + (f"; {'; '.join(hints)}" if hints else "")
                + (". Panics are counted in controller_runtime_reconcile_panics_total; find the stack in the logs"
                   if panic else "")
                + (". kopf retries a handler that fails temporarily or with an exception (after the error's "
                   "delay or the handler's backoff, 60 s by default) until it succeeds or fails permanently"
                   if kopf else
                   ". Every error is retried with exponential backoff and adds to the workqueue's retries.")
            ),
            window=(lines.first_ts, lines.last_ts) if lines.count else None,
            log_samples=tuple(samples),
        ))
    return findings
