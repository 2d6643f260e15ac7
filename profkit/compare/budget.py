"""``--budget FILE.yaml``: how much a metric may grow per target, read, checked and applied.

File format (a list, or a mapping with a ``budgets`` list)::

    budgets:
      - metric: cpu_per_reconcile      # a metric id of docs/compare-json.md
        target: widget-controller      # optional; "*" (default) applies to every target
        max_increase_pct: 20           # NEW may exceed BASE by at most 20 %
        severity: critical             # info | warning (default) | critical
      - metric: memory_peak_bytes
        max_increase: 52428800         # or an absolute increase, in the metric's unit

An entry may give both limits; either one breached breaches the entry. Increases only: a metric
that fell never breaches. From a base of 0, any increase breaches a percentage limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from profkit.compare.metrics import BY_ID, METRIC_IDS
from profkit.compare.model import BudgetEntry, BudgetResult, TargetComparison
from profkit.errors import BadInput
from profkit.model import SEVERITIES

KEYS = {"metric", "target", "max_increase_pct", "max_increase", "severity"}


def _number(raw: Any, where: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise BadInput(f"{where}: expected a number, got {raw!r}")
    return float(raw)


def parse_budget(document: Any, source: str = "budget") -> list[BudgetEntry]:
    """Entries from a parsed YAML document; BadInput names the entry and field that is wrong."""
    items = document.get("budgets") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise BadInput(f"{source}: expected a list of budget entries (or 'budgets:' holding one)")
    entries: list[BudgetEntry] = []
    for number, item in enumerate(items, start=1):
        where = f"{source}: entry {number}"
        if not isinstance(item, dict):
            raise BadInput(f"{where}: expected a mapping with metric and max_increase_pct or max_increase")
        unknown = sorted(set(item) - KEYS)
        if unknown:
            raise BadInput(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
        metric = item.get("metric")
        if metric not in BY_ID:
            raise BadInput(f"{where}: unknown metric {metric!r} (known: {', '.join(METRIC_IDS)})")
        pct = _number(item.get("max_increase_pct"), f"{where} max_increase_pct")
        absolute = _number(item.get("max_increase"), f"{where} max_increase")
        if pct is None and absolute is None:
            raise BadInput(f"{where} ({metric}): give max_increase_pct or max_increase")
        severity = item.get("severity", "warning")
        if severity not in SEVERITIES:
            raise BadInput(f"{where} ({metric}): severity {severity!r}: use info, warning or critical")
        target = item.get("target", "*")
        if not isinstance(target, str) or not target:
            raise BadInput(f"{where} ({metric}): target must be a name or '*'")
        entries.append(BudgetEntry(str(metric), target, pct, absolute, str(severity)))
    return entries


def load_budget(path: Path) -> list[BudgetEntry]:
    """Read ``--budget FILE.yaml``."""
    from profkit.fileio import load_yaml_file

    return parse_budget(load_yaml_file(path, "--budget"), f"--budget {path}")


def _check(entry: BudgetEntry, target: str, base: float, new: float) -> BudgetResult:
    increase = new - base
    reasons: list[str] = []
    if entry.max_increase_pct is not None and increase > 0:
        pct = increase / abs(base) * 100 if base else float("inf")
        if pct > entry.max_increase_pct:
            reasons.append(f"+{pct:.1f}% > {entry.max_increase_pct:g}%")
    if entry.max_increase is not None and increase > entry.max_increase:
        reasons.append(f"+{increase:.6g} > {entry.max_increase:g}")
    breached = bool(reasons)
    message = (f"{entry.metric} on {target}: {base:.6g} -> {new:.6g} "
               + ("breaches the budget (" + "; ".join(reasons) + ")" if breached else "within budget"))
    return BudgetResult(entry, target, base, new, breached, message)


def apply_budget(entries: Sequence[BudgetEntry], targets: Sequence[TargetComparison],
                 base_name: str = "BASE", new_name: str = "NEW") -> list[BudgetResult]:
    """Each entry on each target it names. Data missing for a budgeted metric is bad input (exit 2)."""
    results: list[BudgetResult] = []
    names = [t.target for t in targets]
    for entry in entries:
        chosen = [t for t in targets if entry.target in ("*", t.target)]
        if not chosen:
            raise BadInput(f"budget {entry.metric}: target {entry.target!r} is not in both runs "
                           f"(compared: {', '.join(names) or 'none'})")
        applied = 0
        for t in chosen:
            change = t.metric(entry.metric)
            base = change.base.value if change else None
            new = change.new.value if change else None
            if base is None or new is None:
                if entry.target != "*":
                    side = new_name if base is not None else base_name
                    raise BadInput(f"budget {entry.metric} on {t.target}: no data in {side}")
                continue
            results.append(_check(entry, t.target, base, new))
            applied += 1
        if not applied:
            raise BadInput(f"budget {entry.metric}: no data for it on any target "
                           f"({', '.join(names)}) in {base_name} and {new_name}")
    return results
