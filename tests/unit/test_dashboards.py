"""Dashboard YAML specs: validation with one-line errors, panel data from a bundle, and the Grafana export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from profkit.errors import BadInput
from profkit.render.dashboard_spec import builtin_dashboards, load_dashboard, parse_dashboard
from profkit.render.grafana import grafana_dashboard
from profkit.render.report_model import build_report, dashboards_only
from profkit.render.panel_data import downsample, series_lines

from controller_bundles import T0, Bundle, ControllerLoad, const, healthy

FIXTURES = Path(__file__).parent.parent / "fixtures"
MINIMAL = """
name: mine
rows:
  - title: Mine
    panels:
      - title: Depth
        series:
          - metric: workqueue_depth
"""


def test_builtin_dashboards_load_from_the_package() -> None:
    dashboards = builtin_dashboards()
    assert {"controller", "scale-run"} <= set(dashboards)
    controller = dashboards["controller"]
    titles = [p.title for p in controller.panels]
    for wanted in ("CPU per pod", "Memory working set", "Active workers vs max", "Worker utilisation",
                   "Reconcile rate by controller and result", "Reconcile errors", "Reconcile duration quantiles",
                   "Workqueue depth", "Workqueue adds", "Workqueue retries", "Queue duration quantiles (time waiting)",
                   "Work duration quantiles (time processing)", "Longest running processor", "Unfinished work",
                   "REST client requests by method and code", "Throttling waits (client-side rate limiter)",
                   "Goroutines", "Go heap", "Go memory outside the heap", "GC pause quantiles", "CPU flame graph",
                   # the panels of Cluster API's own "Controller Runtime" dashboard
                   "Pods", "Reconcile time heatmap", "Queue duration heatmap (time waiting)",
                   "Workqueue depth by priority", "Webhook requests by webhook and code", "Webhook latency quantiles",
                   "Webhook latency heatmap"):
        assert wanted in titles
    assert {p.type for p in controller.panels} == {"timeseries", "stat", "table", "heatmap", "flamegraph"}
    assert {"Objects by state", "API server requests by resource and verb"} <= {
        p.title for p in dashboards["scale-run"].panels}
    assert {p.type for p in dashboards["scale-run"].panels} >= {"findings", "timeseries", "table", "stat"}


@pytest.mark.parametrize(("change", "message"), [
    (("- metric: workqueue_depth", "- metric: 'bad name'"),
     "mine.yaml: rows[0].panels[0].series[0].metric: 'bad name' is not a valid metric name"),
    (("- metric: workqueue_depth", "- metric: workqueue_depth\n            transform: rat"),
     "mine.yaml: rows[0].panels[0].series[0].transform: 'rat' is not one of gauge, rate, quantile, buckets"),
    (("      - title: Depth", "      - title: Depth\n        type: pie"),
     "mine.yaml: rows[0].panels[0].type: 'pie' is not one of timeseries, stat, table, heatmap, flamegraph, findings"),
    (("      - title: Depth", "      - title: Depth\n        width: 30"),
     "mine.yaml: rows[0].panels[0].width: expected a whole number from 1 to 24, got 30"),
    (("      - title: Depth", "      - title: Depth\n        colour: red"),
     "mine.yaml: rows[0].panels[0].colour: unknown field"),
    (("      - title: Depth", "      - title: Depth\n        thresholds: [{value: high, color: red}]"),
     "mine.yaml: rows[0].panels[0].thresholds[0].value: expected a number or null"),
    (("        series:\n          - metric: workqueue_depth\n", ""),
     "mine.yaml: rows[0].panels[0].series: a timeseries panel needs at least one series"),
    (("rows:", "rowz:"), "mine.yaml: rows: missing (a list of rows, each with panels)"),
    (("- metric: workqueue_depth", "- metric: x\n            labels: {code: '~5..('}"),
     "mine.yaml: rows[0].panels[0].series[0].labels.code: bad regular expression"),
])
def test_errors_name_the_file_and_the_field(change: tuple[str, str], message: str) -> None:
    with pytest.raises(BadInput) as raised:
        parse_dashboard(MINIMAL.replace(*change), "mine.yaml")
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_users_load_their_own_file_and_unknown_names_say_what_exists(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(MINIMAL)
    assert load_dashboard(str(path)).panels[0].metric_names == ["workqueue_depth"]
    with pytest.raises(BadInput, match="built-in: controller, scale-run"):
        load_dashboard("nope")
    (tmp_path / "broken.yaml").write_text("rows: [\n")
    with pytest.raises(BadInput, match=r"broken.yaml: not valid YAML"):
        load_dashboard(str(tmp_path / "broken.yaml"))


def test_downsampling_keeps_every_peak_and_dip() -> None:
    times = np.arange(100_000, dtype=float)
    values = np.zeros(100_000)
    values[12_345], values[67_890] = 50.0, -7.0
    t, v = downsample(times, values, 1500)
    assert t.size <= 1500 and 50.0 in v and -7.0 in v
    assert np.all(np.diff(t) > 0)


def _controller_spec(title: str) -> object:
    return next(p for p in builtin_dashboards()["controller"].panels if p.title == title)


def test_rates_sum_by_label_and_quantiles_match_the_histogram(tmp_path: Path) -> None:
    b = Bundle(tmp_path / "b")
    load = ControllerLoad(results={"success": const(2.0), "error": const(0.5)}, reconcile_seconds=0.3)
    b.metrics(load, 300, instance="pod-0")
    b.metrics(load, 300, instance="pod-1")
    view = b.view(300)
    panel = _controller_spec("Reconcile rate by controller and result")
    lines = {line.name: line for spec in panel.series for line in series_lines(view, spec, "ctl")}  # type: ignore[attr-defined]
    assert set(lines) == {"widget success", "widget error"}
    assert float(np.nanmedian(lines["widget success"].values)) == pytest.approx(4.0)  # 2/s on each of 2 pods
    panel = _controller_spec("Reconcile duration quantiles")
    quantiles = {line.name: line for spec in panel.series for line in series_lines(view, spec, "ctl")}  # type: ignore[attr-defined]
    p50 = float(np.nanmedian(quantiles["p50 widget"].values))
    assert 0.25 <= p50 <= 0.5  # every observation sits in the (0.25, 0.5] bucket
    cpu = _controller_spec("CPU per pod")
    cpu_lines = [line for spec in cpu.series for line in series_lines(view, spec, "ctl")]  # type: ignore[attr-defined]
    # Each line says which collector its number is from (one source per target, never a sum).
    assert [line.name for line in cpu_lines] == ["pod-0 · process_cpu_seconds_total (/metrics)",
                                                 "pod-1 · process_cpu_seconds_total (/metrics)"]
    assert {line.source for line in cpu_lines} == {"process_cpu_seconds_total (/metrics)"}


def test_object_series_count_created_ready_deleted_and_time_to_ready(tmp_path: Path) -> None:
    from profkit.model import ObjectEvent

    b = healthy(tmp_path / "b", objects=20, deleted=5)
    b.writer.add_objects([ObjectEvent(T0 + 30 + i, "widgets.scale.profkit.dev", "default", f"w-{i}", "modified",
                                      uid=f"default/w-{i}", ready=True) for i in range(10)])
    view = b.view(1200)
    overview = builtin_dashboards()["scale-run"]
    panel = next(p for p in overview.panels if p.title == "Objects created, ready and deleted")
    lines = {line.name: line for spec in panel.series for line in series_lines(view, spec, None)}
    assert lines["created widgets.scale.profkit.dev"].values[-1] == 20
    assert lines["ready widgets.scale.profkit.dev"].values[-1] == 10
    assert lines["deleted widgets.scale.profkit.dev"].values[-1] == 5
    ready = next(p for p in overview.panels if p.title == "Time to ready")
    (line,) = [line for spec in ready.series for line in series_lines(view, spec, None)]
    assert line.values.size == 10 and math.isclose(float(line.values[0]), 30.0, abs_tol=0.01)


def _schema() -> dict[str, object]:
    schema: dict[str, object] = json.loads((FIXTURES / "grafana-dashboard-subset.schema.json").read_text())
    return schema


def test_grafana_export_is_valid_against_the_dashboard_model_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    exported = grafana_dashboard(dashboards_only(list(builtin_dashboards().values())))
    round_tripped = json.loads(json.dumps(exported))
    assert round_tripped == exported
    jsonschema.validate(round_tripped, _schema())
    assert exported["__inputs"][0]["name"] == "DS_PROMETHEUS"
    assert [v["name"] for v in exported["templating"]["list"]] == ["namespace", "pod"]
    panels = [p for p in exported["panels"] if p["type"] != "row"]
    assert panels and all(p["gridPos"] and all(t["expr"] for t in p["targets"]) for p in panels)
    assert len({p["id"] for p in exported["panels"]}) == len(exported["panels"])


def test_grafana_panels_do_not_overlap() -> None:
    exported = grafana_dashboard(dashboards_only([builtin_dashboards()["controller"]]))
    taken: set[tuple[int, int]] = set()
    for panel in exported["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, panel["title"]
        taken |= cells


def test_each_grafana_panel_queries_the_metrics_its_html_panel_draws(tmp_path: Path) -> None:
    b = healthy(tmp_path / "b")
    view = b.view(1200)
    controller = builtin_dashboards()["controller"]
    report = build_report(view, [], [controller])
    exported = {p["title"]: p for p in grafana_dashboard(report)["panels"] if p["type"] != "row"}
    checked = 0
    for drawn in report.panels():
        metrics = [m for m in drawn.metrics if m not in ("logs", "objects", "findings")]
        if drawn.flame is not None or not metrics:
            continue
        exprs = " ".join(t["expr"] for t in exported[drawn.title]["targets"])
        for metric in metrics:
            assert metric in exprs, (drawn.title, metric)
            checked += 1
    assert checked >= 15


def test_grafana_export_from_the_command_line_needs_no_bundle(tmp_path: Path) -> None:
    from profkit.cli.main import main

    out = tmp_path / "controller.json"
    assert main(["report", "--grafana", str(out), "--dashboard", "controller"]) == 0
    assert json.loads(out.read_text())["title"] == "profkit: Controller runtime"
    assert main(["report"]) == 2


def test_report_draws_a_users_dashboard_file(tmp_path: Path) -> None:
    from profkit.cli.main import main

    b = healthy(tmp_path / "b")
    b.view(1200)
    mine = tmp_path / "mine.yaml"
    mine.write_text(MINIMAL.replace("title: Depth", "title: My queue depth"))
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "b"), "--dashboard", str(mine), "-o", str(out)]) == 0
    text = out.read_text()
    assert '<div class="ptitle">My queue depth ' in text and "Reconcile rate by controller" not in text
    assert '<h2 class="dash" id="findings">Findings</h2>' in text  # findings stay on top without a findings panel
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("workqueue_depth", "'no good'"))
    assert main(["report", str(tmp_path / "b"), "--dashboard", str(bad)]) == 2


def test_a_views_remembered_reads_answer_as_fresh_reads(tmp_path: Path) -> None:
    from profkit.bundle import open_bundle

    b = healthy(tmp_path / "b")
    b.view(1200)
    warm = open_bundle(tmp_path / "b")
    warm.series("controller_runtime_reconcile_total")  # every target, remembered
    for args, labels in ((("controller_runtime_reconcile_total", "ctl"), {"result": "success"}),
                         (("controller_runtime_reconcile_total", None), {}),
                         (("controller_runtime_reconcile_total", None), {"result": "success"}),
                         (("workqueue_depth", "ctl"), {}), (("nothing", None), {})):
        want = open_bundle(tmp_path / "b").series(*args, **labels)
        assert warm.series(*args, **labels) == want
        assert warm.series(*args, **labels) == want  # the second answer comes from memory
