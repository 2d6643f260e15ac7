"""``profkit analyze``: run the analyzers over a bundle and print the findings (table or JSON)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from profkit.cli.common import SEVERITY_METAVAR, check_severity
from profkit.errors import BadInput

if TYPE_CHECKING:
    from profkit.analyze import AnalyzeOptions
    from profkit.model import Finding


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


def exit_code_for(findings: list[Finding], fail_on: Optional[str]) -> int:
    """1 when a finding is at or above ``fail_on``, else 0 (no ``--fail-on``: always 0)."""
    if fail_on is None:
        return 0
    from profkit.model import severity_rank

    threshold = severity_rank(fail_on)
    return 1 if any(severity_rank(f.severity) >= threshold for f in findings) else 0


def analyze(
    bundle: Path = typer.Argument(..., help="Bundle directory written by profkit capture.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    fail_on: Optional[str] = typer.Option(
        None, "--fail-on", metavar=SEVERITY_METAVAR,
        help="Exit 1 when a finding at or above this severity exists."),
    only: Optional[str] = typer.Option(None, "--only", metavar="ID,...", help="Run only these analyzers."),
    rules: Optional[Path] = typer.Option(None, "--rules", metavar="FILE.yaml",
                                         help="Thresholds overriding the defaults, by finding id."),
) -> int:
    """Diagnose a captured bundle: what is wrong, where, and how to fix it."""
    check_severity("--fail-on", fail_on)
    from profkit.analyze import run_analyzers
    from profkit.bundle.reader import open_bundle
    from profkit.render.findings_output import findings_json, print_findings
    from profkit.render.report_model import build_report

    view = open_bundle(bundle)
    options = build_options(only, rules)
    findings = run_analyzers(view, options)
    from profkit.analyze.summary import bundle_summary

    # No panels: the findings, what they rest on, and (for --json) the per-target summary block.
    report = build_report(view, findings, dashboards=[], summary=bundle_summary(view) if as_json else None)
    if as_json:
        sys.stdout.write(findings_json(report))
    else:
        print_findings(report)
    code = exit_code_for(findings, fail_on)
    if code:
        raise typer.Exit(code)
    return 0


def register(app: typer.Typer) -> None:
    app.command("analyze", help="Diagnose a bundle and print the findings." + EXAMPLES)(analyze)
