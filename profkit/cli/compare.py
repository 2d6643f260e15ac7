"""``profkit compare``: two runs side by side, significance-tested, gated for CI (table, JSON, JUnit, HTML)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from profkit.cli.common import SEVERITY_METAVAR, check_severity
from profkit.errors import BadInput


EXAMPLES = """
Examples:

  profkit compare base-run new-run

  profkit compare base-run new-run --fail-on warning --junit compare.xml --html compare.html

  profkit compare --baseline-dir nightly/ new-run --budget budget.yaml --json > compare.json

  profkit compare run-port-6060 run-port-7070 --pair 127.0.0.1:6060=127.0.0.1:7070

Targets are paired by --pair, else by the same name (capture's name=NAME), else by the same
Deployment, else when each run has exactly one target; the output names every pairing.

Exit codes: 0 nothing failed (the last line says PASS); 1 a regression, or a new/grown finding at or
above --fail-on (default warning: any regression fails), or a budget breached (the last line says
FAIL); 2 bad input (not bundles, no target to pair, missing data).
"""


def compare(
    runs: list[Path] = typer.Argument(..., metavar="BASE NEW | NEW",
                                      help="Two bundle directories, or NEW alone with --baseline-dir.",
                                      show_default=False),
    baseline_dir: Optional[Path] = typer.Option(None, "--baseline-dir", metavar="DIR",
                                                help="BASE is the latest bundle in DIR with the same targets as NEW."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout (docs/compare-json.md)."),
    junit: Optional[Path] = typer.Option(None, "--junit", metavar="FILE.xml", help="Write JUnit XML (a test case per metric)."),
    html: Optional[Path] = typer.Option(None, "--html", metavar="FILE.html", help="Write the HTML comparison report."),
    budget: Optional[Path] = typer.Option(None, "--budget", metavar="FILE.yaml",
                                          help="Allowed increases per metric and target; a breach exits 1."),
    fail_on: Optional[str] = typer.Option(
        None, "--fail-on", metavar=SEVERITY_METAVAR,
        help="Exit 1 on a regression or a new/grown finding at or above this severity (default: warning, "
             "i.e. any regression)."),
    pair: list[str] = typer.Option(
        [], "--pair", metavar="BASE_TARGET=NEW_TARGET",
        help="Compare these two targets (repeatable); otherwise targets pair by name, by Deployment, or "
             "when each run has one target."),
    window: Optional[float] = typer.Option(None, "--window", metavar="SECONDS",
                                           help="Window width for the per-window samples (default: automatic)."),
) -> int:
    """Compare two runs and gate CI on regressions."""
    check_severity("--fail-on", fail_on)
    if window is not None and window <= 0:
        raise BadInput(f"--window {window:g}: must be a positive number of seconds")
    if baseline_dir is not None and len(runs) != 1:
        raise BadInput("with --baseline-dir give only NEW (the baseline is picked from DIR)")
    if baseline_dir is None and len(runs) != 2:
        raise BadInput("give BASE and NEW bundle directories (or --baseline-dir DIR NEW)")
    from profkit.bundle.reader import open_bundle
    from profkit.compare import CompareOptions, compare_bundles, gate

    new_view = open_bundle(runs[-1])
    if baseline_dir is not None:
        from profkit.compare.baseline import latest_baseline

        base_view = latest_baseline(baseline_dir, new_view)  # named in the table's first line and the JSON
    else:
        base_view = open_bundle(runs[0])
    entries = []
    if budget is not None:
        from profkit.compare.budget import load_budget

        entries = load_budget(budget)
    comparison = compare_bundles(base_view, new_view, CompareOptions(window_seconds=window, budgets=entries,
                                                                     pairs=[_pair(p) for p in pair]))
    verdict = gate(comparison, fail_on)
    if junit is not None:
        from profkit.compare.junit import write_junit

        _writable(junit, "--junit")
        write_junit(comparison, verdict, junit)
    if html is not None:
        from profkit.render.compare_html import write_compare_report

        _writable(html, "--html")
        write_compare_report(base_view, new_view, comparison, verdict, html)
    if as_json:
        from profkit.analyze.summary import bundle_summary
        from profkit.compare.document import comparison_document
        from profkit.render.compare_terminal import verdict_line

        summaries = {"base": bundle_summary(base_view), "new": bundle_summary(new_view)}
        sys.stdout.write(json.dumps(comparison_document(comparison, verdict, summaries), indent=2) + "\n")
        print(verdict_line(verdict), file=sys.stderr)
    else:
        from profkit.render.compare_terminal import print_comparison

        print_comparison(comparison, verdict)
    if verdict.exit_code:
        raise typer.Exit(verdict.exit_code)
    return 0


def _pair(text: str) -> tuple[str, str]:
    base, sep, new = text.partition("=")
    if not sep or not base.strip() or not new.strip():
        raise BadInput(f"--pair {text!r}: expected BASE_TARGET=NEW_TARGET")
    return base.strip(), new.strip()


def _writable(path: Path, flag: str) -> None:
    if not path.parent.is_dir():
        raise BadInput(f"{flag} {path}: no such directory {path.parent}")


def register(app: typer.Typer) -> None:
    app.command("compare", help="Compare two runs; exit 1 on a regression (CI gate)." + EXAMPLES)(compare)
