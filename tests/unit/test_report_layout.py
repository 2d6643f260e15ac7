"""The report's layout fits the capture: range buttons, labelled thresholds (CPU from the pod's limit), full rows, legend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from profkit.bundle import BundleWriter, open_bundle
from profkit.model import CaptureEvent, Finding, Target
from profkit.render.dashboard_spec import GRID_COLUMNS
from profkit.render.report_html import report_html
from profkit.render.report_model import Report, build_report, time_ranges

T0 = 1_764_000_000.0


def short_capture(path: Path, spec: dict[str, Any], seconds: int = 31) -> Path:
    """A ``seconds`` long capture of one pod at ~0.4 cores, with a restart; ``spec`` is the target's spec."""
    writer = BundleWriter(path)
    writer.add_target(Target("ctl", "deployment", spec))
    writer.set_meta(started=repr(T0))
    for step in [*range(0, seconds, 5), seconds]:
        writer.add_points("ctl", "pod-0", T0 + step, [
            ("process_cpu_seconds_total", {}, 0.4 * step),
            ("process_resident_memory_bytes", {}, 40e6),
            ("controller_runtime_reconcile_total", {"controller": "widget", "result": "success"}, 2.0 * step),
            ("workqueue_depth", {"name": "widget"}, float(step % 3)),
        ])
    writer.add_event(CaptureEvent(T0 + 12, "restart", "container restarted", "ctl", "pod-0", "kube"))
    writer.close()
    return path


WINDOWED = Finding("slow-reconcile", "warning", "ctl", "slow", window=(T0 + 10, T0 + 20))


def report_of(path: Path, findings: tuple[Finding, ...] = ()) -> Report:
    return build_report(open_bundle(path), list(findings))


def document(html: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(html.split('id="profkit-data">', 1)[1].split("</script>", 1)[0])
    return data


def test_range_buttons_are_only_those_shorter_than_the_capture_and_all() -> None:
    assert time_ranges(31) == [("30s", 30), ("all", 0)]
    assert time_ranges(16) == [("all", 0)]
    assert [label for label, _ in time_ranges(7200)] == ["30s", "1m", "5m", "15m", "1h", "all"]


def test_a_45_second_capture_gets_no_5m_to_6h_buttons(tmp_path: Path) -> None:
    report = report_of(short_capture(tmp_path / "b", {}, seconds=45))
    assert 40 <= report.data_end <= 45
    assert report.time_ranges == [("30s", 30), ("all", 0)]
    html = report_html(report)
    buttons = [part.split('"', 1)[0] for part in html.split('data-range="')[1:]]
    assert buttons == ["30", "0"]  # no 5m, 15m, 1h or 6h


def cpu_panel(report: Report) -> Any:
    return next(p for p in report.panels() if p.title == "CPU per pod")


def test_cpu_threshold_is_the_pods_cpu_limit_and_labelled(tmp_path: Path) -> None:
    report = report_of(short_capture(tmp_path / "b", {"cpu_limit": 0.5}))
    lines = [(t.value, t.label) for t in cpu_panel(report).thresholds if t.value is not None]
    assert lines == [(pytest.approx(0.4), "80% of CPU limit: 0.4 cores (pod spec)"),
                     (0.5, "CPU limit: 0.5 cores (pod spec)")]
    figure = next(f for f in document(report_html(report))["figures"] if f["div"] == cpu_panel(report).div)
    shapes = [s["y0"] for s in figure["layout"]["shapes"]]
    labels = [a["text"] for a in figure["layout"]["annotations"]]
    assert shapes == [pytest.approx(0.4), 0.5]  # 0.4 cores of use comes near both lines: both are drawn
    assert labels == ["80% of CPU limit: 0.4 cores (pod spec)", "CPU limit: 0.5 cores (pod spec)"]


def test_without_a_known_cpu_limit_no_cpu_line_is_drawn(tmp_path: Path) -> None:
    report = report_of(short_capture(tmp_path / "b", {}))
    assert [t for t in cpu_panel(report).thresholds if t.value is not None] == []
    html = report_html(report)
    figure = next(f for f in document(html)["figures"] if f["div"] == cpu_panel(report).div)
    assert figure["layout"]["shapes"] == []
    stat = next(p for p in report.panels() if p.title == "CPU now")
    assert [t.value for t in stat.thresholds] == [None]  # green: no 0.8 / 1.5 cores from nowhere


def test_every_line_of_the_grid_is_full_when_panels_have_no_data(tmp_path: Path) -> None:
    report = report_of(short_capture(tmp_path / "b", {}))
    dashboard = next(d for d in report.dashboards if d.spec.name == "controller")
    # this capture has no workers, reconcile time, retries or REST client metrics: rows lose panels
    assert any(p.columns != p.spec.width for row in dashboard.rows for p in row.panels)
    for row in dashboard.rows:
        line = 0
        for panel in row.panels:
            assert 0 < panel.columns <= GRID_COLUMNS
            line += panel.columns
            assert line <= GRID_COLUMNS, row.title
            if line == GRID_COLUMNS:
                line = 0
        assert line == 0, (row.title, [(p.title, p.columns) for p in row.panels])  # no line ends short
    html = report_html(report)
    for panel in dashboard.panels:
        assert f'id="{panel.anchor}" style="grid-column: span {panel.columns}"' in html


def test_legend_explains_finding_windows_and_event_marks(tmp_path: Path) -> None:
    report = report_of(short_capture(tmp_path / "b", {}), (WINDOWED,))
    texts = [(e.band, e.text) for e in report.legend]
    assert texts[0][0] and "warning finding" in texts[0][1]  # the shaded window comes first
    assert (False, "dotted line: a pod or process restarted") in texts
    html = report_html(report)
    assert 'id="marks-legend"' in html and "the time window a warning finding rests on" in html
    assert report_of(tmp_path / "b").legend == [e for e in report.legend if not e.band]  # only what is on the page


def test_picker_offers_each_controller_then_its_pods_and_splits_the_panels(tmp_path: Path) -> None:
    from tests.unit.two_controllers import CORES, two_controllers

    report = report_of(two_controllers(tmp_path / "b"))
    assert [(e.key, e.label) for e in report.picker] == [
        ("c0", "controller capi"), ("c1", "controller kcp"), ("c1p0", "pod kcp-0"), ("c1p1", "pod kcp-1")]
    overview = next(d for d in report.dashboards if d.target is None)
    cpu_all = next(p for p in overview.panels if p.title == "CPU, all controllers")
    assert set(cpu_all.variants) == {"c0", "c1"}  # capture-wide panels: one variant per controller
    for key, target in (("c0", "capi"), ("c1", "kcp")):
        want = sum(c for (t, _), c in CORES.items() if t == target)
        assert float(cpu_all.variants[key].lines[0].values[-1]) == pytest.approx(want, rel=0.01)
    kcp = next(d for d in report.dashboards if d.target == "kcp")
    now = next(p for p in kcp.panels if p.title == "CPU now")
    assert now.stat == pytest.approx(0.8, rel=0.01)  # both pods
    assert {k: round(v.stat or 0, 3) for k, v in now.variants.items()} == {"c1p0": 0.2, "c1p1": 0.6}
    capi = next(d for d in report.dashboards if d.target == "capi")
    assert all(not p.variants for p in capi.panels)  # one pod: nothing to split
    flame = next(p for p in kcp.panels if p.flame is not None)
    assert flame.flame is not None
    assert [w.get("pod") for w in flame.flame.windows if w.get("pod")] == ["kcp-0", "kcp-1"]
    html = report_html(report)
    assert '<select id="picker"' in html and "&nbsp;&nbsp;pod kcp-1</option>" in html
    assert '<section class="dashboard" data-target="capi">' in html
