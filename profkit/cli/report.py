"""``profkit report``: analyze a bundle and write the self-contained HTML report."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from profkit.cli.common import output_file
from profkit.errors import BadInput

if TYPE_CHECKING:
    from profkit.render.report_model import Report

EXAMPLES = """
Examples:

  profkit report run1                      # writes run1/report.html

  profkit report run1 -o /tmp/kcp-run1.html

  profkit report run1 --dashboard controller --dashboard my-panels.yaml

  profkit report run1 --grafana run1-grafana.json      # report and Grafana dashboard

  profkit report --grafana controller.json --dashboard controller   # no bundle needed

The file works offline (plotly is inlined) and can be shared as is. Dashboards are
YAML (built-in: scale-run, controller); the same spec is exported to Grafana.
"""


def _write_grafana(path: Path, report: Report) -> None:
    from profkit.render.grafana import grafana_json

    if path.exists() and path.is_dir():
        raise BadInput(f"--grafana {path}: is a directory")
    try:
        path.write_text(grafana_json(report), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"--grafana {path}: {exc.strerror or exc}") from None
    print(f"{path} (Grafana dashboard, import it and pick your Prometheus data source)", file=sys.stderr)


def report(
    bundle: Optional[Path] = typer.Argument(None, metavar="DIR", show_default=False,
                                            help="Bundle directory written by profkit capture."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE.html",
                                          help="Where to write the report (default: DIR/report.html)."),
    only: Optional[str] = typer.Option(None, "--only", metavar="ID,...", help="Run only these analyzers."),
    rules: Optional[Path] = typer.Option(None, "--rules", metavar="FILE.yaml",
                                         help="Thresholds overriding the defaults, by finding id."),
    dashboard: Optional[list[str]] = typer.Option(
        None, "--dashboard", metavar="NAME|FILE.yaml",
        help="Dashboard to draw (repeatable): a built-in name (scale-run, controller) or your YAML file."),
    grafana: Optional[Path] = typer.Option(None, "--grafana", metavar="FILE.json",
                                           help="Also write the dashboards as an importable Grafana dashboard."),
) -> int:
    """Write an HTML report: findings, dashboards of metrics and objects, flame graphs."""
    from profkit.render.dashboard_spec import DEFAULT_DASHBOARDS, load_dashboard

    specs = [load_dashboard(name) for name in (dashboard or DEFAULT_DASHBOARDS)]
    if bundle is None:
        if grafana is None:
            raise BadInput("missing DIR (a bundle directory), or --grafana FILE.json to export dashboards only")
        from profkit.render.report_model import dashboards_only

        _write_grafana(grafana, dashboards_only(specs))
        typer.echo(str(grafana))
        return 0

    from profkit.analyze import run_analyzers
    from profkit.cli.analyze import build_options
    from profkit.bundle.reader import open_bundle
    from profkit.render.report_html import write_report
    from profkit.render.report_model import build_report

    view = open_bundle(bundle)  # analyzers and panels share its reads
    target = output if output is not None else bundle / "report.html"
    output_file(target, "-o")
    started = time.perf_counter()
    findings = run_analyzers(view, build_options(only, rules))
    try:
        model = build_report(view, findings, specs)
        path = write_report(model, target)
    except OSError as exc:
        raise BadInput(f"-o {target}: {exc.strerror or exc}") from None
    elapsed = time.perf_counter() - started
    size = path.stat().st_size
    print(f"{path} ({size / 2**20:.1f} MiB, {len(findings)} finding(s), {elapsed:.1f} s)", file=sys.stderr)
    if grafana is not None:
        _write_grafana(grafana, model)
    typer.echo(str(path))
    return 0


def register(app: typer.Typer) -> None:
    app.command("report", help="Write a self-contained HTML report for a bundle." + EXAMPLES)(report)
