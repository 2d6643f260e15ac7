"""The ``profkit compare --json`` document (schema ``profkit.compare/v1``, described in docs/compare-json.md)."""

from __future__ import annotations

import math
from typing import Any

from profkit.compare.gate import GateResult
from profkit.compare.model import (
    GROWN, IMPROVED, NEW, REGRESSED, Comparison, FunctionGrowth, MetricChange, MetricValue, RunInfo,
)
from profkit.compare.stats import ALPHA, MIN_SAMPLES

SCHEMA = "profkit.compare/v1"


def _num(value: float | None) -> float | None:
    """Full precision (machine output; text output rounds); NaN and infinities become null (JSON has neither)."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return float(value)


def _run(info: RunInfo) -> dict[str, Any]:
    return {"directory": info.directory, "started": _num(info.started), "duration_seconds": _num(info.duration),
            "status": info.status, "targets": list(info.targets)}


def _side(value: MetricValue) -> dict[str, Any]:
    out: dict[str, Any] = {"value": _num(value.value), "windows": len(value.samples), "source": value.source,
                           "samples": [_num(s) for s in value.samples]}
    if value.events is not None and value.seconds is not None:
        out["events"], out["seconds"] = _num(value.events), _num(value.seconds)
    return out


def _metric(m: MetricChange) -> dict[str, Any]:
    return {
        "id": m.metric.id, "title": m.metric.title, "unit": m.metric.unit, "better": m.metric.better,
        "base": _side(m.base), "new": _side(m.new),
        "change": _num(m.change), "relative_change": _num(m.relative),
        "p_value": _num(m.p_value), "status": m.status, "severity": m.severity, "reason": m.reason,
        "min_relative_change": m.metric.min_relative, "min_absolute_change": m.metric.min_absolute,
    }


def _function(f: FunctionGrowth) -> dict[str, Any]:
    return {"function": f.function, "origin": f.origin,
            "base_self": _num(f.base_self), "new_self": _num(f.new_self), "growth": _num(f.growth),
            "base_cumulative": _num(f.base_cumulative), "new_cumulative": _num(f.new_cumulative),
            "base_share": _num(f.base_share), "new_share": _num(f.new_share), "called_from": list(f.called_from), "path": list(f.path)}


def comparison_document(c: Comparison, verdict: GateResult,
                        summaries: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The whole comparison as one JSON-ready dict; key order is stable.

    ``summaries``: ``{"base": ..., "new": ...}`` per-target summaries (profkit.analyze.summary).
    """
    metrics = [m for t in c.targets for m in t.metrics]
    document = {
        "schema": SCHEMA,
        "base": _run(c.base),
        "new": _run(c.new),
        "window_seconds": _num(c.window_seconds),
        "rule": {"test": "mann-whitney-u two-sided", "rate_test": "poisson conditional binomial two-sided",
                 "alpha": c.alpha if c.alpha else ALPHA,
                 "min_windows": MIN_SAMPLES, "critical_factor": 2.0},
        "summary": {
            "regressed": sum(1 for m in metrics if m.status == REGRESSED),
            "improved": sum(1 for m in metrics if m.status == IMPROVED),
            "new_findings": sum(1 for f in c.findings if f.status == NEW),
            "grown_findings": sum(1 for f in c.findings if f.status == GROWN),
            "budgets_breached": sum(1 for b in c.budgets if b.breached),
        },
        "targets": [
            {"target": t.target, "base_target": t.base_target or t.target, "paired_by": t.paired_by,
             "context": t.context, "metrics": [_metric(m) for m in t.metrics],
             "functions_normalised_per": t.normalised_per or None,
             "functions": [_function(f) for f in t.functions]}
            for t in c.targets
        ],
        "only_in_base": list(c.only_in_base),
        "only_in_new": list(c.only_in_new),
        "findings": [
            {"id": f.id, "target": f.target, "status": f.status, "base_severity": f.base_severity,
             "new_severity": f.new_severity, "title": f.title, "recommendation": f.finding.recommendation}
            for f in c.findings
        ],
        "budgets": [
            {"metric": b.entry.metric, "target": b.target, "max_increase_pct": b.entry.max_increase_pct,
             "max_increase": b.entry.max_increase, "severity": b.entry.severity, "base": _num(b.base),
             "new": _num(b.new), "breached": b.breached, "message": b.message}
            for b in c.budgets
        ],
        "gate": {"fail_on": verdict.fail_on, "exit_code": verdict.exit_code, "reasons": list(verdict.reasons)},
    }
    if summaries is not None:
        document["target_summaries"] = summaries
    return document
