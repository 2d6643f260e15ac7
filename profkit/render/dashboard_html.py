"""Dashboard panels as HTML cells and plotly figure dicts: time series, stat, table, flame graph and findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from profkit.render.dashboard_spec import PanelSpec, Threshold
from profkit.render.flame_html import FlamePanel, flame_panel_html
from profkit.render.icicle import plotly_text
from profkit.render.page import SEVERITY_COLOURS, esc
from profkit.render.panel_data import Heatmap, Line
from profkit.render.report_model import DashboardData, PanelData, TableData
from profkit.units import format_number

ROW_PIXELS = 32  # one grid height unit, as in Grafana's gridPos.h
PALETTE = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0",
           "#508642", "#cca300", "#447ebc", "#c15c17", "#890f02", "#0a437c", "#6d1f62", "#584477"]
GRID = "#2c3235"
# plotly/d3 number formats per unit: axis ticks and hover values
UNIT_FORMATS: dict[str, tuple[str, str]] = {
    "bytes": (".3~s", "B"), "seconds": (".3~s", "s"), "percent": (".1%", ""), "per_second": (",.3~r", "/s"),
    "cores": (",.3~r", ""), "count": (",.4~r", ""), "items": (",.4~r", ""), "workers": (",.3~r", ""),
    "": (",.4~r", ""),
}


@dataclass
class DashboardHtml:
    """What one dashboard instance adds to the page."""

    html: str
    figures: list[dict[str, Any]] = field(default_factory=list)
    flames: list[FlamePanel] = field(default_factory=list)
    findings_left: str = ""  # the findings block when this dashboard had no findings panel to take it


def _offsets(times: np.ndarray, t0: float) -> list[float]:
    return [int(x) if x == int(x) else x for x in np.round(times - t0, 1).tolist()]


def _values(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(f"{v:.6g}") for v in values.tolist()]


def _trace(line: Line, unit: str, t0: float, colour: str | None = None) -> dict[str, Any]:
    fmt, suffix = UNIT_FORMATS.get(unit, UNIT_FORMATS[""])
    trace: dict[str, Any] = {
        "type": "scatter", "name": plotly_text(line.name), "xs": _offsets(line.times, t0), "y": _values(line.values),
        "hovertemplate": f"%{{y:{fmt}}}{suffix}",
    }
    if line.style == "points":
        trace.update(mode="markers", marker={"size": 5})
    elif line.style == "bars":
        trace["type"] = "bar"
    else:
        trace.update(mode="lines", line={"width": 1.5, "dash": "dash" if line.style == "dashed" else "solid"})
    if colour:
        trace.setdefault("line", {})["color"] = colour
    return trace


def _axis_layout(panel: PanelSpec, lines: Sequence[Line], thresholds: Sequence[Threshold] = ()) -> dict[str, Any]:
    fmt, suffix = UNIT_FORMATS.get(panel.unit, UNIT_FORMATS[""])
    top = max((float(np.nanmax(line.values)) for line in lines if line.values.size), default=0.0)
    # A threshold line is drawn where the data comes within half of it (else it would flatten the chart),
    # labelled at its right end with what it is.
    drawn = [t for t in thresholds if t.value is not None and top >= 0.5 * t.value > 0]
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": t.value, "y1": t.value,
               "line": {"color": _named(t.color), "width": 1, "dash": "dash"}} for t in drawn]
    labels = [{"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": t.value, "yanchor": "bottom",
               "text": plotly_text(t.label), "showarrow": False, "font": {"size": 10, "color": _named(t.color)},
               "bgcolor": "rgba(24,27,31,0.7)"} for t in drawn if t.label]
    return {
        "height": panel.height * ROW_PIXELS, "hovermode": "x unified", "colorway": PALETTE,
        "margin": {"l": 52, "r": 10, "t": 14, "b": 26}, "font": {"size": 11},
        "xaxis": {"type": "date", "tickformat": "%H:%M:%S", "hoverformat": "%H:%M:%S UTC", "showspikes": True,
                  "ticklabelstandoff": 4, "ticklabeloverflow": "hide past domain", "spikemode": "across",
                  "spikesnap": "cursor",
                  "spikethickness": 1, "spikecolor": "#9fa7b3", "spikedash": "solid", "gridcolor": GRID},
        "yaxis": {"tickformat": fmt, "ticksuffix": suffix, "rangemode": "tozero", "gridcolor": GRID,
                  "zeroline": False, "title": {"text": plotly_text(panel.unit) if panel.unit in ("cores", "workers") else ""}},
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "font": {"size": 10}},
        "paper_bgcolor": "#181b1f", "plot_bgcolor": "#181b1f", "shapes": shapes, "annotations": labels,
    }


def threshold_colour(value: float, thresholds: Sequence[Threshold], default: str = "#73bf69") -> str:
    """The colour of the highest threshold at or below ``value`` (Grafana's absolute mode)."""
    colour = default
    for t in thresholds:
        if t.value is None or value >= t.value:
            colour = _named(t.color)
    return colour


def _named(colour: str) -> str:
    return {"green": "#73bf69", "orange": "#ff9830", "red": "#f2495c", "yellow": "#fade2a", "blue": "#5794f2",
            "purple": "#b877d9"}.get(colour, colour)


def _stat_figure(panel: PanelSpec, lines: Sequence[Line], value: float, t0: float,
                 thresholds: Sequence[Threshold]) -> dict[str, Any]:
    colour = threshold_colour(value, thresholds)
    fmt, suffix = UNIT_FORMATS.get(panel.unit, UNIT_FORMATS[""])
    suffix = suffix + (f" {panel.unit}" if panel.unit in ("cores", "workers") else "")
    spark = _trace(lines[0], panel.unit, t0, colour)
    spark.update(fill="tozeroy", hoverinfo="skip", showlegend=False, line={"color": colour, "width": 1})
    spark.pop("hovertemplate", None)
    indicator = {"type": "indicator", "mode": "number", "value": value,
                 "number": {"valueformat": fmt.replace("~", ""), "suffix": suffix, "font": {"color": colour, "size": 34}},
                 "domain": {"x": [0, 1], "y": [0.3, 1]}}
    layout = {"height": panel.height * ROW_PIXELS, "margin": {"l": 6, "r": 6, "t": 6, "b": 6},
              "paper_bgcolor": "#181b1f", "plot_bgcolor": "#181b1f",
              "xaxis": {"visible": False, "type": "date"}, "yaxis": {"visible": False, "domain": [0, 0.35]}}
    return {"data": [indicator, spark], "layout": layout, "kind": "stat"}


def _table_figure(panel: PanelSpec, table: TableData) -> dict[str, Any]:
    def fmt(value: float | str) -> str:
        if isinstance(value, str):
            return plotly_text(value)
        return "-" if not np.isfinite(value) else f"{value:.4g}"

    header = list(table.header)
    rows = [[plotly_text(name), *(str(int(v)) if i == 0 and table.counted and not isinstance(v, str) else fmt(v)
                                  for i, v in enumerate(values))]
            for name, values in table.rows]
    columns = [list(column) for column in zip(*rows)] if rows else [[] for _ in header]
    trace = {"type": "table", "columnwidth": [3] + [1] * (len(header) - 1),
             "header": {"values": [f"<b>{h}</b>" for h in header], "fill": {"color": "#22252b"},
                        "font": {"color": "#d8d9da", "size": 12}, "align": "left", "line": {"color": GRID}},
             "cells": {"values": columns, "fill": {"color": "#181b1f"}, "font": {"color": "#ccccdc", "size": 12},
                       "align": "left", "line": {"color": GRID}, "height": 24}}
    layout = {"height": panel.height * ROW_PIXELS, "margin": {"l": 4, "r": 4, "t": 4, "b": 4},
              "paper_bgcolor": "#181b1f"}
    return {"data": [trace], "layout": layout, "kind": "table"}


HEATMAP_COLOURS = [[0.0, "#5c2a0a"], [0.25, "#8a410d"], [0.5, "#c15c17"], [0.75, "#ef843c"], [1.0, "#fde0b5"]]


def bucket_label(bound: float, unit: str) -> str:
    """A heatmap row: the bucket's upper bound, as Grafana labels ``le``."""
    return "+Inf" if not np.isfinite(bound) else "≤ " + format_number(bound, unit)


def _heatmap_traces(panel: PanelSpec, maps: Sequence[Heatmap], t0: float) -> list[dict[str, Any]]:
    """One plotly heatmap per histogram: columns are steps, rows buckets, colour observations per second;
    cells with no observation stay blank (the panel's background), as in Grafana."""
    traces = []
    for index, heat in enumerate(maps):
        rates = np.where(heat.counts > 0, heat.rates, np.nan)
        rows = [bucket_label(b, panel.unit) for b in heat.bounds.tolist()]
        if len(maps) > 1:
            rows = [f"{heat.name} {r}" for r in rows]
        traces.append({
            "type": "heatmap", "name": plotly_text(heat.name), "xs": _offsets(heat.times, t0), "y": rows,
            "z": [_values(row) for row in rates], "colorscale": HEATMAP_COLOURS, "zmin": 0, "hoverongaps": False,
            "showscale": index == 0, "colorbar": {"title": {"text": "/s", "side": "right"}, "thickness": 10,
                                                  "outlinewidth": 0, "tickfont": {"size": 10}},
            "xgap": 1, "ygap": 1,
            "hovertemplate": "%{y}<br>%{z:,.3~r} observations/s<extra>" + plotly_text(heat.name) + "</extra>",
        })
    return traces


def _heatmap_figure(panel: PanelData, maps: Sequence[Heatmap], t0: float) -> dict[str, Any]:
    layout = _axis_layout(panel.spec, [])
    layout["hovermode"] = "closest"
    layout["yaxis"] = {"type": "category", "gridcolor": GRID, "zeroline": False, "automargin": True,
                       "tickfont": {"size": 10}}
    layout["margin"] = {**layout["margin"], "l": 64}
    return {"data": _heatmap_traces(panel.spec, maps, t0), "layout": layout, "kind": "time"}


def _findings_timeline(panel: PanelSpec, lines: Sequence[Line], t0: float) -> dict[str, Any]:
    layout = _axis_layout(panel, lines)
    layout["yaxis"] = {"tickvals": [1, 2, 3], "ticktext": ["info", "warning", "critical"], "range": [0.5, 3.5],
                       "gridcolor": GRID, "zeroline": False}
    layout["hovermode"] = "closest"
    layout["showlegend"] = False
    traces = []
    for line in lines:
        severity = line.hover[0].split(":", 1)[0] if line.hover else "info"
        trace = _trace(line, "", t0, SEVERITY_COLOURS.get(severity, "#8e8e9e"))
        trace.update(mode="lines+markers", line={"width": 8, "color": SEVERITY_COLOURS.get(severity, "#8e8e9e")},
                     text=[plotly_text(h) for h in line.hover], hovertemplate="%{text}<extra>%{fullData.name}</extra>")
        traces.append(trace)
    return {"data": traces, "layout": layout, "kind": "time"}


def _cell(panel: PanelData) -> str:
    spec = panel.spec
    unit = f'<span class="muted">{esc(spec.unit.replace("_", " "))}</span>' if spec.unit else ""
    desc = f' title="{esc(spec.description)}"' if spec.description else ""
    return (f'<section class="panel" id="{panel.anchor}" style="grid-column: span {panel.columns}"{desc}>'
            f'<div class="ptitle">{esc(spec.title)} {unit}<span class="scope"></span></div>'
            f'<div class="plot" id="{panel.div}"></div></section>')


def _figure(panel: PanelData, lines: Sequence[Line], stat: float | None, table: TableData | None,
            t0: float, maps: Sequence[Heatmap] = ()) -> dict[str, Any]:
    """The plotly figure of a panel's lines or heatmaps (all of them, or a picker's variant)."""
    spec = panel.spec
    if spec.type == "heatmap":
        return _heatmap_figure(panel, maps, t0)
    if spec.type == "stat" and stat is not None:
        return _stat_figure(spec, lines, stat, t0, panel.thresholds)
    if spec.type == "table" and table is not None:
        return _table_figure(spec, table)
    if any(series.source == "findings" for series in spec.series):
        return _findings_timeline(spec, lines, t0)
    return {"data": [_trace(line, spec.unit, t0) for line in lines],
            "layout": _axis_layout(spec, lines, panel.thresholds), "kind": "time"}


def render_dashboard(dashboard: DashboardData, t0: float, findings_block: str, link_base: str = "") -> DashboardHtml:
    """One dashboard of the report model as HTML cells, plotly figures and flame graph documents."""
    out = DashboardHtml("")
    parts: list[str] = []
    for row in dashboard.rows:
        cells: list[str] = []
        for panel in row.panels:
            spec = panel.spec
            if spec.type == "findings":
                cells.append(f'<section class="panel findings" id="{panel.anchor}" style="grid-column: span '
                             f'{panel.columns}"><div class="ptitle">{esc(spec.title)}</div>{findings_block}</section>')
                findings_block = ""  # the findings are listed once, in the first findings panel
                continue
            if panel.flame is not None:
                cells.append(flame_panel_html(panel.flame, spec.title, panel.anchor, panel.columns, link_base))
                out.flames.append(panel.flame)
                continue
            figure = _figure(panel, panel.lines, panel.stat, panel.table, t0, panel.heatmaps)
            if panel.variants:  # the picker's choices: only the traces change (layout, range, shading stay)
                figure["variants"] = {key: [] if v.empty else _figure(panel, v.lines, v.stat, v.table, t0,
                                                                        v.heatmaps)["data"]
                                      for key, v in panel.variants.items()}
            figure["div"] = panel.div
            out.figures.append(figure)
            cells.append(_cell(panel))
        if cells:
            parts.append(f'<h3 class="row">{esc(row.title)}</h3><div class="grid">{"".join(cells)}</div>')
    if dashboard.missing:
        parts.append(f'<div class="missing">No data in this capture for: {esc(", ".join(dashboard.missing))}.</div>')
    out.html = "".join(parts)
    out.findings_left = findings_block
    return out
