"""The report model: ``build_report(view, findings, dashboards) -> Report``, plain data every output reads.

It is the only part of the report that reads the bundle. A :class:`Report` holds, per dashboard
and target, the panels that have data with their lines (numpy arrays), stat values and flame
trees; the time annotations; and every finding with the links to the evidence it rests on
(what its analyzer declared: series, profile kind, profile windows, time window, log lines).
The HTML page (``report_html``), the Grafana export (``grafana``), the terminal table and the
JSON (``findings_output``) take a Report and nothing else, as memray's reporters take a snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from profkit.analyze import evidence_sources
from profkit.bundle.reader import BundleView
from profkit.model import CaptureEvent, Finding
from profkit.render.dashboard_spec import (
    DEFAULT_DASHBOARDS, GRID_COLUMNS, DashboardSpec, PanelSpec, Threshold, builtin_dashboards,
)
from profkit.render.flame_html import FlamePanel, flame_panel
from profkit.render.page import SEVERITY_COLOURS, clock
from profkit.render.panel_data import (
    POD_COLUMNS, Heatmap, Line, PodRow, finding_window, heatmaps, pod_rows, reduce_values, series_lines,
)
from profkit.units import format_number

ANNOTATED = {"restart": ("#f2495c", "↻"), "rollout": ("#b877d9", "⇪"), "gap": ("#fade2a", "gap"),
             "pod-added": ("#73bf69", "+"), "pod-removed": ("#ff9830", "−"), "error": ("#f2495c", "!")}
MAX_ANNOTATIONS = 150
MAX_WINDOW_LINKS = 8  # profile-window links per flame panel and finding
MAX_LOG_LINKS = 5
GO_ONLY_PROFILES = ("heap", "allocs", "goroutine", "mutex", "block")
DISTRIBUTIONS = ("time_to_ready", "throttling")
LinkKind = Literal["panel", "profile-window", "zoom", "log"]
# The range buttons: those shorter than the capture, then "all" (a 6 h button on a 31 s capture draws it in 0.1 %).
TIME_RANGES = (("30s", 30), ("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3600), ("6h", 21600), ("24h", 86400))
MAX_PICKER_PODS = 12  # pods per controller the picker offers (each one is a copy of the controller's panels)
EVENT_MEANINGS = {"restart": "a pod or process restarted", "rollout": "a rollout started",
                  "gap": "a gap in the data", "pod-added": "a pod appeared", "pod-removed": "a pod went away",
                  "error": "a collector error"}


@dataclass(frozen=True)
class TableData:
    """A table panel's cells: a name and one row of numbers (or text) per line (``counted``: the first number is
    a count)."""

    header: tuple[str, ...]
    rows: list[tuple[str, list[float | str]]]
    counted: bool = False


@dataclass(frozen=True)
class PickerEntry:
    """One choice of the controller/pod picker: a controller (``pod`` empty) or one of its pods."""

    key: str
    target: str
    pod: str = ""

    @property
    def label(self) -> str:
        return f"pod {self.pod}" if self.pod else f"controller {self.target}"


@dataclass
class Variant:
    """A panel narrowed by the picker to one controller (capture-wide panels) or one pod (a controller's panels)."""

    lines: list[Line]
    stat: float | None = None
    table: TableData | None = None
    heatmaps: list[Heatmap] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.lines and not self.heatmaps


@dataclass
class PanelData:
    """One panel with data: its spec, lines (time series, stat, table), or flame tree, or the findings list."""

    anchor: str
    spec: PanelSpec
    target: str | None
    lines: list[Line] = field(default_factory=list)
    flame: FlamePanel | None = None
    stat: float | None = None  # a stat panel's number: the reduced value of each line, summed
    table: TableData | None = None
    heatmaps: list[Heatmap] = field(default_factory=list)  # a heatmap panel's histogram over time (one per group)
    thresholds: tuple[Threshold, ...] = ()  # the spec's, resolved for this target (values known, labels set)
    width: int = 0  # grid columns: the spec's, widened where a neighbour had no data (0: the spec's)
    variants: dict[str, Variant] = field(default_factory=dict)  # by PickerEntry.key; none: the panel is not split

    @property
    def columns(self) -> int:
        return self.width or self.spec.width

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def div(self) -> str:
        return f"{self.anchor}-plot"

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names drawn (``objects``, ``logs``, ``findings``, ``pods`` for those sources)."""
        return tuple(sorted({line.metric for line in self.lines} | {h.metric for h in self.heatmaps}
                            | ({"pods"} if self.spec.series and self.spec.series[0].source == "pods" else set())))


@dataclass
class RowData:
    title: str
    panels: list[PanelData]


@dataclass
class DashboardData:
    """One dashboard for one target (``None``: the whole capture): its rows with data, and what had none."""

    anchor: str
    spec: DashboardSpec
    target: str | None
    rows: list[RowData]
    missing: list[str]

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def panels(self) -> list[PanelData]:
        return [p for row in self.rows for p in row.panels]

    @property
    def has_data(self) -> bool:
        """Anything drawn: a chart, a flame graph, or the findings list."""
        return bool(self.panels)


@dataclass(frozen=True)
class EvidenceLink:
    """A link from a finding to what it rests on: a panel, one profile window, its time window, a log line."""

    kind: LinkKind
    label: str
    anchor: str = ""  # the panel's anchor (panel, profile-window)
    flame_div: str = ""  # profile-window: the flame graph to switch ...
    window_path: str = ""  # ... to the window holding this file
    start: float = 0.0  # profile-window, zoom: unix seconds
    end: float = 0.0  # zoom
    log_index: int = 0  # log: the finding's log sample


@dataclass
class ReportFinding:
    finding: Finding
    links: list[EvidenceLink]


@dataclass(frozen=True)
class Annotation:
    """A mark on every time panel: an event (start only) or a finding's window; times from ``t0``."""

    start: float
    colour: str
    mark: str
    text: str
    end: float | None = None  # a finding's window ends; events are instants
    kind: str = ""  # the event's kind, or the finding's severity for a finding window


@dataclass(frozen=True)
class LegendEntry:
    """What one kind of mark on the time panels means: a shaded band (a finding's window) or a dotted line."""

    colour: str
    mark: str
    text: str
    band: bool


@dataclass
class Report:
    """Everything an output needs; built once by :func:`build_report`."""

    directory: Path | None
    status: str
    time_range: tuple[float, float]
    data_end: float  # the last time any time panel has data, seconds from t0
    dashboard_specs: list[DashboardSpec]
    dashboards: list[DashboardData]
    findings: list[ReportFinding]
    annotations: list[Annotation]
    events: list[CaptureEvent]  # capture errors, gaps, restarts (no info events)
    summary: dict[str, Any] | None = None  # per-target numbers (profkit.analyze.summary), when asked for
    time_ranges: list[tuple[str, int]] = field(default_factory=lambda: [("all", 0)])  # (label, seconds; 0: all)
    picker: list[PickerEntry] = field(default_factory=list)  # controllers, each followed by its pods (2+ pods)
    legend: list[LegendEntry] = field(default_factory=list)  # what the marks on the time panels mean

    @property
    def t0(self) -> float:
        return self.time_range[0]

    def all_findings(self) -> list[Finding]:
        return [f.finding for f in self.findings]

    def panels(self) -> list[PanelData]:
        return [p for d in self.dashboards for p in d.panels]

    def panel(self, anchor: str) -> PanelData:
        return next(p for p in self.panels() if p.anchor == anchor)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "panel"


def default_dashboards() -> list[DashboardSpec]:
    builtin = builtin_dashboards()
    return [builtin[name] for name in DEFAULT_DASHBOARDS]


def dashboards_only(dashboards: Sequence[DashboardSpec]) -> Report:
    """A report of dashboard specs and no bundle (``profkit report --grafana FILE`` without DIR)."""
    return Report(None, "", (0.0, 0.0), 0.0, list(dashboards), [], [], [], [])


def target_language(view: BundleView, target: str | None) -> str:
    """python when the target's profiles are py-spy's (or its spec says so), else go."""
    if target is None:
        return "go"
    spec = next((t.spec for t in view.targets() if t.name == target), {})
    if spec.get("language") in ("go", "python"):
        return str(spec["language"])
    refs = view.profile_refs(target)
    return "python" if refs and all(r.format == "speedscope" for r in refs) else "go"


def applies_to(panel: PanelSpec, language: str) -> bool:
    """Whether a panel can have data for a target in ``language``: no Go runtime panels for Python."""
    if language != "python":
        return True
    if panel.type == "flamegraph":
        return panel.profile not in GO_ONLY_PROFILES
    metrics = [m for spec in panel.series for m in spec.metrics]
    return not metrics or not all(m.startswith("go_") for m in metrics)


def table_data(spec: PanelSpec, lines: Sequence[Line]) -> TableData:
    """Per line: count and percentiles for distributions (time to ready, throttling waits), else one reduced value."""
    if any(s.transform in DISTRIBUTIONS for s in spec.series):
        return TableData(("series", "count", "p50", "p90", "max"), [
            (line.name, [float(line.values.size), float(np.percentile(line.values, 50)),
                         float(np.percentile(line.values, 90)), float(np.max(line.values))]) for line in lines],
            counted=True)
    return TableData(("series", spec.reduce), [(line.name, [reduce_values(line.values, spec.reduce)]) for line in lines])


def pods_table(rows: Sequence[PodRow]) -> TableData:
    """The pods table: node, phase, restarts (and where that count is from), first and last seen (UTC)."""
    def when(ts: float) -> str:
        return clock(ts) if np.isfinite(ts) else "-"

    return TableData(POD_COLUMNS, [
        (r.pod, [r.node or "-", r.phase or "-",
                 f"{r.restarts:g}" + (" during the capture" if r.restarts_from == "capture" else ""),
                 when(r.first_seen), when(r.last_seen)]) for r in rows])


def target_limits(view: BundleView, target: str | None) -> dict[str, float]:
    """What the target's pod spec says its thresholds are relative to (``cpu_limit``: cores), where known."""
    spec = next((t.spec for t in view.targets() if t.name == target), {}) if target is not None else {}
    limit = spec.get("cpu_limit")
    return {"cpu_limit": float(limit)} if isinstance(limit, (int, float)) and limit > 0 else {}


def resolve_thresholds(spec: PanelSpec, limits: dict[str, float]) -> tuple[Threshold, ...]:
    """The panel's thresholds with values known and labels set: relative ones (``of: cpu_limit``) become the
    target's number, or are left out when its pod spec has no such limit."""
    out: list[Threshold] = []
    for t in spec.thresholds:
        if t.value is None:
            out.append(t)
            continue
        if t.of:
            if t.of not in limits:
                continue
            value = t.value * limits[t.of]
            label = f"{t.label or t.of}: {format_number(value, spec.unit)} (pod spec)"
        else:
            value = t.value
            label = f"{t.label}: {format_number(value, spec.unit)}" if t.label else format_number(value, spec.unit)
        out.append(Threshold(value, t.color, "", label))
    return tuple(out)


def fit_widths(panels: Sequence[PanelData]) -> None:
    """Widen panels where neighbours had no data: each line of the grid (filled left to right, as CSS grid
    does) that came out shorter than the grid is stretched to the full width, so no half-row stays empty."""
    lines: list[list[PanelData]] = []
    used = GRID_COLUMNS
    for panel in panels:
        if used + panel.spec.width > GRID_COLUMNS:
            lines.append([])
            used = 0
        lines[-1].append(panel)
        used += panel.spec.width
    for line in lines:
        total = sum(p.spec.width for p in line)
        if total >= GRID_COLUMNS:
            continue
        widths = [p.spec.width * GRID_COLUMNS // total for p in line]
        for i in sorted(range(len(line)), key=lambda i: -line[i].spec.width)[:GRID_COLUMNS - sum(widths)]:
            widths[i] += 1
        for panel, width in zip(line, widths):
            panel.width = width


def picker_entries(view: BundleView, targets: Sequence[str]) -> list[PickerEntry]:
    """The picker's choices: every controller with data, then its pods where it has two or more."""
    out: list[PickerEntry] = []
    for number, target in enumerate(targets):
        out.append(PickerEntry(f"c{number}", target))
        seen = [i["instance"] for i in view.instances(target)] + [r.instance for r in view.profile_refs(target)]
        seen += [series.instance for name in view.metric_names(target) for series in view.series(name, target=target)]
        pods = sorted({pod for pod in seen if pod})
        if len(pods) > 1:
            out += [PickerEntry(f"c{number}p{index}", target, pod) for index, pod in enumerate(pods[:MAX_PICKER_PODS])]
    return out


def _values(spec: PanelSpec, lines: Sequence[Line]) -> tuple[float | None, TableData | None]:
    """A stat panel's number (each line reduced, summed) and a table panel's cells."""
    stat = float(np.nansum([reduce_values(line.values, spec.reduce) for line in lines])) if spec.type == "stat" else None
    return stat, (table_data(spec, lines) if spec.type == "table" else None)


def panel_variants(view: BundleView, spec: PanelSpec, target: str | None, findings: Sequence[Finding],
                   picker: Sequence[PickerEntry]) -> dict[str, Variant]:
    """The panel per picker choice: a capture-wide panel per controller; a controller's panel per pod, where
    all its series are metrics (a pod label to narrow by). Choices with no data get an empty variant."""
    out: dict[str, Variant] = {}
    if target is None:
        choices = [(e, list(spec.series), e.target) for e in picker if not e.pod]
        if len(choices) < 2:
            return {}
    else:
        if not all(s.source == "metrics" for s in spec.series):
            return {}
        choices = [(e, [replace(s, labels=s.labels + (("pod", e.pod),)) for s in spec.series], target)
                   for e in picker if e.pod and e.target == target]
    for entry, series, scope in choices:
        if spec.type == "heatmap":
            out[entry.key] = Variant([], heatmaps=[h for s in series for h in heatmaps(view, s, scope)])
            continue
        lines = [line for s in series for line in series_lines(view, s, scope, findings)]
        stat, table = _values(spec, lines)
        out[entry.key] = Variant(lines, stat, table)
    return out


def dashboard_data(view: BundleView, dashboard: DashboardSpec, target: str | None, number: int,
                   findings: Sequence[Finding], picker: Sequence[PickerEntry] = ()) -> DashboardData:
    """One dashboard for one target (or the whole capture): rows of panels that have data."""
    prefix = f"d{number}"
    rows: list[RowData] = []
    missing: list[str] = []
    language = target_language(view, target)
    limits = target_limits(view, target)
    for row in dashboard.rows:
        panels: list[PanelData] = []
        for spec in row.panels:
            anchor = f"{prefix}-{slug(spec.title)}"
            if not applies_to(spec, language):
                continue  # a Go runtime panel for a Python target is not "missing data"
            if spec.type == "findings":
                panels.append(PanelData(anchor, spec, target))
                continue
            if spec.type == "flamegraph":
                pods = [e.pod for e in picker if e.pod and e.target == target]
                flame = flame_panel(view, target, spec.profile, f"{anchor}-plot", pods) if target is not None else None
                if flame is None:
                    missing.append(spec.title)
                else:
                    panels.append(PanelData(anchor, spec, target, flame=flame))
                continue
            if spec.type == "heatmap":
                drawn = [h for series in spec.series for h in heatmaps(view, series, target)]
                if not drawn:
                    missing.append(spec.title)
                else:
                    panels.append(PanelData(anchor, spec, target, heatmaps=drawn,
                                            variants=panel_variants(view, spec, target, findings, picker)))
                continue
            if spec.series[0].source == "pods":
                if not any(t.kind == "deployment" and target in (None, t.name) for t in view.targets()):
                    continue  # a local process has no pods: that is not missing data
                found = pod_rows(view, target)
                if not found:
                    missing.append(spec.title)
                else:
                    panels.append(PanelData(anchor, spec, target, table=pods_table(found)))
                continue
            lines = [line for series in spec.series for line in series_lines(view, series, target, findings)]
            if not lines:
                missing.append(spec.title)
                continue
            stat, table = _values(spec, lines)
            panels.append(PanelData(anchor, spec, target, lines, stat=stat, table=table,
                                    thresholds=resolve_thresholds(spec, limits),
                                    variants=panel_variants(view, spec, target, findings, picker)))
        if panels:
            fit_widths(panels)
            rows.append(RowData(row.title, panels))
    return DashboardData(prefix, dashboard, target, rows, missing)


def evidence_links(finding: Finding, index: int, panels: Sequence[PanelData],
                   capture: tuple[float, float]) -> list[EvidenceLink]:
    """Links from a finding to the panels, profile windows, time window and log lines behind it."""
    sources = evidence_sources(finding.id)
    wanted = set(sources.series) | set(finding.series) | ({"logs"} if sources.logs else set())
    mine = [p for p in panels if p.spec.type != "findings"
            and (p.target is None or not finding.target or p.target == finding.target)]
    links = [EvidenceLink("panel", p.title, p.anchor) for p in mine if p.flame is None and wanted & set(p.metrics)]
    kind = sources.profile_kind
    for panel in mine:
        flame = panel.flame
        if flame is None:
            continue
        paths = [p for p in set(finding.profiles) if any(p in w["paths"] for w in flame.windows[1:])]
        if kind == flame.kind or (kind == "cpu" and flame.kind == "wall") or paths:
            links.append(EvidenceLink("panel", panel.title, panel.anchor))
        shown: set[float] = set()  # one link per window of the picker (it may hold several pods' files)
        for path in sorted(paths):
            start = next(w["start"] for w in flame.windows[1:] if path in w["paths"])
            if start in shown or len(shown) >= MAX_WINDOW_LINKS:
                continue
            shown.add(start)
            links.append(EvidenceLink("profile-window", "profile window", panel.anchor, flame.div, path, start))
    start, end, declared = finding_window(finding, capture)
    if declared:
        links.append(EvidenceLink("zoom", "zoom to", start=start, end=end))
    links += [EvidenceLink("log", f"log line {i + 1}", log_index=i)
              for i in range(min(len(finding.log_samples), MAX_LOG_LINKS))]
    return links


def time_annotations(events: Sequence[CaptureEvent], findings: Sequence[Finding],
                     capture: tuple[float, float]) -> list[Annotation]:
    """Marks on every time panel: restarts, rollouts, gaps, pods added/removed, errors, finding windows."""
    t0 = capture[0]
    marked = [e for e in events if e.kind in ANNOTATED]
    # Restarts, rollouts, gaps and pod changes first; collector errors (often many) fill what is left.
    marked = sorted(marked, key=lambda e: e.kind == "error")[:MAX_ANNOTATIONS]
    out: list[Annotation] = []
    for event in marked:
        colour, mark = ANNOTATED[event.kind]
        text = f"{event.kind} {event.target} {event.instance}: {event.message}"[:300]
        out.append(Annotation(round(event.ts - t0, 2), colour, mark, text, kind=event.kind))
    for finding in findings:
        start, end, declared = finding_window(finding, capture)
        if declared:
            out.append(Annotation(round(start - t0, 2), SEVERITY_COLOURS.get(finding.severity, "#8e8e9e"), "⚑",
                                  f"{finding.id}: {finding.title}"[:300], round(end - t0, 2), finding.severity))
    return out


def time_ranges(duration: float) -> list[tuple[str, int]]:
    """The range buttons for a capture of ``duration`` seconds: the ranges shorter than it, then all of it."""
    return [(label, seconds) for label, seconds in TIME_RANGES if seconds < duration] + [("all", 0)]


def legend_entries(annotations: Sequence[Annotation]) -> list[LegendEntry]:
    """One entry per kind of mark that the time panels carry, finding windows first (most severe first)."""
    out: list[LegendEntry] = []
    windows = {a.kind: a for a in annotations if a.end is not None}
    for severity in ("critical", "warning", "info"):
        if severity in windows:
            out.append(LegendEntry(windows[severity].colour, windows[severity].mark,
                                   f"shaded: the time window a {severity} finding rests on (hover ⚑ for it)", True))
    events = {a.kind: a for a in annotations if a.end is None}
    for kind, meaning in EVENT_MEANINGS.items():
        if kind in events:
            out.append(LegendEntry(events[kind].colour, events[kind].mark, f"dotted line: {meaning}", False))
    return out


def _data_end(dashboards: Sequence[DashboardData], t0: float, default: float) -> float:
    """The last time any time panel has data (a killed capture's ``ended`` can lie), in seconds from t0."""
    ends = [float(np.round(line.times[-1] - t0, 1)) for d in dashboards for p in d.panels
            if p.spec.type not in ("stat", "table") and p.flame is None for line in p.lines if line.times.size]
    ends += [float(np.round(h.times[-1] - t0, 1)) for d in dashboards for p in d.panels for h in p.heatmaps]
    return max(ends) if ends else default


def build_report(view: BundleView, findings: Sequence[Finding], dashboards: Sequence[DashboardSpec] | None = None,
                 summary: dict[str, Any] | None = None) -> Report:
    """Read what ``dashboards`` draw from ``view`` (default: the built-in ones) and link ``findings`` to it."""
    specs = list(dashboards) if dashboards is not None else default_dashboards()
    capture = view.time_range()
    targets = view.targets_with_data()
    picker = picker_entries(view, targets)
    drawn: list[DashboardData] = []
    number = 0
    for spec in specs:
        for target in ([None] if spec.scope == "capture" else targets):
            data = dashboard_data(view, spec, target, number, findings, picker)
            number += 1
            if data.has_data:
                drawn.append(data)
    panels = [p for d in drawn for p in d.panels]
    linked = [ReportFinding(f, evidence_links(f, i, panels, capture)) for i, f in enumerate(findings)]
    events = view.events()
    data_end = _data_end(drawn, capture[0], capture[1] - capture[0])
    annotations = time_annotations(events, findings, capture)
    return Report(view.directory, view.status, capture, data_end, specs, drawn, linked, annotations,
                  [e for e in events if e.kind != "info"], summary, time_ranges(data_end), picker,
                  legend_entries(annotations))
