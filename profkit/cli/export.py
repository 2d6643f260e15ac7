"""``profkit export openmetrics``: a bundle's series as OpenMetrics text, for promtool tsdb create-blocks-from."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from profkit.errors import BadInput

EXAMPLES = """
Examples:

  profkit export openmetrics run1 -o run1.om
  promtool tsdb create-blocks-from openmetrics run1.om /var/lib/prometheus/metrics2

Series keep their names and labels, with job=<target> and instance=<pod> as a scrape would add
them; counters are written as counters (_total), histograms and summaries as families.
"""

export_app = typer.Typer(help="Write a bundle's data in other tools' formats.", no_args_is_help=True)


@export_app.command("openmetrics", help="A bundle's series as OpenMetrics text (timestamps in seconds)." + EXAMPLES)
def openmetrics(
    bundle: Path = typer.Argument(..., metavar="DIR", help="A bundle directory."),
    target: Optional[str] = typer.Option(None, "--target", help="Only this target's series."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE", help="Write here (default stdout)."),
) -> None:
    """A bundle's series as OpenMetrics text."""
    from profkit.bundle import open_bundle
    from profkit.formats.openmetrics import write_openmetrics

    view = open_bundle(bundle)
    names = {t.name for t in view.targets()}
    if target is not None and target not in names:
        raise BadInput(f"--target {target}: not in {bundle} (targets: {', '.join(sorted(names)) or 'none'})")
    declared: dict[str, str] = {}
    for instance in view.instances(target):
        declared.update(instance["info"].get("metric_types") or {})
    series = [s for name in view.metric_names(target) for s in view.series(name, target=target)]
    if not series:
        raise BadInput(f"{bundle}: no series{f' for target {target}' if target else ''} to export")
    if output is None:
        write_openmetrics(sys.stdout, series, declared)
        return
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("w") as out:
            points = write_openmetrics(out, series, declared)
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BadInput(f"-o {output}: {exc.strerror or exc}") from None
    print(f"wrote {points} points of {len(series)} series to {output}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
