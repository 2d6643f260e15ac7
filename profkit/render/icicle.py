"""Flame graph as a plotly Icicle figure (root at the bottom), small frames folded into "other"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profkit.analyze.frames import FrameClassifier, display_name, short_name
from profkit.model import Profile
from profkit.render.page import esc

ORIGIN_COLOURS = {"own": "#ff9830", "library": "#5794f2", "stdlib": "#73bf69", "runtime": "#8e8e9e",
                  "other": "#464c54", "root": "#37872d"}
MAX_NODES = 4000
MIN_FRACTION = 0.002  # frames under 0.2 % of the total are folded first; raised until MAX_NODES fits
MAX_DEPTH = 40  # levels shown at once; clicking a frame zooms into it


@dataclass
class _Node:
    name: str
    origin: str
    value: float = 0.0
    self_value: float = 0.0
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(profile: Profile, own_code: tuple[str, ...]) -> _Node:
    classifier = FrameClassifier(profile, own_code)
    names = [display_name(f, profile.language) for f in profile.frames]
    root = _Node("all", "root")
    for stack, weight in zip(profile.stacks, profile.weights):
        root.value += weight
        node = root
        for index in stack:
            name = names[index]
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = _Node(name, classifier.origin(index))
            child.value += weight
            node = child
        node.self_value += weight
    return root


@dataclass
class IcicleData:
    """Parallel arrays of an Icicle trace."""

    ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    hover: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def _emit(root: _Node, threshold: float, unit_seconds: float, total: float) -> IcicleData:
    out = IcicleData()

    def add(node: _Node, parent: str, label: str, origin: str, self_value: float) -> str:
        node_id = f"n{len(out.ids)}"
        out.ids.append(node_id)
        out.labels.append(esc(label))
        out.parents.append(parent)
        out.values.append(node.value)
        out.colours.append(ORIGIN_COLOURS.get(origin, ORIGIN_COLOURS["other"]))
        out.hover.append([esc(node.name), f"{self_value / total:.2%}" if total else "0%",
                          f"{node.value * unit_seconds:.3g} s", esc(origin)])
        return node_id

    stack: list[tuple[_Node, str]] = [(root, add(root, "", root.name, "root", root.self_value))]
    while stack:
        node, node_id = stack.pop()
        small = 0.0
        for child in sorted(node.children.values(), key=lambda c: -c.value):
            if child.value < threshold:
                small += child.value
                continue
            stack.append((child, add(child, node_id, short_name(child.name), child.origin, child.self_value)))
        if small > 0:
            other = _Node(f"other (frames under {threshold / total:.1%} each)" if total else "other", "other", small)
            add(other, node_id, "other", "other", 0.0)
    return out


def icicle_data(profile: Profile, *, unit_seconds: float = 1e-9, own_code: tuple[str, ...] = (),
                max_nodes: int = MAX_NODES) -> IcicleData:
    """The merged flame graph as icicle arrays, folded until it has at most ``max_nodes`` nodes."""
    root = _tree(profile, own_code)
    fraction = MIN_FRACTION
    while True:
        data = _emit(root, root.value * fraction, unit_seconds, root.value)
        if len(data) <= max_nodes or fraction >= 0.5:
            return data
        fraction *= 2


def icicle_figure(profile: Profile, title: str, *, unit_seconds: float = 1e-9, own_code: tuple[str, ...] = ()
                  ) -> dict[str, Any]:
    """A plotly figure dict (data + layout) drawing the flame graph with the root at the bottom."""
    data = icicle_data(profile, unit_seconds=unit_seconds, own_code=own_code)
    trace = {
        "type": "icicle",
        "ids": data.ids,
        "labels": data.labels,
        "parents": data.parents,
        "values": data.values,
        "branchvalues": "total",
        "tiling": {"orientation": "v", "flip": "y"},
        "maxdepth": MAX_DEPTH,
        "marker": {"colors": data.colours, "line": {"width": 0.5, "color": "#111217"}},
        "customdata": data.hover,
        "hovertemplate": ("%{customdata[0]}<br>total %{percentRoot:.2%} (%{customdata[2]})"
                          "<br>self %{customdata[1]}<br>%{customdata[3]}<extra></extra>"),
        "textinfo": "label",
        "insidetextfont": {"size": 11},
    }
    layout = {
        "title": {"text": esc(title), "font": {"size": 14}},
        "margin": {"l": 8, "r": 8, "t": 36, "b": 8},
        "height": 540,
        "paper_bgcolor": "#181b1f",
    }
    return {"data": [trace], "layout": layout}
