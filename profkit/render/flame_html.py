"""Flame graph panels for the HTML report: one icicle per target and profile kind, with a window picker."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from profkit.bundle.reader import BundleView
from profkit.model import Profile, ProfileRef, merge_profiles
from profkit.render.icicle import LEGEND, NameTable, flame_nodes, legend_colour
from profkit.render.page import clock, esc

MAX_WINDOW_CHOICES = 12  # windows beyond this are merged into as many time slices
WINDOW_NODES = 700  # nodes per window's flame graph (the merged one gets icicle.MAX_NODES)
KIND_ALTERNATIVES = {"cpu": ("cpu", "wall"), "heap": ("heap",), "goroutine": ("goroutine",)}
KIND_TITLES = {"cpu": "CPU", "wall": "wall-clock (py-spy)", "heap": "heap in use", "allocs": "allocations",
               "goroutine": "goroutines", "mutex": "mutex contention", "block": "blocking"}


@dataclass
class FlamePanel:
    """Everything the page script needs to draw one flame graph and its window picker."""

    div: str
    target: str
    kind: str
    unit: str
    title: str
    names: NameTable
    windows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    link_base: str = ""  # prefix of the raw file links ("" when the page sits in the bundle directory)

    def to_json(self) -> dict[str, Any]:
        return {"div": self.div, "unit": self.unit, "names": self.names.names, "windows": self.windows,
                "title": self.title}


def _slices(refs: list[tuple[ProfileRef, Profile]], count: int) -> list[list[tuple[ProfileRef, Profile]]]:
    """Windows grouped into at most ``count`` time slices (replicas profiled together stay together)."""
    refs = sorted(refs, key=lambda rp: rp[0].start)
    starts: list[list[tuple[ProfileRef, Profile]]] = []
    for item in refs:  # windows of several pods that start within a few seconds form one window
        if starts and item[0].start - starts[-1][0][0].start < 5.0:
            starts[-1].append(item)
        else:
            starts.append([item])
    if len(starts) <= count:
        return starts
    size = len(starts) / count
    return [[item for group in starts[round(i * size):round((i + 1) * size)] for item in group] for i in range(count)]


def _window_label(group: Sequence[tuple[ProfileRef, Profile]]) -> str:
    start = min(r.start for r, _ in group)
    end = max(r.start + (r.duration or p.duration) for r, p in group)
    pods = len({r.instance for r, _ in group})
    return (f"{clock(start)}–{clock(end)} UTC · {len(group)} window{'s' if len(group) > 1 else ''}"
            + (f" · {pods} pods" if pods > 1 else f" · {group[0][0].instance}"))


def flame_panel(view: BundleView, target: str, kind: str, div: str, pods: Sequence[str] = ()) -> FlamePanel | None:
    """The flame panel of ``target``'s profiles of ``kind`` (cpu includes py-spy wall), or None.

    For each of ``pods`` (the picker's) with profiles, one more window merges that pod's windows; its
    ``pod`` key lets the page show it when the pod is picked."""
    for actual in KIND_ALTERNATIVES.get(kind, (kind,)):
        refs = view.profile_refs(target, actual)
        if not refs:
            continue
        loaded = [(r, p) for r, p in view.profiles(target, actual) if p.stacks]
        loaded_ids = {r.id for r, _ in loaded}
        skipped = [r.path for r in refs if r.id not in loaded_ids]
        if not loaded:
            continue
        profiles = [p for _, p in loaded]
        merged = merge_profiles(profiles)
        names = NameTable()
        panel = FlamePanel(div, target, actual, merged.unit, "", names, skipped=skipped)
        merged_nodes = flame_nodes(merged, names)
        label = f"all {len(loaded)} windows merged" if len(loaded) > 1 else _window_label(loaded)
        panel.windows.append({"label": label, "paths": [r.path for r, _ in loaded],
                              "start": min(r.start for r, _ in loaded), **merged_nodes})
        groups = _slices(loaded, MAX_WINDOW_CHOICES)
        if len(loaded) > 1:
            for group in groups:
                profile = merge_profiles([p for _, p in group]) if len(group) > 1 else group[0][1]
                panel.windows.append({"label": _window_label(group), "paths": [r.path for r, _ in group],
                                      "start": min(r.start for r, _ in group),
                                      **flame_nodes(profile, names, max_nodes=WINDOW_NODES)})
        for pod in pods:
            own = [(r, p) for r, p in loaded if r.instance == pod]
            if own:
                profile = merge_profiles([p for _, p in own]) if len(own) > 1 else own[0][1]
                panel.windows.append({"label": f"pod {pod}: {len(own)} window{'s' if len(own) > 1 else ''} merged",
                                      "paths": [r.path for r, _ in own], "start": min(r.start for r, _ in own),
                                      "pod": pod, **flame_nodes(profile, names, max_nodes=WINDOW_NODES)})
        plural = "s" if len(loaded) > 1 else ""
        panel.title = ((f"{KIND_TITLES.get(actual, actual)} · " if actual != kind else "")
                       + f"{merged.sample_type} · {len(loaded)} window{plural}")
        return panel
    return None


def profile_flame_panel(profile: Profile, div: str, label: str) -> FlamePanel:
    """A flame panel of one profile (``profkit view FILE``): a single window."""
    names = NameTable()
    panel = FlamePanel(div, profile.target, profile.kind, profile.unit,
                       f"{KIND_TITLES.get(profile.kind, profile.kind)} flame graph · {profile.sample_type}", names)
    panel.windows.append({"label": label, "paths": [], "start": profile.start, **flame_nodes(profile, names)})
    return panel


def write_flame_page(panels: Sequence[FlamePanel], path: Path, title: str) -> Path:
    """A standalone page of flame graphs (plotly inlined, no network), as ``profkit view`` opens it."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    from profkit.render.page import render_page

    body = '<div class="grid">' + "".join(
        flame_panel_html(p, p.target or title, f"flame-{i}", 24) for i, p in enumerate(panels)) + "</div>"
    data = {"template": pio.templates["plotly_dark"].to_plotly_json(), "t0": 0, "t1": 0, "figures": [],
            "flames": [dict(p.to_json(), height=720) for p in panels], "annotations": []}
    page = render_page(title=title, meta=esc(f"{len(panels)} flame graph(s)"), toolbar="", body=body, data=data,
                       plotly_js=get_plotlyjs())
    path.write_text(page, encoding="utf-8")
    return path


def flame_panel_html(panel: FlamePanel, heading: str, panel_id: str, width: int, link_base: str | None = None) -> str:
    """The panel box: title, window picker, search box, the icicle's div and the full-detail hints."""
    options = "".join(f'<option value="{i}">{esc(w["label"])}</option>' for i, w in enumerate(panel.windows))
    folded = panel.windows[0].get("folded", 0.0)
    target = f" --target {esc(panel.target)}" if panel.target else ""
    hint = (f"Frames under {folded:.1%} of the total are folded into <i>other</i>; full detail: "
            f"<code>profkit flame DIR{target} --kind {esc(panel.kind)} -o {esc(panel.kind)}.speedscope.json</code>"
            f" or <code>profkit view DIR{target} --kind {esc(panel.kind)}</code>.")
    base = panel.link_base if link_base is None else link_base
    raw = "".join(f'<a href="{esc(base + p)}">{esc(p.rsplit("/", 1)[-1])}</a> '
                  for p in panel.windows[0]["paths"][:6])
    skipped = (f'<div class="muted">Unreadable profile files skipped: {esc(", ".join(panel.skipped))}</div>'
               if panel.skipped else "")
    return (
        f'<section class="panel flame" id="{esc(panel_id)}" style="grid-column: span {width}" '
        f'data-flame="{esc(panel.div)}"><div class="ptitle">{esc(heading)} '
        f'<span class="muted">{esc(panel.title)}</span><span class="scope"></span></div>'
        f'<div class="flame-tools"><label>window <select class="flame-window">{options}</select></label>'
        f'<input class="flame-search" type="search" placeholder="search frames (regex)" aria-label="search frames">'
        f'<span class="flame-matched muted"></span><button class="flame-reset" type="button">reset zoom</button></div>'
        f'<div class="plot flame-plot" id="{esc(panel.div)}"></div>'
        f'<div class="hint muted">{flame_legend_html()} {hint}{" Raw files: " + raw if raw else ""}</div>'
        f'{skipped}</section>'
    )


def flame_legend_html() -> str:
    """The colour legend of the icicle, the same kinds and colours as the SVG flame graphs'."""
    swatches = "".join(f'<span class="flame-key"><i style="background:{legend_colour(origin)}"></i>{esc(text)}</span>'
                       for origin, text in LEGEND)
    return f'<span class="flame-legend">{swatches}</span>'
