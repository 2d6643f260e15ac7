"""``profkit rules``: Prometheus alerting rules (or a PrometheusRule) for the analyzers that work on metrics alone."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from profkit.errors import BadInput

EXAMPLES = """
Examples:

  profkit rules -o profkit-rules.yaml && promtool check rules profkit-rules.yaml

  profkit rules --format prometheusrule --target kcp --rules thresholds.yaml -o kcp-rules.yaml

Thresholds are profkit analyze's (profkit/analyze/rules.py, overridden by --rules FILE); each alert
carries the finding id and the fix in its annotations. --target ALIAS takes the catalog's QPS and
flag names; --qps sets the QPS the throttling rule compares the request rate with.
"""


def rules(
    fmt: str = typer.Option("prometheus", "--format", help="prometheus (a rule file) or prometheusrule (the CRD)."),
    rules_file: Optional[Path] = typer.Option(None, "--rules", metavar="FILE.yaml", help="Threshold overrides."),
    target: Optional[str] = typer.Option(None, "--target", metavar="ALIAS", help="Catalog entry for QPS and flags."),
    qps: Optional[float] = typer.Option(None, "--qps", help="Client QPS limit the throttling rule assumes."),
    window: str = typer.Option("20m", "--window", help="Range every rule judges (the analyzers judge a whole run)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE", help="Write here (default stdout)."),
) -> None:
    """Prometheus alerting rules for the findings metrics alone can show."""
    from profkit.analyze.rules import DEFAULT_RULES, load_rules
    from profkit.catalog import builtin_catalog
    from profkit.render.prometheus_rules import render_rules
    from profkit.units import parse_duration

    if fmt not in ("prometheus", "prometheusrule"):
        raise BadInput(f"--format {fmt}: expected prometheus or prometheusrule")
    if target is not None and target not in builtin_catalog():
        raise BadInput(f"--target {target}: not in the catalog (known: {', '.join(sorted(builtin_catalog()))})")
    if qps is not None and qps <= 0:
        raise BadInput(f"--qps {qps:g}: must be positive")
    seconds = int(parse_duration(window, flag="--window"))
    if seconds < 120:
        raise BadInput(f"--window {window}: at least 2m (growth rules need a trend)")
    loaded = load_rules(rules_file) if rules_file is not None else DEFAULT_RULES
    text = render_rules("prometheusrule" if fmt == "prometheusrule" else "prometheus", loaded, seconds, qps, target)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise BadInput(f"-o {output}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command("rules", help="Prometheus alerting rules for the findings metrics alone can show." + EXAMPLES)(rules)
