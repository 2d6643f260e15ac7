"""The report model holds the panels' numbers and each finding's evidence links; a new analyzer is one module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from controller_bundles import HEALTHY_DURATION, T0, Bundle, ControllerLoad, analyze, const, ramp
from profkit.analyze import ANALYZERS, EVIDENCE_SOURCES, run_analyzers
from profkit.bundle import open_bundle
from profkit.render.grafana import grafana_dashboard
from profkit.render.report_model import Report, build_report

NEW_ANALYZER = '''"""deep-queue: a workqueue that stays deep (a test analyzer: one module, registered like any other)."""

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.bundle.reader import BundleView
from profkit.model import Finding


@analyzer("deep-queue", series=("workqueue_depth",))
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    findings = []
    for series in view.series("workqueue_depth"):
        deep = [(t, v) for t, v in series.points if v >= 50]
        if deep:
            peak = max(v for _, v in deep)
            findings.append(Finding("deep-queue", "warning", series.target, f"workqueue depth reached {peak:g}",
                                    {"peak": peak}, "Add workers.", window=(deep[0][0], deep[-1][0])))
    return findings
'''


def cli_with_module(plugins: Path, module: str, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``profkit ARGS`` in a fresh interpreter that first imports ``module`` (written from ``source`` into ``plugins``)."""
    plugins.mkdir(exist_ok=True)
    (plugins / f"{module}.py").write_text(source)
    run_cli = (f"import sys; sys.path.insert(0, sys.argv.pop(1)); import {module}; "
               "from profkit.cli.main import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", run_cli, str(plugins), *args], capture_output=True, text=True,
                          timeout=120)


def growing_queue(path: Path) -> Bundle:
    """A controller whose queue depth ramps from 0 to 120 items over 20 minutes, reconciling 2/s."""
    b = Bundle(path)
    b.metrics(ControllerLoad(results={"success": const(2.0), "error": const(0.2)},
                             depth=ramp(0.0, 120.0, HEALTHY_DURATION)), HEALTHY_DURATION)
    return b


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    path = tmp_path_factory.mktemp("model") / "b"
    view = growing_queue(path).view(HEALTHY_DURATION)
    return build_report(view, analyze(view))


def test_panels_hold_the_drawn_arrays_and_stat_values(report: Report) -> None:
    rate = report.panel("d1-reconcile-rate-by-controller-and-result")
    by_name = {line.name: line for line in rate.lines}
    assert set(by_name) == {"widget success", "widget error"}
    assert np.nanmedian(by_name["widget success"].values) == pytest.approx(2.0, rel=0.01)
    assert np.nanmedian(by_name["widget error"].values) == pytest.approx(0.2, rel=0.01)
    depth = report.panel("d1-workqueue-depth")
    assert depth.lines[0].values[0] == pytest.approx(0.0, abs=0.5)
    assert depth.lines[0].values[-1] == pytest.approx(120.0, abs=1.0)
    stats = [p for p in report.panels() if p.spec.type == "stat"]
    assert stats and all(p.stat is not None and np.isfinite(p.stat) for p in stats)
    assert report.data_end == pytest.approx(HEALTHY_DURATION, abs=5.0)


def test_each_finding_links_the_panels_of_the_series_it_declares(report: Report) -> None:
    errors = next(f for f in report.findings if f.finding.id == "reconcile-errors")
    linked = {link.anchor for link in errors.links if link.kind == "panel"}
    assert "d1-reconcile-rate-by-controller-and-result" in linked
    assert all(report.panel(anchor).target in (None, "ctl") for anchor in linked)
    assert not [link for link in errors.links if link.kind == "profile-window"]  # no profiles in this bundle


def test_a_new_analyzer_is_one_module_and_nothing_else(tmp_path: Path) -> None:
    """Written as one module outside the package, registered by @analyzer: in analyze --json, the report, Grafana."""
    plugins = tmp_path / "plugins"
    bundle = tmp_path / "b"
    growing_queue(bundle).view(HEALTHY_DURATION)
    done = cli_with_module(plugins, "deep_queue", NEW_ANALYZER, "analyze", str(bundle), "--json")
    assert done.returncode == 0, done.stderr
    found = [f for f in json.loads(done.stdout)["findings"] if f["id"] == "deep-queue"]
    assert [(f["severity"], f["target"], f["evidence"]["peak"]) for f in found] == [("warning", "ctl", 120.0)]

    sys.path.insert(0, str(plugins))
    try:
        import deep_queue  # noqa: F401  (registers the analyzer in this process)

        view = open_bundle(bundle)
        report = build_report(view, run_analyzers(view, None))
        deep = next(f for f in report.findings if f.finding.id == "deep-queue")
        panels = [report.panel(link.anchor).title for link in deep.links if link.kind == "panel"]
        assert panels == ["Workqueue depth"]
        zoom = next(link for link in deep.links if link.kind == "zoom")
        assert zoom.start == pytest.approx(T0 + 500.0, abs=5.0)  # the ramp passes depth 50 at 50/120 of 1200 s
        rows = [p for p in grafana_dashboard(report)["panels"] if p["type"] == "row"]
        row = next(i for i, p in enumerate(grafana_dashboard(report)["panels"])
                   if p["type"] == "row" and "deep-queue" in p["title"])
        exported = grafana_dashboard(report)["panels"][row + 1]
        assert exported["title"] == "Workqueue depth" and "workqueue_depth" in exported["targets"][0]["expr"]
        assert len(rows) > 1
    finally:
        sys.path.remove(str(plugins))
        sys.modules.pop("deep_queue", None)
        ANALYZERS.pop("deep-queue", None)
        EVIDENCE_SOURCES.pop("deep-queue", None)


NAN_ANALYZER = '''"""not-a-number: evidence holding NaN and infinity (a test analyzer)."""

from profkit.analyze import analyzer
from profkit.model import Finding


@analyzer("not-a-number")
def analyze(view, options):
    return [Finding("not-a-number", "info", "ctl", "no rate", {"rate": float("nan"), "ratio": [1.5, float("inf")]})]
'''


def test_analyze_json_is_strict_json_even_when_evidence_holds_nan(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    growing_queue(bundle).view(HEALTHY_DURATION)
    done = cli_with_module(tmp_path / "plugins", "not_a_number", NAN_ANALYZER, "analyze", str(bundle), "--json",
                           "--only", "not-a-number")
    assert done.returncode == 0, done.stderr

    def reject(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    document = json.loads(done.stdout, parse_constant=reject)
    assert document["findings"][0]["evidence"] == {"rate": None, "ratio": [1.5, None]}
