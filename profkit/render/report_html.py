"""The HTML report: findings, per-target metric panels and flame graphs as one self-contained file.

plotly is imported here lazily (only when a report is written): plotly.js is inlined once, the
figures are embedded as one escaped JSON document and drawn by a few lines of page script, so the
file opens with no network. Panels are data (:class:`PanelSpec`), so YAML dashboards can replace
the built-in list (``write_report(..., dashboard=[...])``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from profkit.bundle.reader import BundleView
from profkit.model import Finding, Series
from profkit.render.page import esc, events_html, findings_html, render_page

SCATTERGL_FROM = 500  # points per trace from which WebGL is used
LEGEND_SKIP = {"source"}


@dataclass(frozen=True)
class PanelSpec:
    """One time-series panel: metrics drawn, as rate or gauge, scaled, legend by labels."""

    title: str
    metrics: tuple[str, ...]
    rate: bool = False
    unit: str = ""  # y-axis title
    scale: float = 1.0
    legend: tuple[str, ...] = ()  # labels shown in the legend (instance is added when several)
    dashed: tuple[str, ...] = ()  # metrics drawn dashed (limits: max workers)


DEFAULT_PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("CPU (cores)", ("process_cpu_seconds_total",), rate=True, unit="cores", legend=("source",)),
    PanelSpec("Memory (resident)", ("process_resident_memory_bytes",), unit="MiB", scale=1 / 2**20,
              legend=("source",)),
    PanelSpec("Reconcile rate by result", ("controller_runtime_reconcile_total",), rate=True, unit="per s",
              legend=("controller", "result")),
    PanelSpec("Reconcile errors", ("controller_runtime_reconcile_errors_total",), rate=True, unit="per s",
              legend=("controller",)),
    PanelSpec("Active workers vs max", ("controller_runtime_active_workers",
                                        "controller_runtime_max_concurrent_reconciles"),
              unit="workers", legend=("controller",), dashed=("controller_runtime_max_concurrent_reconciles",)),
    PanelSpec("Workqueue depth", ("workqueue_depth",), unit="items", legend=("name",)),
    PanelSpec("Workqueue adds", ("workqueue_adds_total",), rate=True, unit="per s", legend=("name",)),
    PanelSpec("Workqueue retries", ("workqueue_retries_total",), rate=True, unit="per s", legend=("name",)),
    PanelSpec("REST client requests", ("rest_client_requests_total",), rate=True, unit="per s",
              legend=("method", "code")),
    PanelSpec("Goroutines", ("go_goroutines",), unit="goroutines"),
    PanelSpec("Go heap (alloc)", ("go_memstats_heap_alloc_bytes",), unit="MiB", scale=1 / 2**20),
)


def _label(series: Series, spec: PanelSpec, several_instances: bool) -> str:
    parts = [f"{series.labels[k]}" for k in spec.legend if k in series.labels and k not in LEGEND_SKIP]
    parts += [f"{k}={series.labels[k]}" for k in spec.legend if k in series.labels and k in LEGEND_SKIP]
    if len(spec.metrics) > 1:
        parts.insert(0, series.name.removeprefix("controller_runtime_"))
    if several_instances and series.instance:
        parts.insert(0, series.instance)
    return " ".join(parts) or series.name


def _trace(series: Series, spec: PanelSpec, several_instances: bool) -> dict[str, Any] | None:
    points = series.rate() if spec.rate else series.points
    if not points:
        return None
    return {
        "type": "scattergl" if len(points) >= SCATTERGL_FROM else "scatter",
        "mode": "lines",
        "name": esc(_label(series, spec, several_instances)),
        "x": [round(t * 1000) for t, _ in points],
        "y": [float(f"{v * spec.scale:.6g}") for _, v in points],  # 6 digits: a screen has fewer pixels
        "line": {"width": 1.5, "dash": "dash" if series.name in spec.dashed else "solid"},
        "hovertemplate": "%{y:.4g}",
    }


def _time_layout(title: str, unit: str) -> dict[str, Any]:
    return {
        "title": {"text": esc(title), "font": {"size": 14}},
        "hovermode": "x unified",
        "xaxis": {"type": "date", "showspikes": True, "spikemode": "across", "spikethickness": 1},
        "yaxis": {"title": {"text": esc(unit)}, "rangemode": "tozero"},
        "margin": {"l": 56, "r": 12, "t": 36, "b": 36},
        "height": 290,
        "legend": {"orientation": "h", "y": -0.2, "font": {"size": 10}},
        "paper_bgcolor": "#181b1f",
        "plot_bgcolor": "#181b1f",
    }


def metric_figures(view: BundleView, target: str, panels: Sequence[PanelSpec]) -> list[dict[str, Any]]:
    """The time-series figures of one target that have data, in panel order."""
    figures: list[dict[str, Any]] = []
    for spec in panels:
        series = [s for metric in spec.metrics for s in view.series(metric, target=target)]
        several = len({s.instance for s in series}) > 1
        traces = [t for t in (_trace(s, spec, several) for s in series) if t is not None]
        if traces:
            figures.append({"data": traces, "layout": _time_layout(spec.title, spec.unit), "time": True})
    return figures


def report_targets(view: BundleView) -> list[str]:
    """Targets with anything to show: declared ones, then any seen only in profiles or metrics."""
    names = [t.name for t in view.targets()]
    for extra in sorted({r.target for r in view.profile_refs()} | {s.target for s in view.series("process_cpu_seconds_total")}):
        if extra and extra not in names:
            names.append(extra)
    return names


def _meta(view: BundleView, findings: Sequence[Finding]) -> str:
    start, end = view.time_range()
    clock = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start)) if start else "?"
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("critical", "warning", "info")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings"
    return esc(f"{view.directory} · capture {view.status} · started {clock} · {end - start:.0f} s · {summary}")


def write_report(view: BundleView, findings: Sequence[Finding], path: Path | str, *,
                 dashboard: Sequence[PanelSpec] | None = None) -> Path:
    """Write the self-contained HTML report for ``view`` and return its path."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    from profkit.analyze.cpu_profiles import cpu_profiles
    from profkit.render.icicle import icicle_figure

    panels = tuple(dashboard) if dashboard is not None else DEFAULT_PANELS
    flames = {cpu.target: cpu for cpu in cpu_profiles(view)}
    figures: list[dict[str, Any]] = []
    body: list[str] = ["<h2>Findings</h2>", findings_html(findings)]
    for number, target in enumerate(report_targets(view)):
        body.append(f"<h2>Target <code>{esc(target)}</code></h2>")
        target_figures = metric_figures(view, target, panels)
        cpu = flames.get(target)
        if not target_figures and cpu is None:
            body.append('<p class="muted">No metrics or CPU profiles captured for this target.</p>')
            continue
        cells: list[str] = []
        for index, figure in enumerate(target_figures):
            figure["div"] = f"p{number}-{index}"
            cells.append(f'<div class="panel" id="{figure["div"]}"></div>')
        if cpu is not None:
            seconds = cpu.cpu_seconds
            title = (f"CPU flame graph, {len(cpu.windows)} window(s) merged, {seconds:.1f} s of CPU"
                     + (" (estimated from samples)" if cpu.seconds_estimated else ""))
            flame = icicle_figure(cpu.profile, title, unit_seconds=cpu.seconds_per_unit)
            flame["div"] = f"f{number}"
            target_figures.append(flame)
            cells.append(f'<div class="panel wide" id="{flame["div"]}"></div>')
            if cpu.skipped:
                body.append('<p class="muted">Unreadable profile files skipped: '
                            + ", ".join(f"<code>{esc(r.path)}</code>" for r in cpu.skipped) + "</p>")
        body.append(f'<div class="grid">{"".join(cells)}</div>')
        figures.extend(target_figures)
    body.append("<h2>Capture errors and gaps</h2>")
    body.append(events_html(e for e in view.events() if e.kind != "info"))
    template = pio.templates["plotly_dark"].to_plotly_json()
    page = render_page(title=f"profkit report: {view.directory.name}", meta=_meta(view, findings),
                       body="\n".join(body), figures=figures, template=template, plotly_js=get_plotlyjs())
    out = Path(path)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
