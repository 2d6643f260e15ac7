"""Grafana export: a dashboard spec as an importable classic Grafana dashboard JSON (PromQL per panel)."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from profkit.model.metric_names import RECONCILE_TOTAL
from profkit.render.dashboard_spec import GRID_COLUMNS, PanelSpec, SeriesSpec
from profkit.render.report_model import Report

DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SELECTOR = 'namespace=~"$namespace", pod=~"$pod"'
RATE_WINDOW = "$__rate_interval"
GRAFANA_UNITS = {"bytes": "bytes", "seconds": "s", "percent": "percentunit", "per_second": "ops", "cores": "short",
                 "count": "short", "items": "short", "workers": "short", "": "short"}
REDUCERS = {"last": "lastNotNull", "mean": "mean", "max": "max", "min": "min", "increase": "delta"}
COLOURS = {"green": "green", "orange": "orange", "red": "red", "yellow": "yellow", "blue": "blue"}
SCHEMA_VERSION = 39
ANCHOR_METRIC = RECONCILE_TOTAL  # what the namespace/pod variables are read from


def _selector(spec: SeriesSpec, extra: str = "") -> str:
    parts = [SELECTOR]
    for key, value in spec.labels:
        if value.startswith("~"):
            parts.append(f'{key}=~"{value[1:]}"')
        else:
            parts.append(f'{key}="{value}"')
    if extra:
        parts.append(extra)
    return "{" + ", ".join(parts) + "}"


def _by(labels: Sequence[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def _one_metric(spec: SeriesSpec, metric: str, increase: bool = False) -> list[tuple[str, str]]:
    """(expr, legendFormat) pairs for one metric of a series spec."""
    container = 'container!=""' if metric.startswith("container_") else ""
    selector = _selector(spec, container)
    legend = re.sub(r"\{(\w+)\}", r"{{\1}}", spec.legend) if spec.legend else ""
    if spec.transform == "buckets":  # observations per second per bucket: Grafana's heatmap de-cumulates `le`
        return [(f"sum{_by(['le', *spec.by])} (rate({metric}_bucket{selector}[{RATE_WINDOW}]))", "{{le}}")]
    if spec.transform == "quantile":
        out = []
        for q in spec.quantiles:
            inner = f"sum{_by(['le', *spec.by])} (rate({metric}_bucket{selector}[{RATE_WINDOW}]))"
            out.append((f"histogram_quantile({q:g}, {inner})", legend.replace("{{quantile}}", f"{q * 100:g}")))
        return out
    if increase:  # a table of counters over the dashboard's time range
        value = f"increase({metric}{selector}[$__range])"
    elif spec.transform == "rate":
        value = f"rate({metric}{selector}[{RATE_WINDOW}])"
    else:
        value = f"{metric}{selector}"
    expr = f"{spec.aggregate}{_by(spec.by)} ({value})"
    if spec.divide_by:
        expr = f"{expr} / {spec.aggregate}{_by(spec.by)} ({spec.divide_by}{_selector(spec)})"
    return [(expr, legend)]


# The pods table as Cluster API's "Controller Runtime" dashboard reads it from kube-state-metrics, joined by pod.
POD_QUERIES = (
    (f"kube_pod_info{{{SELECTOR}}}", "info"),
    (f"sum by (namespace, pod) (kube_pod_container_status_restarts_total{{{SELECTOR}}})", "restarts"),
    (f"kube_pod_status_phase{{{SELECTOR}}} == 1", "phase"),
)


def series_queries(spec: SeriesSpec, increase: bool = False) -> list[tuple[str, str]]:
    """PromQL and legend for one series spec: alternatives joined with ``or``; [] without a metric."""
    if spec.promql:
        return [(spec.promql, re.sub(r"\{(\w+)\}", r"{{\1}}", spec.legend))]
    if spec.source == "pods":
        return list(POD_QUERIES)
    if spec.source != "metrics" or not spec.metrics:
        return []
    per_metric = [_one_metric(spec, m, increase) for m in spec.metrics]
    if len(per_metric) == 1:
        return per_metric[0]
    return [(" or ".join(f"({q[i][0]})" for q in per_metric), per_metric[0][i][1]) for i in range(len(per_metric[0]))]


def _thresholds(panel: PanelSpec) -> dict[str, Any]:
    # A threshold relative to a pod's CPU limit has no value a dashboard of PromQL queries could know.
    steps = [{"color": COLOURS.get(t.color, t.color), "value": t.value} for t in panel.thresholds if not t.of]
    if not steps or steps[0]["value"] is not None:
        steps.insert(0, {"color": "green", "value": None})
    return {"mode": "absolute", "steps": steps}


def _panel(panel: PanelSpec, panel_id: int, x: int, y: int) -> dict[str, Any] | None:
    increase = panel.type == "table" and panel.reduce == "increase"
    queries = [q for spec in panel.series for q in series_queries(spec, increase)]
    if not queries or panel.type not in ("timeseries", "stat", "table", "heatmap"):
        return None
    targets: list[dict[str, Any]] = []
    for index, (expr, legend) in enumerate(queries):
        target: dict[str, Any] = {"datasource": DATASOURCE, "expr": expr, "refId": chr(ord("A") + index % 26),
                                  "legendFormat": legend or "__auto"}
        if panel.type == "table":
            target.update(instant=True, format="table")
        elif panel.type == "heatmap":
            target["format"] = "heatmap"
        targets.append(target)
    defaults: dict[str, Any] = {"unit": defaults_unit(panel), "thresholds": _thresholds(panel)}
    if panel.type == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                              "axisLabel": panel.unit if panel.unit in ("cores", "workers") else "",
                              "thresholdsStyle": {"mode": "dashed" if any(not t.of for t in panel.thresholds) else "off"}}
    options: dict[str, Any] = {}
    if panel.type == "stat":
        defaults["color"] = {"mode": "thresholds"}
        options = {"reduceOptions": {"calcs": [REDUCERS[panel.reduce]], "fields": "", "values": False},
                   "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    elif panel.type == "timeseries":
        options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                   "tooltip": {"mode": "multi", "sort": "desc"}}
    elif panel.type == "heatmap":  # the buckets as Prometheus gives them (calculate off), zero cells hidden
        defaults = {"unit": "ops", "custom": {"scaleDistribution": {"type": "linear"}}}
        options = {"calculate": False, "cellGap": 1, "yAxis": {"axisPlacement": "left", "unit": defaults_unit(panel)},
                   "rowsFrame": {"layout": "auto"}, "filterValues": {"le": 1e-9},
                   "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange", "scale": "exponential",
                             "exponent": 0.5, "steps": 64, "reverse": False},
                   "cellValues": {"unit": "ops"}, "tooltip": {"mode": "single", "yHistogram": False},
                   "legend": {"show": True}}
    transformations: list[dict[str, Any]] = []
    if any(spec.source == "pods" for spec in panel.series):  # one row per pod: info, restarts and phase joined
        transformations = [{"id": "joinByField", "options": {"byField": "pod", "mode": "outer"}},
                           {"id": "organize", "options": {  # the joined frames' times, values and scrape labels
                               "excludeByName": {name: True for name in (
                                   "Time 1", "Time 2", "Time 3", "Value #A", "Value #C", "__name__ 1", "__name__ 2",
                                   "job 1", "job 2", "instance 1", "instance 2", "namespace 2", "namespace 3", "uid",
                                   "created_by_kind", "host_network", "priority_class")},
                               "renameByName": {"namespace 1": "namespace", "Value #B": "restarts"}}}]
    return {
        "id": panel_id, "type": panel.type, "title": panel.title, "description": panel.description,
        "datasource": DATASOURCE, "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": []}, "options": options,
        **({"transformations": transformations} if transformations else {}),
    }


def defaults_unit(panel: PanelSpec) -> str:
    """Grafana's unit name for the panel's unit."""
    return GRAFANA_UNITS.get(panel.unit, "short")


def _variable(name: str, query: str) -> dict[str, Any]:
    return {"name": name, "label": name, "type": "query", "datasource": DATASOURCE,
            "query": {"query": query, "refId": f"{name}-variable"}, "definition": query, "refresh": 2,
            "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": []}


def _finding_rows(report: Report) -> list[tuple[str, list[PanelSpec]]]:
    """One row per finding of the report: the metric panels its evidence links to (by title, each once)."""
    rows: list[tuple[str, list[PanelSpec]]] = []
    for item in report.findings:
        specs: dict[str, PanelSpec] = {}
        for link in item.links:
            if link.kind == "panel":
                panel = report.panel(link.anchor)
                if panel.flame is None:
                    specs.setdefault(panel.title, panel.spec)
        if specs:
            f = item.finding
            rows.append((f"Finding {f.severity} {f.id}" + (f" ({f.target})" if f.target else "") + f": {f.title}"[:200],
                         list(specs.values())))
    return rows


def grafana_json(report: Report) -> str:
    """The Grafana export of a report as the JSON text ``profkit report --grafana`` writes."""
    return json.dumps(grafana_dashboard(report), indent=2) + "\n"


def grafana_dashboard(report: Report) -> dict[str, Any]:
    """One classic Grafana dashboard (JSON model) holding the rows of every dashboard spec that have PromQL."""
    dashboards = report.dashboard_specs
    panels: list[dict[str, Any]] = []
    skipped: list[str] = []
    next_id, y = 1, 0
    for dashboard in dashboards:
        for row in dashboard.rows:
            row_panels: list[dict[str, Any]] = []
            x, row_y, row_height = 0, y + 1, 0
            for panel in row.panels:
                if x + panel.width > GRID_COLUMNS:
                    x, row_y, row_height = 0, row_y + row_height, 0
                exported = _panel(panel, next_id + 1 + len(row_panels), x, row_y)
                if exported is None:
                    skipped.append(panel.title)
                    continue
                row_panels.append(exported)
                x += panel.width
                row_height = max(row_height, panel.height)
            if not row_panels:
                continue
            title = f"{dashboard.title}: {row.title}" if len(dashboards) > 1 else row.title
            panels.append({"id": next_id, "type": "row", "title": title, "collapsed": False, "panels": [],
                           "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": y}})
            panels += row_panels
            next_id += 1 + len(row_panels)
            y = row_y + row_height
    for row_title, evidence in _finding_rows(report):
        x, row_y, row_height = 0, y + 1, 0
        row_panels = []
        for panel in evidence:
            if x + panel.width > GRID_COLUMNS:
                x, row_y, row_height = 0, row_y + row_height, 0
            exported = _panel(panel, next_id + 1 + len(row_panels), x, row_y)
            if exported is not None:
                row_panels.append(exported)
                x += panel.width
                row_height = max(row_height, panel.height)
        if row_panels:
            panels.append({"id": next_id, "type": "row", "title": row_title, "collapsed": False, "panels": [],
                           "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": y}})
            panels += row_panels
            next_id += 1 + len(row_panels)
            y = row_y + row_height
    title = " + ".join(d.title for d in dashboards)
    description = "Exported by profkit from " + ", ".join(d.source or d.name for d in dashboards) + "."
    if skipped:
        description += " Drawn only in profkit's HTML report (profiles, object watcher, findings): " \
                       + ", ".join(skipped) + "."
    panel_types = sorted({p["type"] for p in panels if p["type"] != "row"})
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "", "type": "datasource",
                      "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
                       {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}]
                      + [{"type": "panel", "id": t, "name": t, "version": ""} for t in panel_types],
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": description, "editable": True, "graphTooltip": 1, "id": None, "links": [],
        "panels": panels, "refresh": "30s", "schemaVersion": SCHEMA_VERSION, "tags": ["profkit", "controller-runtime"],
        "templating": {"list": [
            _variable("namespace", f"label_values({ANCHOR_METRIC}, namespace)"),
            _variable("pod", f'label_values({ANCHOR_METRIC}{{namespace=~"$namespace"}}, pod)'),
        ]},
        "time": {"from": "now-1h", "to": "now"}, "timepicker": {}, "timezone": "utc", "title": f"profkit: {title}",
        "uid": "profkit-" + "-".join(d.name for d in dashboards)[:30], "version": 1, "weekStart": "",
    }
