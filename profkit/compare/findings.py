"""New, grown, persisting, reduced and resolved findings: the analyzers run on both runs, matched by id,
target and subject (a finding persists only if it is about the same thing: the same function,
caller, controller, handler or object)."""

from __future__ import annotations

from typing import Sequence

from profkit.analyze import ANALYZER_ERROR_ID
from profkit.compare.model import GROWN, NEW, PERSISTING, REDUCED, RESOLVED, FindingChange
from profkit.model import Finding, severity_rank

_ORDER = {NEW: 0, GROWN: 1, PERSISTING: 2, REDUCED: 3, RESOLVED: 4}


#: Evidence keys that name what a finding is about, most specific first.
SUBJECT_KEYS = ("function", "caller", "handler", "controller", "key")


def finding_subject(finding: Finding) -> str:
    """What a finding is about (its evidence's function, caller, handler, controller or object key);
    "" when its evidence names none of them."""
    for key in SUBJECT_KEYS:
        value = finding.evidence.get(key)
        if isinstance(value, str) and value:
            return f"{key}={value}"
    return ""


def _worst(findings: Sequence[Finding]) -> dict[tuple[str, str, str], Finding]:
    """The most severe finding per (id, target, subject); analyzer errors are left out (they are
    profkit's, not the run's)."""
    out: dict[tuple[str, str, str], Finding] = {}
    for f in findings:
        if f.id == ANALYZER_ERROR_ID:
            continue
        key = (f.id, f.target, finding_subject(f))
        if key not in out or severity_rank(f.severity) > severity_rank(out[key].severity):
            out[key] = f
    return out


def finding_changes(base: Sequence[Finding], new: Sequence[Finding]) -> list[FindingChange]:
    """How each (finding id, target, subject) moved: new, grown (more severe), persisting, reduced or
    resolved. A cpu-hotspot about one function in BASE and another in NEW is one resolved and one new."""
    before, after = _worst(base), _worst(new)
    out: list[FindingChange] = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if a is None and b is not None:
            out.append(FindingChange(key[0], key[1], RESOLVED, b.severity, None, b.title, b))
            continue
        assert a is not None
        if b is None:
            status = NEW
        elif severity_rank(a.severity) > severity_rank(b.severity):
            status = GROWN
        elif severity_rank(a.severity) < severity_rank(b.severity):
            status = REDUCED
        else:
            status = PERSISTING
        out.append(FindingChange(key[0], key[1], status, b.severity if b else None, a.severity, a.title, a))
    out.sort(key=lambda c: (_ORDER[c.status], -severity_rank(c.new_severity or c.base_severity or "info"),
                            c.id, c.target))
    return out
