"""Findings as text: the ``analyze --json`` document (strict JSON) and the terminal table, both from a Report."""

from __future__ import annotations

import json
import math
from typing import IO, Any

from profkit.render.report_model import Report
from profkit.units import format_number


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def findings_document(report: Report) -> dict[str, Any]:
    """The ``--json`` contract: ``{"findings": [{id, severity, target, title, evidence, recommendation}],
    "summary": {target: numbers}}`` (the summary when the report carries one)."""
    document: dict[str, Any] = {"findings": [finite(f.to_json()) for f in report.all_findings()]}
    if report.summary is not None:
        document["summary"] = finite(report.summary)
    return document


def findings_json(report: Report) -> str:
    """The one serialiser of findings: strict JSON (``allow_nan=False``; a NaN in evidence is written as null)."""
    return json.dumps(findings_document(report), indent=2, default=str, allow_nan=False) + "\n"


_COUNT_KEYS = frozenset({"reconciles", "count", "errors", "objects", "requests", "retries", "panics"})


def evidence_summary(evidence: dict[str, Any]) -> str:
    """A few of the evidence numbers, for the table (the JSON has all of them)."""
    parts: list[str] = []
    for key, value in evidence.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or key in ("language",):
            continue
        if key.endswith("share") and isinstance(value, float):
            text = f"{value:.1%}"
        elif isinstance(value, float):  # counts estimated from counters read as whole numbers (reconciles=67)
            text = f"{value:.0f}" if key in _COUNT_KEYS else format_number(value)
        else:
            text = str(value)
        parts.append(f"{key}={text}")
        if len(parts) == 5:
            break
    return ", ".join(parts)


def print_findings(report: Report, out: IO[str] | None = None) -> None:
    """The human view: a rich table, then each finding's evidence numbers and fix."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=out, highlight=False)
    where = escape(str(report.directory))
    findings = report.all_findings()
    if not findings:
        console.print(f"No findings in {where}.")
        return
    colours = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
    table = Table("severity", "finding", "target", "title", title=f"Findings in {where}", show_lines=True)
    for f in findings:
        style = colours.get(f.severity, "")
        table.add_row(f"[{style}]{f.severity}[/]", escape(f.id), escape(f.target or "-"), escape(f.title))
    console.print(table)
    for number, f in enumerate(findings, start=1):
        console.print(f"[bold]{number}. {escape(f.id)}[/bold] ({escape(f.target or '-')}): "
                      f"{escape(evidence_summary(f.evidence))}")
        if f.recommendation:
            console.print(f"   [green]fix:[/green] {escape(f.recommendation)}")
