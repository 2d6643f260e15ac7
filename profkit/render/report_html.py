"""The HTML report: findings on top, YAML dashboards (per target or per capture), flame graphs, one offline file.

plotly is imported here lazily (only when a report is written): plotly.js is inlined once; the
figures, flame graphs and annotations travel as one escaped JSON document drawn by
``assets/report.js``, so the file opens with no network.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

from profkit.analyze import evidence_sources
from profkit.bundle.reader import BundleView
from profkit.model import CaptureEvent, Finding
from profkit.render.dashboard_html import DrawnPanel, render_dashboard
from profkit.render.dashboard_spec import DEFAULT_DASHBOARDS, DashboardSpec, builtin_dashboards
from profkit.render.page import SEVERITY_COLOURS, esc, events_html, findings_html, render_page
from profkit.render.panel_data import finding_window

FINDINGS_PLACEHOLDER = "<!--profkit-findings-->"  # bundle text is escaped, so it can never produce this
RANGES = (("5m", 300), ("15m", 900), ("1h", 3600), ("6h", 21600), ("all", 0))
ANNOTATED = {"restart": ("#f2495c", "↻"), "rollout": ("#b877d9", "⇪"), "gap": ("#fade2a", "gap"),
             "pod-added": ("#73bf69", "+"), "pod-removed": ("#ff9830", "−"), "error": ("#f2495c", "!")}
MAX_ANNOTATIONS = 150


def report_targets(view: BundleView) -> list[str]:
    """Targets with anything to show: declared ones, then any seen only in profiles or metrics."""
    names = [t.name for t in view.targets()]
    seen = {r.target for r in view.profile_refs()} | {i["target"] for i in view.instances()}
    names += sorted(t for t in seen if t and t not in names)
    return names


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def _meta(view: BundleView, findings: Sequence[Finding]) -> str:
    start, end = view.time_range()
    clock = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start)) if start else "?"
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("critical", "warning", "info")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings"
    return esc(f"{view.directory} · capture {view.status} · started {clock} · {end - start:.0f} s · {summary}")


def evidence_links(finding: Finding, index: int, drawn: Sequence[DrawnPanel], capture: tuple[float, float]) -> str:
    """Links from a finding to the panels, profile windows, time window and log lines behind it."""
    sources = evidence_sources(finding.id)
    wanted = set(sources.series) | set(finding.series) | ({"logs"} if sources.logs else set())
    mine = [p for p in drawn if p.target is None or not finding.target or p.target == finding.target]
    links: list[str] = []
    for panel in mine:
        if panel.flame is None and wanted & set(panel.metrics):
            links.append(f'<a href="#{panel.anchor}">{esc(panel.title)}</a>')
    kind = sources.profile_kind
    for panel in mine:
        flame = panel.flame
        if flame is None:
            continue
        paths = [p for p in set(finding.profiles) if any(p in w["paths"] for w in flame.windows[1:])]
        if kind == flame.kind or (kind == "cpu" and flame.kind == "wall") or paths:
            links.append(f'<a href="#{panel.anchor}">{esc(panel.title)}</a>')
        shown: set[float] = set()  # one link per window of the picker (it may hold several pods' files)
        for path in sorted(paths):
            start = next(w["start"] for w in flame.windows[1:] if path in w["paths"])
            if start in shown or len(shown) >= 8:
                continue
            shown.add(start)
            links.append(f'<a href="#{panel.anchor}" data-flame="{esc(flame.div)}" data-window="{esc(path)}">'
                         f"profile window {esc(_clock(start))}</a>")
    start, end, from_evidence = finding_window(finding, capture)
    if from_evidence:
        links.append(f'<a href="#top" data-zoom="{start:.3f},{end:.3f}">zoom to {esc(_clock(start))}–'
                     f"{esc(_clock(end))}</a>")
    links += [f'<a href="#finding-{index}-log{i}">log line {i + 1}</a>' for i in range(min(len(finding.log_samples), 5))]
    return ("evidence: " + "".join(links)) if links else ""


def time_annotations(view: BundleView, findings: Sequence[Finding], t0: float) -> list[dict[str, Any]]:
    """Marks on every time panel: restarts, rollouts, gaps, pods added/removed, errors, finding windows."""
    out: list[dict[str, Any]] = []
    events: list[CaptureEvent] = [e for e in view.events() if e.kind in ANNOTATED]
    # Restarts, rollouts, gaps and pod changes first; collector errors (often many) fill what is left.
    events = sorted(events, key=lambda e: e.kind == "error")[:MAX_ANNOTATIONS]
    for event in events:
        colour, mark = ANNOTATED[event.kind]
        text = f"{event.kind} {event.target} {event.instance}: {event.message}"[:300]
        out.append({"start": round(event.ts - t0, 2), "colour": colour, "mark": esc(mark), "text": esc(text)})
    capture = view.time_range()
    for finding in findings:
        start, end, from_evidence = finding_window(finding, capture)
        if from_evidence:
            colour = SEVERITY_COLOURS.get(finding.severity, "#8e8e9e")
            out.append({"start": round(start - t0, 2), "end": round(end - t0, 2), "colour": colour,
                        "opacity": 0.05, "mark": "⚑", "text": esc(f"{finding.id}: {finding.title}"[:300])})
    return out


def _data_end(figures: Sequence[dict[str, Any]], default: float) -> float:
    """The last time any time panel has data (a killed capture's ``ended`` can lie), in seconds from t0."""
    ends = [trace["xs"][-1] for f in figures if f.get("kind") == "time" for trace in f["data"] if trace.get("xs")]
    return float(max(ends)) if ends else default


def _toolbar(sections: Sequence[tuple[str, str]]) -> str:
    buttons = "".join(f'<button type="button" data-range="{seconds}">{label}</button>' for label, seconds in RANGES)
    nav = "".join(f'<a href="#{anchor}">{esc(title)}</a>' for anchor, title in sections)
    return (f'<div class="toolbar"><span class="label">time range</span>{buttons}</div>'
            f'<nav class="dashboards">{nav}<a href="#capture-events">capture events</a></nav>')


def write_report(view: BundleView, findings: Sequence[Finding], path: Path | str, *,
                 dashboards: Sequence[DashboardSpec] | None = None) -> Path:
    """Write the self-contained HTML report for ``view`` and return its path."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    if dashboards is None:
        builtin = builtin_dashboards()
        dashboards = [builtin[name] for name in DEFAULT_DASHBOARDS]
    t0, t1 = view.time_range()
    targets = report_targets(view)
    out = Path(path)
    bundle_dir = os.path.relpath(view.directory.resolve(), out.resolve().parent)
    link_base = "" if bundle_dir == "." else Path(bundle_dir).as_posix() + "/"  # raw profile links
    body: list[str] = []
    sections: list[tuple[str, str]] = []
    figures: list[dict[str, Any]] = []
    flames: list[dict[str, Any]] = []
    drawn: list[DrawnPanel] = []
    used_findings = False

    def findings_block() -> str:
        nonlocal used_findings
        used_findings = True
        return FINDINGS_PLACEHOLDER

    number = 0
    for dashboard in dashboards:
        for target in ([None] if dashboard.scope == "capture" else targets):
            rendered = render_dashboard(view, dashboard, target, number, findings, t0, findings_block, link_base)
            anchor = f"d{number}"
            number += 1
            if not rendered.figures and not rendered.flames and FINDINGS_PLACEHOLDER not in rendered.html:
                continue
            heading = esc(dashboard.title) + (f' <span class="muted">{esc(target)}</span>' if target else "")
            body.append(f'<h2 class="dash" id="{anchor}">{heading}</h2>{rendered.html}')
            sections.append((anchor, dashboard.title + (f" · {target}" if target else "")))
            figures += rendered.figures
            flames += [f.to_json() for f in rendered.flames]
            drawn += rendered.drawn
    capture = view.time_range()
    links = [evidence_links(f, i, drawn, capture) for i, f in enumerate(findings)]
    block = findings_html(findings, links)
    html_body = "\n".join(body)
    if used_findings:
        html_body = html_body.replace(FINDINGS_PLACEHOLDER, block, 1).replace(FINDINGS_PLACEHOLDER, "")
    else:
        html_body = f'<h2 class="dash" id="findings">Findings</h2><section class="panel findings">{block}</section>' \
                    + html_body
    if not body:
        html_body += '<p class="muted">No metrics, objects or profiles captured.</p>'
    html_body += ('<h2 class="dash" id="capture-events">Capture errors and gaps</h2>'
                  + events_html(e for e in view.events() if e.kind != "info"))
    data = {"template": pio.templates["plotly_dark"].to_plotly_json(), "t0": t0, "t1": _data_end(figures, t1 - t0),
            "figures": figures, "flames": flames, "annotations": time_annotations(view, findings, t0)}
    page = render_page(title=f"profkit report: {view.directory.name}", meta=_meta(view, findings),
                       toolbar=_toolbar(sections), body=html_body, data=data, plotly_js=get_plotlyjs())
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
