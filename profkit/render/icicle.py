"""Flame graph nodes for the HTML icicle: compact arrays (parent, name, total, self), small frames folded into "other"."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from profkit.analyze.frames import FrameClassifier, display_name, short_name
from profkit.model import Frame, Profile
from profkit.render.page import esc

MAX_NODES = 2500  # per flame graph; frames are folded until it fits
MIN_FRACTION = 0.001  # frames under 0.1 % of the total are folded first
OTHER = "other"
ORIGIN_HUES = {"own": (28, 85, 58), "library": (210, 65, 62), "stdlib": (150, 45, 50), "runtime": (0, 0, 58),
               "other": (0, 0, 40), "root": (0, 0, 30)}


# The colour legend every flame graph shows (HTML icicle and SVG): the kinds of code, in this order.
LEGEND = (("own", "your code"), ("library", "libraries"), ("stdlib", "standard library"), ("runtime", "runtime"))


def legend_colour(origin: str) -> str:
    """The legend's swatch for a kind of code: its hue at the middle lightness."""
    hue, sat, light = ORIGIN_HUES.get(origin, ORIGIN_HUES["other"])
    return f"hsl({hue},{sat}%,{light}%)"


def origin_colour(name: str, origin: str) -> str:
    """A colour by kind of code (own, library, stdlib, runtime), lightness varied per package."""
    hue, sat, light = ORIGIN_HUES.get(origin, ORIGIN_HUES["other"])
    package = name.rsplit(".", 1)[0]
    shift = zlib.crc32(package.encode("utf-8", "replace")) % 11
    return f"hsl({hue + shift - 5},{sat}%,{light + shift % 7 - 3}%)"


@dataclass
class NameTable:
    """Frame names shared by all windows of one flame panel: full name, label (both HTML-escaped), colour."""

    names: list[list[str]] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, origin: str) -> int:
        index = self._index.get(name)
        if index is None:
            label = OTHER if name.startswith(OTHER + " (") else short_name(name)
            colour = origin_colour(name, origin) if origin != OTHER else "hsl(0,0%,32%)"
            index = self._index[name] = len(self.names)
            self.names.append([plotly_text(name), plotly_text(label), colour])
        return index


def plotly_text(text: str) -> str:
    """Escaped for plotly's text: tags neutralised; only entities plotly decodes (not ``&quot;``, which
    it would show as is: a label ``healthz"`` read ``healthz&quot;``)."""
    return esc(text).replace("&quot;", "&#34;")


def by_display_name(profile: Profile, own_code: tuple[str, ...] = ()) -> tuple[Profile, list[str]]:
    """The profile with frames merged by display name (Python lines of one function become one frame)."""
    classifier = FrameClassifier(profile, own_code)
    index: dict[str, int] = {}
    frames: list[Frame] = []
    origins: list[str] = []
    remap: list[int] = []
    for number, frame in enumerate(profile.frames):
        name = display_name(frame, profile.language)
        found = index.get(name)
        if found is None:
            found = index[name] = len(frames)
            frames.append(Frame(name, frame.file))
            origins.append(classifier.origin(number))
        remap.append(found)
    totals: dict[tuple[int, ...], float] = {}
    for stack, weight in zip(profile.stacks, profile.weights):
        key = tuple(remap[i] for i in stack)
        totals[key] = totals.get(key, 0.0) + weight
    merged = Profile(frames, list(totals), list(totals.values()), sample_type=profile.sample_type,
                     unit=profile.unit, kind=profile.kind, language=profile.language, target=profile.target,
                     instance=profile.instance, start=profile.start, duration=profile.duration,
                     period=profile.period)
    return merged, origins


def flame_nodes(profile: Profile, names: NameTable, *, max_nodes: int = MAX_NODES,
                own_code: tuple[str, ...] = ()) -> dict[str, Any]:
    """The call tree as parallel arrays, root first; folded frames summed into one "other" per parent.

    ``p`` parent index (-1 for the root), ``n`` index into ``names``, ``v`` total, ``s`` self.
    """
    from profkit.render.flamegraph_svg import build_tree

    merged, origins = by_display_name(profile, own_code)
    fraction = MIN_FRACTION
    while True:
        tree = build_tree(merged, fraction)
        if tree.frame.size + 1 <= max_nodes * 0.8 or fraction >= 0.2:
            break
        fraction *= 2
    total = tree.grand_total
    parents: list[int] = [-1]
    name_ids: list[int] = [names.add("all", "root")]
    totals: list[float] = [total]
    selfs: list[float] = [0.0]
    child_sum: list[float] = [0.0]
    for frame, parent, node_total, node_self in zip(tree.frame.tolist(), tree.parent.tolist(),
                                                     tree.total.tolist(), tree.self_weight.tolist()):
        parent_row = parent + 1  # tree ids are 0-based; row 0 is "all"
        parents.append(parent_row)
        name_ids.append(names.add(merged.frames[frame].name, origins[frame]))
        totals.append(node_total)
        selfs.append(node_self)
        child_sum.append(0.0)
        child_sum[parent_row] += node_total
    other = names.add(f"{OTHER} (frames under {fraction:.1%} of the total each)", OTHER)
    for row in range(len(totals)):
        rest = totals[row] - selfs[row] - child_sum[row]
        if rest > total * 1e-9 and len(parents) < max_nodes:
            parents.append(row)
            name_ids.append(other)
            totals.append(rest)
            selfs.append(rest)
    # No rounding: plotly drops an icicle whose children add up to more than their parent.
    return {"p": parents, "n": name_ids, "v": [_compact(x) for x in totals], "s": [_compact(x) for x in selfs],
            "folded": fraction, "d": int(tree.depth.max()) + 2 if tree.depth.size else 1}


def _compact(value: float) -> float | int:
    return int(value) if value == int(value) else value
