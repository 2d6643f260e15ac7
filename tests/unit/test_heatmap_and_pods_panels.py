"""Panels from Cluster API's dashboards: histogram heatmaps (bucket increases per step, across counter resets),
the pods table (phase, restarts), objects by state, and the spec rules for the new panel types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from profkit.bundle import BundleWriter, open_bundle
from profkit.errors import BadInput
from profkit.model import CaptureEvent, ObjectEvent, Target
from profkit.render.dashboard_html import render_dashboard
from profkit.render.dashboard_spec import SeriesSpec, builtin_dashboards, parse_dashboard
from profkit.render.grafana import grafana_dashboard
from profkit.render.panel_data import heatmaps, series_lines
from profkit.render.report_model import build_report

T0 = 1_764_000_000.0
RECONCILE = SeriesSpec(metrics=("controller_runtime_reconcile_time_seconds",), transform="buckets")
# Cumulative bucket counts (le 0.1, 0.5, +Inf) scraped every 10 s; the process restarts before the last scrape.
SCRAPES = [(0.0, (0, 0, 0)), (10.0, (2, 5, 6)), (20.0, (4, 9, 11)), (30.0, (1, 1, 2))]


def _histogram_bundle(path: Path, scrapes: list[tuple[float, tuple[int, int, int]]] = SCRAPES) -> Path:
    writer = BundleWriter(path)
    writer.add_target(Target("ctl", "endpoint", {}))
    for t, (a, b, c) in scrapes:
        writer.add_points("ctl", "pod-0", T0 + t, [
            ("controller_runtime_reconcile_time_seconds_bucket", {"controller": "w", "le": le}, float(v))
            for le, v in (("0.1", a), ("0.5", b), ("+Inf", c))])
    writer.close()
    return path


def test_heatmap_counts_each_buckets_observations_per_step_across_a_counter_reset(tmp_path: Path) -> None:
    view = open_bundle(_histogram_bundle(tmp_path / "b"))
    (heat,) = heatmaps(view, RECONCILE, "ctl")
    # By hand: per step, cumulative increases (after a reset the counter counts from zero: the increase is the
    # new value) de-cumulated over le: step 1 (2, 5, 6) -> [2, 3, 1]; step 2 (2, 4, 5) -> [2, 2, 1];
    # step 3 after the reset (1, 1, 2) -> [1, 0, 1].
    assert heat.bounds.tolist() == [0.1, 0.5, np.inf]
    assert heat.times.tolist() == [T0 + 10, T0 + 20, T0 + 30]
    assert heat.counts.tolist() == [[2, 2, 1], [3, 2, 0], [1, 1, 1]]
    assert heat.step == 10.0 and heat.rates[1, 0] == pytest.approx(0.3)
    assert heat.total == 13  # 6 + 5 observations before the restart, 2 after


def test_heatmap_trims_buckets_that_never_fill_and_is_missing_without_observations(tmp_path: Path) -> None:
    view = open_bundle(_histogram_bundle(tmp_path / "b", [(0.0, (0, 3, 3)), (10.0, (0, 5, 5)), (20.0, (0, 7, 7))]))
    (heat,) = heatmaps(view, RECONCILE, "ctl")
    assert heat.bounds.tolist() == [0.5] and heat.counts.tolist() == [[2, 2]]
    idle = open_bundle(_histogram_bundle(tmp_path / "idle", [(0.0, (0, 3, 3)), (10.0, (0, 3, 3))]))
    assert heatmaps(idle, RECONCILE, "ctl") == []


def test_heatmap_panel_draws_a_plotly_heatmap_with_bucket_rows_and_blank_empty_cells(tmp_path: Path) -> None:
    view = open_bundle(_histogram_bundle(tmp_path / "b"))
    report = build_report(view, [], [builtin_dashboards()["controller"]])
    panel = next(p for p in report.panels() if p.title == "Reconcile time heatmap")
    rendered = render_dashboard(report.dashboards[0], report.t0, "")
    (figure,) = [f for f in rendered.figures if f["div"] == panel.div]
    (trace,) = figure["data"]
    assert trace["type"] == "heatmap" and trace["y"] == ["≤ 100ms", "≤ 500ms", "+Inf"]
    assert trace["xs"] == [round(T0 + t - report.t0, 1) for t in (10, 20, 30)]
    assert trace["z"] == [[0.2, 0.2, 0.1], [0.3, 0.2, None], [0.1, 0.1, 0.1]]  # observations/s; none: blank
    assert figure["kind"] == "time"  # zoom and range buttons move it with the other time panels


def test_grafana_exports_a_heatmap_panel_of_bucket_rates_formatted_as_heatmap(tmp_path: Path) -> None:
    report = build_report(open_bundle(_histogram_bundle(tmp_path / "b")), [], [builtin_dashboards()["controller"]])
    exported = grafana_dashboard(report)
    (panel,) = [p for p in exported["panels"] if p["title"] == "Reconcile time heatmap"]
    assert panel["type"] == "heatmap" and panel["options"]["calculate"] is False
    (target,) = panel["targets"]
    assert target["format"] == "heatmap" and target["legendFormat"] == "{{le}}"
    assert target["expr"] == ('sum by (le) (rate(controller_runtime_reconcile_time_seconds_bucket'
                              '{namespace=~"$namespace", pod=~"$pod"}[$__rate_interval]))')


def _deployment_bundle(path: Path) -> Path:
    writer = BundleWriter(path)
    pods = [{"name": "mgr-a", "node": "node-1", "added": T0, "removed": None},
            {"name": "mgr-b", "node": "node-2", "added": T0 + 5, "removed": T0 + 40}]
    writer.add_target(Target("capi", "deployment", {"pods": pods}))
    for pod in ("mgr-a", "mgr-b"):
        writer.touch_instance("capi", pod, at=T0)
    writer.add_points("capi", "mgr-a", T0 + 60, [("process_cpu_seconds_total", {}, 1.0)])
    for t in (20.0, 30.0):
        writer.add_event(CaptureEvent(T0 + t, "restart", "container manager of pod mgr-a restarted "
                                      "(restartCount 0 -> 1)", "capi", "mgr-a", "pods"))
    writer.add_event(CaptureEvent(T0 + 40, "pod-removed", "pod mgr-b ended (Failed); its data is kept", "capi",
                                  "mgr-b", "pods"))
    writer.close()
    return path


def test_pods_table_shows_node_phase_and_restarts_of_each_pod(tmp_path: Path) -> None:
    report = build_report(open_bundle(_deployment_bundle(tmp_path / "b")), [], [builtin_dashboards()["controller"]])
    panel = next(p for p in report.panels() if p.title == "Pods")
    assert panel.table is not None
    assert panel.table.header == ("pod", "node", "phase", "restarts", "first seen", "last seen")
    assert panel.table.rows == [
        ("mgr-a", ["node-1", "Running", "2 during the capture", "16:00:00", "16:00:00"]),
        ("mgr-b", ["node-2", "Failed", "0 during the capture", "16:00:05", "16:00:40"]),
    ]
    rendered = render_dashboard(report.dashboards[0], report.t0, "")
    (figure,) = [f for f in rendered.figures if f["div"] == panel.div]
    assert figure["data"][0]["cells"]["values"][2] == ["Running", "Failed"]


def test_pods_table_takes_kube_state_metrics_restarts_when_the_import_has_them(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "b")
    writer.add_target(Target("capi", "deployment", {"source": "prometheus"}))
    writer.touch_instance("capi", "mgr-a", {"restarts": {"manager": 3.0}, "node": "n1"}, at=T0)
    writer.add_points("capi", "mgr-a", T0, [("process_cpu_seconds_total", {}, 1.0)])
    writer.close()
    report = build_report(open_bundle(tmp_path / "b"), [], [builtin_dashboards()["controller"]])
    panel = next(p for p in report.panels() if p.title == "Pods")
    assert panel.table is not None and panel.table.rows == [("mgr-a", ["n1", "-", "3", "16:00:00", "16:00:00"])]


def test_a_local_process_has_no_pods_panel_and_lists_none_missing(tmp_path: Path) -> None:
    report = build_report(open_bundle(_histogram_bundle(tmp_path / "b")), [], [builtin_dashboards()["controller"]])
    assert "Pods" not in [p.title for p in report.panels()]
    assert "Pods" not in report.dashboards[0].missing
    assert "Webhook requests by webhook and code" in report.dashboards[0].missing


def test_objects_by_state_counts_ready_not_ready_and_deleting_objects_over_time(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "b")
    r = "machines.cluster.x-k8s.io"
    writer.add_objects([
        ObjectEvent(T0, r, "ns", "m1", "added", "u1", ready=False),
        ObjectEvent(T0 + 1, r, "ns", "m2", "added", "u2", ready=False),
        ObjectEvent(T0 + 10, r, "ns", "m1", "modified", "u1", ready=True),
        ObjectEvent(T0 + 20, r, "ns", "m1", "modified", "u1", deletion_ts=T0 + 20, ready=True),
        ObjectEvent(T0 + 25, r, "ns", "m1", "deleted", "u1", deletion_ts=T0 + 20, ready=True),
    ])
    writer.close(ended=T0 + 30)
    spec = next(s for p in builtin_dashboards()["scale-run"].panels if p.title == "Objects by state" for s in p.series)
    lines = {line.name: line for line in series_lines(open_bundle(tmp_path / "b"), spec, None)}
    assert set(lines) == {f"{r} not ready", f"{r} ready", f"{r} deleting"}
    assert lines[f"{r} not ready"].values.tolist() == [1, 2, 1, 1]  # m1 became ready at +10
    assert lines[f"{r} ready"].values.tolist() == [1, 0, 0]
    assert lines[f"{r} deleting"].values.tolist() == [1, 0, 0]
    assert lines[f"{r} deleting"].times.tolist() == [T0 + 20, T0 + 25, T0 + 30]


MINIMAL = """
name: mine
rows:
  - title: Mine
    panels:
      - title: Latency
        type: heatmap
        series:
          - metric: controller_runtime_reconcile_time_seconds
            transform: buckets
"""


@pytest.mark.parametrize(("change", "message"), [
    (("transform: buckets", "transform: quantile"),
     "mine.yaml: rows[0].panels[0].series[0].transform: a heatmap panel draws a histogram's buckets"),
    (("type: heatmap", "type: timeseries"),
     "mine.yaml: rows[0].panels[0].series[0].transform: buckets is drawn by a heatmap panel only"),
    (("            transform: buckets", "            transform: buckets\n          - metric: x\n"
                                         "            transform: buckets"),
     "mine.yaml: rows[0].panels[0].series: a heatmap panel draws one histogram (one series)"),
    (("type: heatmap\n        series:\n          - metric: controller_runtime_reconcile_time_seconds\n"
      "            transform: buckets", "type: timeseries\n        series:\n          - source: pods"),
     "mine.yaml: rows[0].panels[0].series[0].source: pods is drawn by a table panel of that one series"),
])
def test_new_panel_types_are_validated_with_one_line_errors(change: tuple[str, str], message: str) -> None:
    with pytest.raises(BadInput) as raised:
        parse_dashboard(MINIMAL.replace(*change), "mine.yaml")
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
    assert parse_dashboard(MINIMAL, "mine.yaml").panels[0].type == "heatmap"


def test_go_runtime_and_priority_panels_draw_a_real_controller_runtime_scrape(tmp_path: Path) -> None:
    """tests/fixtures/controller-metrics.txt is /metrics of a real controller-runtime Go manager (go-controller)."""
    from profkit.formats.prometheus import parse_text

    scrape = parse_text((Path(__file__).parent.parent / "fixtures" / "controller-metrics.txt").read_text())
    writer = BundleWriter(tmp_path / "b")
    writer.add_target(Target("ctl", "endpoint", {}))
    for t in (0.0, 5.0, 10.0):
        writer.add_points("ctl", "pod-0", T0 + t, [(name, dict(labels), value) for name, labels, value in scrape.samples])
    writer.close()
    report = build_report(open_bundle(tmp_path / "b"), [], [builtin_dashboards()["controller"]])
    lines = {p.title: {line.name: float(line.values[-1]) for line in p.lines} for p in report.panels()}
    assert lines["Workqueue depth by priority"] == {"widget priority 0": 0.0}
    assert lines["GC pause quantiles"]["quantile 1"] == pytest.approx(0.030121583)
    assert lines["GC pause quantiles"]["quantile 0.5"] == pytest.approx(0.00065447)
    assert lines["Go memory outside the heap"]["total from the OS"] == pytest.approx(2.2649096e07)
    assert lines["Go heap"]["idle"] == pytest.approx(8.093696e06)
    assert lines["GC cycles"] == {"pod-0": 0.0}  # the same scrape three times: no GC in between
