"""The CI gate of ``profkit compare``: which results fail the run, and the exit code.

* A regressed metric whose severity is at least S fails, and so does a new or grown finding
  whose (new) severity is at least S; S is ``--fail-on`` and defaults to ``warning`` (every
  regression is a warning or critical, so without ``--fail-on`` any regression fails, as README
  and ``--help`` say). Findings that were already in the baseline at the same severity
  (persisting) do not fail a comparison.
* A breached budget fails unless ``--fail-on`` is set above its severity.
* Exit 1 when anything fails, else 0. Bad input is exit 2 before the gate is reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from profkit.compare.model import GROWN, NEW, Comparison
from profkit.model import severity_rank


DEFAULT_FAIL_ON = "warning"


@dataclass(frozen=True)
class GateResult:
    """The exit code and one line per reason for it."""

    exit_code: int
    reasons: list[str]
    fail_on: str | None


def gate(comparison: Comparison, fail_on: str | None = None) -> GateResult:
    """Evaluate the gate rules above."""
    reasons: list[str] = []
    budget_floor = severity_rank(fail_on) if fail_on else 0
    for b in comparison.budgets:
        if b.breached and severity_rank(b.entry.severity) >= budget_floor:
            reasons.append(f"budget ({b.entry.severity}): {b.message}")
    floor = severity_rank(fail_on or DEFAULT_FAIL_ON)
    for m in comparison.regressions():
        if m.severity and severity_rank(m.severity) >= floor:
            rel = m.relative
            how = f"{rel:+.0%}" if rel is not None else "from 0"
            reasons.append(f"regression ({m.severity}): {m.metric.id} on {m.target} {how} ({m.reason})")
    for f in comparison.findings:
        if f.status in (NEW, GROWN) and f.new_severity and severity_rank(f.new_severity) >= floor:
            was = f" (was {f.base_severity})" if f.base_severity else ""
            reasons.append(f"{f.status} finding ({f.new_severity}{was}): {f.id} on {f.target or '-'}: {f.title}")
    return GateResult(1 if reasons else 0, reasons, fail_on or DEFAULT_FAIL_ON)
