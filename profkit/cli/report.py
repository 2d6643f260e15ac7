"""``profkit report``: analyze a bundle and write the self-contained HTML report."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from profkit.errors import BadInput

EXAMPLES = """
Examples:

  profkit report run1                      # writes run1/report.html

  profkit report run1 -o /tmp/kcp-run1.html

The file works offline (plotly is inlined) and can be shared as is.
"""


def report(
    bundle: Path = typer.Argument(..., help="Bundle directory written by profkit capture.", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE.html",
                                          help="Where to write the report (default: DIR/report.html)."),
    only: Optional[str] = typer.Option(None, "--only", metavar="ID,...", help="Run only these analyzers."),
    rules: Optional[Path] = typer.Option(None, "--rules", metavar="FILE.yaml",
                                         help="Thresholds overriding the defaults, by finding id."),
) -> int:
    """Write an HTML report: findings, CPU/memory and controller metrics, flame graphs."""
    from profkit.analyze import run_analyzers
    from profkit.bundle.reader import open_bundle
    from profkit.cli.analyze import build_options
    from profkit.render.report_html import write_report

    view = open_bundle(bundle)
    target = output if output is not None else bundle / "report.html"
    if target.exists() and target.is_dir():
        raise BadInput(f"-o {target}: is a directory")
    if not target.parent.is_dir():
        raise BadInput(f"-o {target}: directory {target.parent} does not exist")
    started = time.perf_counter()
    findings = run_analyzers(view, build_options(only, rules))
    try:
        path = write_report(view, findings, target)
    except OSError as exc:
        raise BadInput(f"-o {target}: {exc.strerror or exc}") from None
    elapsed = time.perf_counter() - started
    size = path.stat().st_size
    print(f"{path} ({size / 2**20:.1f} MiB, {len(findings)} finding(s), {elapsed:.1f} s)", file=sys.stderr)
    typer.echo(str(path))
    return 0


def register(app: typer.Typer) -> None:
    app.command("report", help="Write a self-contained HTML report for a bundle." + EXAMPLES)(report)
