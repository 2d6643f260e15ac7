"""The HTML comparison report: verdict, metric table, both runs on shared axes, grown functions, diff flame graph.

Time panels put BASE and NEW on one x axis, seconds since each capture started, so the runs line
up however far apart they were taken. The differential flame graph is ``render.flame_diff``'s
SVG (the one ``profkit flame --diff`` writes), each in its own ``iframe srcdoc`` so that its
script finds its own SVG. plotly is imported lazily, only for plotly.js itself; figures are plain
JSON drawn by a few lines of page script.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Sequence

from profkit.analyze.metrics_math import summed_gauge, summed_rate
from profkit.bundle.reader import BundleView
from profkit.compare.format import format_change, format_p, format_value
from profkit.compare.gate import GateResult
from profkit.analyze.usage_source import one_source
from profkit.compare.model import Comparison, TargetComparison
from profkit.fileio import atomic_write
from profkit.model import Series
from profkit.render.page import esc, render_page
from profkit.model.metric_names import (
    GO_GOROUTINES, PROCESS_CPU_SECONDS, PROCESS_RESIDENT_MEMORY, RECONCILE_TOTAL,
    REST_CLIENT_REQUESTS, WORKQUEUE_DEPTH, WORKQUEUE_RETRIES_TOTAL,
)

DIFF_WIDTH = 1200  # the SVG's own width; the page scales it to the iframe's
DIFF_FRAME_CSS = "html,body{margin:0;background:#181b1f;overflow:hidden}svg{display:block;width:100%;height:auto}"
RUN_COLOURS = {"BASE": "#8ab8ff", "NEW": "#ff9830"}
STATUS_COLOURS = {"regressed": "#f2495c", "improved": "#73bf69", "changed": "#fade2a", "untested": "#8e8e9e",
                  "missing": "#8e8e9e", "unchanged": "#ccccdc"}
FINDING_COLOURS = {"new": "#f2495c", "grown": "#f2495c", "persisting": "#ccccdc", "reduced": "#73bf69",
                   "resolved": "#73bf69"}

# (title, metric, rate?, scale, unit, label filter)
PANELS: tuple[tuple[str, str, bool, float, str, dict[str, tuple[str, ...]]], ...] = (
    ("CPU", PROCESS_CPU_SECONDS, True, 1.0, "cores", {}),
    ("Memory (resident)", PROCESS_RESIDENT_MEMORY, False, 1 / 2**20, "MiB", {}),
    ("Reconciles", RECONCILE_TOTAL, True, 1.0, "per s", {}),
    ("Requeues", RECONCILE_TOTAL, True, 1.0, "per s", {"result": ("requeue", "requeue_after")}),
    ("Reconcile errors", RECONCILE_TOTAL, True, 1.0, "per s", {"result": ("error",)}),
    ("Workqueue depth", WORKQUEUE_DEPTH, False, 1.0, "items", {}),
    ("Workqueue retries", WORKQUEUE_RETRIES_TOTAL, True, 1.0, "per s", {}),
    ("REST client requests", REST_CLIENT_REQUESTS, True, 1.0, "per s", {}),
    ("Goroutines", GO_GOROUTINES, False, 1.0, "goroutines", {}),
)

PAGE_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("compare-data").textContent);
  var layout = function (f) {
    return {title: {text: f.title, font: {size: 14}}, template: data.template, hovermode: "x unified",
            paper_bgcolor: "#181b1f", plot_bgcolor: "#181b1f", height: 280,
            margin: {l: 56, r: 12, t: 36, b: 40}, legend: {orientation: "h", y: -0.25},
            xaxis: {title: {text: "seconds since capture start"}, range: data.xrange},
            yaxis: {title: {text: f.unit}, rangemode: "tozero"}};
  };
  data.figures.forEach(function (f) {
    Plotly.newPlot(f.div, f.traces, layout(f), data.config);
  });
})();
"""

EXTRA_CSS = """
table.cmp { border-collapse: collapse; margin: 6px 0 14px; }
table.cmp td, table.cmp th { border-bottom: 1px solid #2c3235; padding: 3px 10px; text-align: left; }
table.cmp td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-size: 15px; padding: 8px 12px; margin: 10px 0; border-left: 4px solid var(--sev); background: #181b1f; }
.grid2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 10px; }
.grid2 > .panel:last-child:nth-child(odd) { grid-column: 1 / -1; }  /* no empty half-row at the end */
@media (min-width: 1500px) {
  .grid2 { grid-template-columns: repeat(3, minmax(0, 1fr)); }
  .grid2 > .panel:last-child:nth-child(odd) { grid-column: auto; }
  .grid2 > .panel:last-child:nth-child(3n+1) { grid-column: 1 / -1; }
  .grid2 > .panel:last-child:nth-child(3n+2) { grid-column: span 2; }
}
@media (max-width: 900px) { .grid2 { grid-template-columns: minmax(0, 1fr); } }
.panel { background: #181b1f; border: 1px solid #2c3235; }
iframe.flame { display: block; width: 100%; height: auto; border: 1px solid #2c3235; background: #181b1f; }
.muted { color: #8e8e9e; }
"""


def _matching(series: Sequence[Series], labels: dict[str, tuple[str, ...]]) -> list[Series]:
    return [s for s in series if all(s.labels.get(k) in v for k, v in labels.items())]


def _trace(points: list[tuple[float, float]], start: float, scale: float, run: str) -> dict[str, Any]:
    return {"type": "scatter", "mode": "lines", "name": run,
            "x": [round(t - start, 2) for t, _ in points], "y": [float(f"{v * scale:.6g}") for _, v in points],
            "line": {"color": RUN_COLOURS[run], "width": 1.6, "dash": "dot" if run == "BASE" else "solid"},
            "hovertemplate": "%{y:.4g}"}


def time_figures(base: BundleView, new: BundleView, target: str, prefix: str) -> list[dict[str, Any]]:
    """One figure per panel with data in either run: BASE and NEW as two traces on the same axes."""
    figures: list[dict[str, Any]] = []
    for number, (title, metric, rate, scale, unit, labels) in enumerate(PANELS):
        traces = []
        for run, view in (("BASE", base), ("NEW", new)):
            # One process reported by /metrics and psutil is one value: the same choice as the table's.
            series = one_source(_matching(view.series(metric, target=target), labels))
            if not series:
                continue
            points = summed_rate(series) if rate else summed_gauge(series)
            if points:
                traces.append(_trace(points, view.time_range()[0], scale, run))
        if traces:
            figures.append({"div": f"{prefix}-{number}", "title": title, "unit": unit, "traces": traces})
    return figures


def _metric_table(t: TargetComparison) -> str:
    rows = []
    for m in t.metrics:
        colour = STATUS_COLOURS.get(m.status, "#ccccdc")
        status = m.status + (f" ({m.severity})" if m.severity else "")
        rows.append(
            f"<tr><td title=\"{esc(m.metric.description)}\">{esc(m.metric.title)} <span class=\"muted\">"
            f"{esc(m.metric.id)}</span></td><td class=\"num\">{esc(format_value(m.base.value, m.metric.unit))}</td>"
            f"<td class=\"num\">{esc(format_value(m.new.value, m.metric.unit))}</td>"
            f"<td class=\"num\">{esc(format_change(m.relative, m.change, m.metric.unit))}</td>"
            f"<td class=\"num\">{esc(format_p(m.p_value))}</td>"
            f"<td class=\"num\">{len(m.base.samples)} / {len(m.new.samples)}</td>"
            f"<td style=\"color:{colour}\" title=\"{esc(m.reason)}\">{esc(status)}</td></tr>")
    head = ("<tr><th>metric</th><th>BASE</th><th>NEW</th><th>change</th><th>p</th><th>windows</th>"
            "<th>status</th></tr>")
    return f'<table class="cmp">{head}{"".join(rows)}</table>'


def _functions_table(t: TargetComparison) -> str:
    if not t.functions:
        return '<p class="muted">No function grew noticeably (or a run has no CPU profiles).</p>'
    per = t.normalised_per or "reconcile"
    rows = "".join(
        f"<tr><td><code>{esc(f.function)}</code></td><td class=\"num\">{esc(format_value(f.base_self, 'seconds'))}"
        f"</td><td class=\"num\">{esc(format_value(f.new_self, 'seconds'))}</td>"
        f"<td class=\"num\">+{esc(format_value(f.growth, 'seconds'))}</td>"
        f"<td class=\"num\">{f.base_share:.1%} → {f.new_share:.1%}</td>"
        f"<td>{' ← '.join(f'<code>{esc(x)}</code>' for x in f.called_from if x != f.function)}</td></tr>"
        for f in t.functions)
    head = (f"<tr><th>function</th><th>BASE self / {esc(per)}</th><th>NEW self / {esc(per)}</th><th>growth</th>"
            "<th>self share</th><th>called from</th></tr>")
    return f'<table class="cmp">{head}{rows}</table>'


def _diff_flame(base: BundleView, new: BundleView, target: str) -> str:
    from profkit.analyze.cpu_profiles import cpu_profiles
    from profkit.errors import BadInput
    from profkit.render.flame_diff import render_diff_svg

    before = {c.target: c for c in cpu_profiles(base)}.get(target)
    after = {c.target: c for c in cpu_profiles(new)}.get(target)
    if before is None or after is None:
        return '<p class="muted">A run has no CPU profiles for this target: no differential flame graph.</p>'
    try:
        svg = render_diff_svg(before.profile, after.profile, title=f"{target}: BASE → NEW (CPU, shares of each total)",
                              width=DIFF_WIDTH, theme="dark")
    except BadInput as exc:
        return f'<p class="muted">No differential flame graph: {esc(exc)}</p>'
    # The SVG is scaled to the iframe's width (its viewBox keeps the zoom script's coordinates), and the iframe
    # takes the SVG's aspect ratio: it fits the page at any width, with no white margin or scroll bar.
    size = re.search(r'<svg [^>]*width="(\d+)" height="(\d+)"', svg)
    ratio = f"{size.group(1)} / {size.group(2)}" if size else "2 / 1"
    document = f"<!DOCTYPE html><style>{DIFF_FRAME_CSS}</style>{svg.split('?>', 1)[-1]}"
    return (f'<iframe class="flame" title="differential flame graph" style="aspect-ratio: {ratio}" '
            f'srcdoc="{esc(document)}"></iframe>')


def _findings_table(c: Comparison) -> str:
    if not c.findings:
        return '<p class="muted">No findings in either run.</p>'
    rows = "".join(
        f"<tr><td>{esc(f.id)}</td><td>{esc(f.target or '-')}</td>"
        f"<td style=\"color:{FINDING_COLOURS.get(f.status, '#ccccdc')}\">{esc(f.status)}</td>"
        f"<td>{esc(f.base_severity or '-')}</td><td>{esc(f.new_severity or '-')}</td><td>{esc(f.title)}</td></tr>"
        for f in c.findings)
    return ("<table class=\"cmp\"><tr><th>finding</th><th>target</th><th>status</th><th>BASE</th><th>NEW</th>"
            f"<th>title</th></tr>{rows}</table>")


def _budgets(c: Comparison) -> str:
    if not c.budgets:
        return ""
    rows = "".join(
        f"<tr><td style=\"color:{'#f2495c' if b.breached else '#73bf69'}\">{'breached' if b.breached else 'ok'}</td>"
        f"<td>{esc(b.entry.severity)}</td><td>{esc(b.message)}</td></tr>" for b in c.budgets)
    return f"<h2>Budgets</h2><table class=\"cmp\">{rows}</table>"


def _verdict(verdict: GateResult, c: Comparison) -> str:
    if verdict.reasons:
        items = "".join(f"<li>{esc(r)}</li>" for r in verdict.reasons)
        return f'<div class="verdict" style="--sev:#f2495c">FAIL (exit {verdict.exit_code})<ul>{items}</ul></div>'
    regressions = c.regressions()
    text = (f"{len(regressions)} significant regression(s), not gated (no --fail-on)" if regressions
            else "No significant regression")
    colour = "#ff9830" if regressions else "#73bf69"
    return f'<div class="verdict" style="--sev:{colour}">{esc(text)}</div>'


def render_compare_page(base: BundleView, new: BundleView, c: Comparison, verdict: GateResult) -> str:
    """The whole self-contained page as text."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    figures: list[dict[str, Any]] = []
    body = [_verdict(verdict, c), "<h2>Findings</h2>", _findings_table(c), _budgets(c)]
    for number, t in enumerate(c.targets):
        body.append(f"<h2>Target <code>{esc(t.target)}</code></h2>")
        body.append(_metric_table(t))
        target_figures = time_figures(base, new, t.target, f"t{number}")
        figures.extend(target_figures)
        # The plot is drawn in a div inside the panel box: plotly sizes its SVG to the element it draws in,
        # and on the padded, bordered box itself it spilled 9 px into the neighbouring panel.
        body.append('<div class="grid2">' + "".join(f'<div class="panel"><div class="plot" id="{f["div"]}"></div></div>'
                                                    for f in target_figures) + "</div>")
        body.append(f"<h3>Functions whose CPU per {esc(t.normalised_per or 'reconcile')} grew most</h3>")
        body.append(_functions_table(t))
        body.append("<h3>Differential flame graph (NEW's tree; red grew, blue shrank)</h3>")
        body.append(_diff_flame(base, new, t.target))
    longest = max(c.base.duration, c.new.duration)
    data = {"figures": figures, "xrange": [0, round(longest, 1)],
            "template": pio.templates["plotly_dark"].to_plotly_json()}
    clock = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(c.new.started)) if c.new.started else "?"
    meta = (f"BASE {esc(c.base.directory)} ({c.base.duration:.0f} s) → NEW {esc(c.new.directory)} "
            f"({c.new.duration:.0f} s, {esc(clock)}) · windows of {c.window_seconds:g} s · "
            f"Mann–Whitney U at p &lt; {c.alpha:g} plus a minimum effect per metric")
    title = f"profkit compare: {Path(c.base.directory).name} → {Path(c.new.directory).name}"
    return render_page(title=title, meta=meta, toolbar="", body="".join(body), data=data, plotly_js=get_plotlyjs(),
                       script=PAGE_SCRIPT, extra_css=EXTRA_CSS, data_id="compare-data")


def write_compare_report(base: BundleView, new: BundleView, c: Comparison, verdict: GateResult,
                         path: Path | str) -> Path:
    """Write the comparison report (atomically) and return its path."""
    return atomic_write(Path(path), render_compare_page(base, new, c, verdict))
