"""The HTML report: findings on top, YAML dashboards (per target or per capture), flame graphs, one offline file.

It draws a :class:`~profkit.render.report_model.Report` and reads nothing else. plotly is
imported here lazily (only when a report is written): plotly.js is inlined once; the figures,
flame graphs and annotations travel as one escaped JSON document drawn by ``assets/report.js``,
so the file opens with no network.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

from profkit.fileio import atomic_write
from profkit.render.dashboard_html import render_dashboard
from profkit.render.page import clock, esc, events_html, findings_html, render_page
from profkit.render.report_model import Annotation, EvidenceLink, LegendEntry, Report

def _meta(report: Report) -> str:
    start, end = report.time_range
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start)) if start else "?"
    findings = report.all_findings()
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("critical", "warning", "info")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings"
    return esc(f"{report.directory} · capture {report.status} · started {started} · {end - start:.0f} s · {summary}")


def link_html(link: EvidenceLink, index: int) -> str:
    """One evidence link of finding ``index`` as an anchor the page script follows."""
    if link.kind == "panel":
        return f'<a href="#{link.anchor}">{esc(link.label)}</a>'
    if link.kind == "profile-window":
        return (f'<a href="#{link.anchor}" data-flame="{esc(link.flame_div)}" data-window="{esc(link.window_path)}">'
                f"{esc(link.label)} {esc(clock(link.start))}</a>")
    if link.kind == "zoom":  # data-zoom: unix seconds; report.js turns them into the panels' x range
        return (f'<a href="#top" data-zoom="{link.start:.3f},{link.end:.3f}">{esc(link.label)} '
                f"{esc(clock(link.start))}–{esc(clock(link.end))}</a>")
    return f'<a href="#finding-{index}-log{link.log_index}">{esc(link.label)}</a>'


def links_html(links: Sequence[EvidenceLink], index: int) -> str:
    return ("evidence: " + "".join(link_html(link, index) for link in links)) if links else ""


def annotation_json(annotation: Annotation) -> dict[str, Any]:
    out: dict[str, Any] = {"start": annotation.start}
    if annotation.end is not None:
        out.update(end=annotation.end, colour=annotation.colour, opacity=0.05)
    else:
        out["colour"] = annotation.colour
    out.update(mark=esc(annotation.mark), text=esc(annotation.text))
    return out


def _toolbar(report: Report, sections: Sequence[tuple[str, str, str]]) -> str:
    buttons = "".join(f'<button type="button" data-range="{seconds}" title="{"the whole capture" if not seconds else ""}">'
                      f'{"all" if not seconds else "last " + label}</button>' for label, seconds in report.time_ranges)
    nav = "".join(f'<a href="#{anchor}" data-target="{esc(target)}">{esc(title)}</a>'
                  for anchor, title, target in sections)
    picker = ""
    if len(report.picker) > 1:
        options = "".join(f'<option value="{esc(e.key)}">{"&nbsp;&nbsp;" if e.pod else ""}{esc(e.label)}</option>'
                          for e in report.picker)
        picker = (f'<label class="picker"><span class="label">show</span><select id="picker" aria-label="controller or pod">'
                  f'<option value="">all controllers and pods</option>{options}</select></label>')
    return (f'<div class="toolbar">{picker}<span class="label">time range</span>{buttons}</div>'
            f'<nav class="dashboards">{nav}<a href="#capture-events">capture events</a></nav>')


def legend_html(entries: Sequence[LegendEntry]) -> str:
    """What the shading and dotted lines on the time panels mean (only the kinds this report has)."""
    if not entries:
        return ""
    items = "".join(
        f'<span class="entry"><span class="{"band" if e.band else "tick"}" style="--mark:{esc(e.colour)}"></span>'
        f'<span style="color:{esc(e.colour)}">{esc(e.mark)}</span> {esc(e.text)}</span>' for e in entries)
    return f'<div class="legend" id="marks-legend"><span class="label">on the time panels</span>{items}</div>'


def report_html(report: Report, link_base: str = "") -> str:
    """The whole page for ``report``; ``link_base`` prefixes the raw profile links (the bundle, seen from the page)."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    findings = report.all_findings()
    block = findings_html(findings, [links_html(f.links, i) for i, f in enumerate(report.findings)])
    left = block
    body: list[str] = []
    sections: list[tuple[str, str, str]] = []
    figures: list[dict[str, Any]] = []
    flames: list[dict[str, Any]] = []
    for dashboard in report.dashboards:
        rendered = render_dashboard(dashboard, report.t0, left, link_base)
        left = rendered.findings_left
        target = dashboard.target
        heading = esc(dashboard.title) + (f' <span class="muted">{esc(target)}</span>' if target else "")
        body.append(f'<section class="dashboard" data-target="{esc(target or "")}">'
                    f'<h2 class="dash" id="{dashboard.anchor}">{heading}</h2>{rendered.html}</section>')
        sections.append((dashboard.anchor, dashboard.title + (f" · {target}" if target else ""), target or ""))
        figures += rendered.figures
        flames += [f.to_json() for f in rendered.flames]
    html_body = "\n".join(body)
    if left:  # no dashboard has a findings panel: the findings go on top
        html_body = f'<h2 class="dash" id="findings">Findings</h2><section class="panel findings">{block}</section>' \
                    + html_body
    if not body:
        html_body += '<p class="muted">No metrics, objects or profiles captured.</p>'
    html_body += ('<h2 class="dash" id="capture-events">Capture errors and gaps</h2>' + events_html(report.events))
    data = {"template": pio.templates["plotly_dark"].to_plotly_json(), "t0": report.t0, "t1": report.data_end,
            "figures": figures, "flames": flames, "annotations": [annotation_json(a) for a in report.annotations],
            "picker": [{"key": e.key, "target": e.target, "pod": e.pod, "label": e.label} for e in report.picker]}
    name = report.directory.name if report.directory is not None else ""
    return render_page(title=f"profkit report: {name}", meta=_meta(report), toolbar=_toolbar(report, sections) + legend_html(report.legend),
                       body=html_body, data=data, plotly_js=get_plotlyjs())


def write_report(report: Report, path: Path | str) -> Path:
    """Write the self-contained HTML page of ``report`` to ``path`` (atomically) and return the path."""
    out = Path(path)
    link_base = ""
    if report.directory is not None:
        bundle_dir = os.path.relpath(report.directory.resolve(), out.resolve().parent)
        link_base = "" if bundle_dir == "." else Path(bundle_dir).as_posix() + "/"  # raw profile links
    atomic_write(out, report_html(report, link_base))
    return out
