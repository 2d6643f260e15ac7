"""``profkit analyze``: run the analyzers over a bundle and print the findings (table or JSON)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from profkit.errors import BadInput

if TYPE_CHECKING:
    from profkit.analyze import AnalyzeOptions
    from profkit.model import Finding

SEVERITY_NAMES = ("info", "warning", "critical")

EXAMPLES = """
Examples:

  profkit analyze run1

  profkit analyze run1 --json > findings.json

  profkit analyze run1 --fail-on warning      # exit 1 when a warning or critical finding exists (CI)

  profkit analyze run1 --only repeated-key-generation,cpu-hotspot --rules thresholds.yaml
"""


def build_options(only: Optional[str], rules: Optional[Path]) -> AnalyzeOptions:
    """AnalyzeOptions from the shared ``--only`` and ``--rules`` flags (also used by ``profkit report``)."""
    from profkit.analyze import AnalyzeOptions, analyzer_ids

    selected: tuple[str, ...] = ()
    if only:
        selected = tuple(dict.fromkeys(part.strip() for part in only.split(",") if part.strip()))
        unknown = [i for i in selected if i not in analyzer_ids()]
        if unknown:
            raise BadInput(f"--only {', '.join(unknown)}: unknown finding id (known: {', '.join(analyzer_ids())})")
    loaded: Any = None
    if rules is not None:
        from profkit.analyze.rules import load_rules

        loaded = load_rules(rules)
    return AnalyzeOptions(only=selected, rules=loaded, rules_file=rules)


def findings_document(findings: list[Finding], summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``--json`` contract: ``{"findings": [{id, severity, target, title, evidence, recommendation}],
    "summary": {target: numbers}}`` (the summary from profkit.analyze.summary, when given)."""
    keys = ("id", "severity", "target", "title", "evidence", "recommendation")
    document: dict[str, Any] = {"findings": [{k: getattr(f, k) for k in keys} for f in findings]}
    if summary is not None:
        document["summary"] = summary
    return document


def exit_code_for(findings: list[Finding], fail_on: Optional[str]) -> int:
    """1 when a finding is at or above ``fail_on``, else 0 (no ``--fail-on``: always 0)."""
    if fail_on is None:
        return 0
    from profkit.model import severity_rank

    threshold = severity_rank(fail_on)
    return 1 if any(severity_rank(f.severity) >= threshold for f in findings) else 0


def _evidence_summary(evidence: dict[str, Any]) -> str:
    """A few of the evidence numbers, for the table (the JSON has all of them)."""
    parts: list[str] = []
    for key, value in evidence.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or key in ("language",):
            continue
        text = f"{value:.1%}" if key.endswith("share") and isinstance(value, float) else str(value)
        parts.append(f"{key}={text}")
        if len(parts) == 5:
            break
    return ", ".join(parts)


def print_findings(findings: list[Finding], bundle: Path) -> None:
    """The human view: a rich table on stdout, then the recommendations."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    if not findings:
        console.print(f"No findings in {escape(str(bundle))}.")
        return
    colours = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
    table = Table("severity", "finding", "target", "title", title=f"Findings in {escape(str(bundle))}",
                  show_lines=True)
    for f in findings:
        style = colours.get(f.severity, "")
        table.add_row(f"[{style}]{f.severity}[/]", escape(f.id), escape(f.target or "-"), escape(f.title))
    console.print(table)
    for number, f in enumerate(findings, start=1):
        console.print(f"[bold]{number}. {escape(f.id)}[/bold] ({escape(f.target or '-')}): "
                      f"{escape(_evidence_summary(f.evidence))}")
        if f.recommendation:
            console.print(f"   [green]fix:[/green] {escape(f.recommendation)}")


def analyze(
    bundle: Path = typer.Argument(..., help="Bundle directory written by profkit capture.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    fail_on: Optional[str] = typer.Option(
        None, "--fail-on", metavar="info|warning|critical",
        help="Exit 1 when a finding at or above this severity exists."),
    only: Optional[str] = typer.Option(None, "--only", metavar="ID,...", help="Run only these analyzers."),
    rules: Optional[Path] = typer.Option(None, "--rules", metavar="FILE.yaml",
                                         help="Thresholds overriding the defaults, by finding id."),
) -> int:
    """Diagnose a captured bundle: what is wrong, where, and how to fix it."""
    if fail_on is not None and fail_on not in SEVERITY_NAMES:
        raise BadInput(f"--fail-on {fail_on!r}: use info, warning or critical")
    from profkit.analyze import run_analyzers
    from profkit.bundle.reader import open_bundle

    view = open_bundle(bundle)
    options = build_options(only, rules)
    findings = run_analyzers(view, options)
    if as_json:
        from profkit.analyze.summary import bundle_summary

        document = findings_document(findings, bundle_summary(view))
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    else:
        print_findings(findings, bundle)
    code = exit_code_for(findings, fail_on)
    if code:
        raise typer.Exit(code)
    return 0


def register(app: typer.Typer) -> None:
    app.command("analyze", help="Diagnose a bundle and print the findings." + EXAMPLES)(analyze)
