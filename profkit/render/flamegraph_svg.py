"""Self-contained SVG flame graph (root at the bottom) with tooltips, click-to-zoom and search."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal, Sequence

from profkit.analyze.frames import short_name
from profkit.errors import BadInput
from profkit.model import Frame, Profile

if TYPE_CHECKING:
    import numpy as np

FRAME_HEIGHT = 16
PAD = 10
FONT_SIZE = 12
CHAR_WIDTH = FONT_SIZE * 0.59
SvgTheme = Literal["light", "dark"]
THEMES: dict[str, tuple[str, str, str]] = {  # background, heading and details text, the clickable texts
    "light": ("#f8f8f0", "#000", "#224"), "dark": ("#181b1f", "#ccccdc", "#8ab8ff")}
# Click a frame to zoom into it, "Reset zoom" (or Escape) to go back; "Search" (Ctrl+F) asks for
# a regular expression, highlights matching frames and prints their share of the total (nested
# matches counted once). Static code: no profile data is ever placed inside the script.
FLAMEGRAPH_JS = """
(function () {
  var svg = document.querySelector("svg[data-width]");  // the document itself, or inlined in HTML
  var W = +svg.getAttribute("data-width"), PAD = +svg.getAttribute("data-pad"), CW = 12 * 0.59;
  var frames = [].slice.call(document.querySelectorAll("#frames > g"));
  var unzoom = document.getElementById("unzoom"), search = document.getElementById("search");
  var details = document.getElementById("details"), matched = document.getElementById("matched");
  frames.forEach(function (g) {
    var r = g.querySelector("rect");
    g._x = +r.getAttribute("x"); g._w = +r.getAttribute("width"); g._y = +r.getAttribute("y");
    g._name = g.querySelector("title").textContent.split("\\n")[0];
    g._fill = r.getAttribute("fill");
  });
  function label(g, w) {
    var n = Math.floor(w / CW), name = g._name;
    return n < 3 ? "" : (name.length <= n ? name : name.slice(0, n - 2) + "..");
  }
  function place(g, x, w) {
    var r = g.querySelector("rect"), t = g.querySelector("text");
    r.setAttribute("x", x.toFixed(2)); r.setAttribute("width", w.toFixed(2));
    t.setAttribute("x", (x + 3).toFixed(2)); t.textContent = label(g, w);
  }
  function zoom(target) {
    var x0 = target._x, scale = (W - 2 * PAD) / target._w, eps = 1e-6;
    frames.forEach(function (g) {
      var inside = g._x >= x0 - eps && g._x + g._w <= x0 + target._w + eps;
      if (g._y <= target._y && inside) {
        g.classList.remove("hide"); g.style.opacity = "";
        place(g, PAD + (g._x - x0) * scale, g._w * scale);
      } else if (g._y > target._y && g._x <= x0 + eps && g._x + g._w >= x0 + target._w - eps) {
        g.classList.remove("hide"); g.style.opacity = "0.6";
        place(g, PAD, W - 2 * PAD);
      } else {
        g.classList.add("hide");
      }
    });
    unzoom.classList.remove("hide");
  }
  function reset() {
    frames.forEach(function (g) { g.classList.remove("hide"); g.style.opacity = ""; place(g, g._x, g._w); });
    unzoom.classList.add("hide");
  }
  function find(term) {
    var re;
    try { re = new RegExp(term); } catch (e) { matched.textContent = "bad expression: " + e.message; return; }
    var spans = [];
    frames.forEach(function (g) {
      var r = g.querySelector("rect");
      if (re.test(g._name)) { r.setAttribute("fill", "rgb(230,0,230)"); spans.push([g._x, g._x + g._w]); }
      else { r.setAttribute("fill", g._fill); }
    });
    spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    var covered = 0, end = -Infinity;
    spans.forEach(function (s) {
      if (s[0] >= end) { covered += s[1] - s[0]; end = s[1]; }
      else if (s[1] > end) { covered += s[1] - end; end = s[1]; }
    });
    var share = 100 * covered / (W - 2 * PAD);
    matched.textContent = "Matched " + term + ": " + share.toFixed(1) + "% (click to clear)";
    search.textContent = "Search: " + term;
    return share;
  }
  function clearSearch() {
    frames.forEach(function (g) { g.querySelector("rect").setAttribute("fill", g._fill); });
    matched.textContent = " "; search.textContent = "Search (Ctrl+F)";
  }
  function ask() {
    var term = window.prompt("Search for a function (regular expression)", "");
    if (term) { find(term); }
  }
  document.getElementById("frames").addEventListener("click", function (e) {
    var g = e.target.closest("g.f"); if (g) { zoom(g); }
  });
  document.getElementById("frames").addEventListener("mouseover", function (e) {
    var g = e.target.closest("g.f");
    if (g) { details.textContent = g.querySelector("title").textContent.split("\\n").slice(0, 2).join(": "); }
  });
  unzoom.addEventListener("click", reset);
  search.addEventListener("click", ask);
  matched.addEventListener("click", clearSearch);
  window.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "f") { e.preventDefault(); ask(); }
    else if (e.key === "Escape") { reset(); clearSearch(); }
  });
  var wanted = new URLSearchParams(window.location.search).get("s");
  if (wanted) { find(wanted); }
  window.profkitFlame = {zoom: zoom, reset: reset, search: find, clear: clearSearch};
})();
"""
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def escape(text: str) -> str:
    """Text safe inside XML content and double-quoted attributes (hostile names stay text)."""
    text = _INVALID_XML.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@dataclass
class FlameTree:
    """Drawn nodes of the call tree, root level first; ``x`` and ``total`` in weight units."""

    frame: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    x: np.ndarray
    total: np.ndarray
    self_weight: np.ndarray
    grand_total: float


def build_tree(profile: Profile, min_fraction: float = 0.001) -> FlameTree:
    """The call tree of ``profile`` with nodes narrower than ``min_fraction`` of the total left out.

    Built one depth at a time with numpy: at each depth, the live stacks are grouped by (parent
    node, frame). A left-out node takes its whole subtree with it; its weight still counts in
    its parent's width, as in flamegraph.pl.
    """
    import numpy as np

    from profkit.model.stackarrays import group_keys

    arrays = profile.stack_arrays()
    weights = np.clip(arrays.weights, 0.0, None)
    lengths = arrays.lengths
    with np.errstate(over="ignore"):
        grand_total = float(weights[lengths > 0].sum())
    if not np.isfinite(grand_total):
        raise BadInput("cannot draw a flame graph: the profile's weights are not finite or add up past the "
                       "largest number (a count of 1e308 or more)")
    threshold = grand_total * min_fraction
    order_by_name = sorted(range(len(profile.frames)), key=lambda i: (profile.frames[i].name, i))
    name_rank = np.empty(len(profile.frames), dtype=np.int64)
    name_rank[order_by_name] = np.arange(len(profile.frames))
    live = np.flatnonzero((lengths > 0) & (weights > 0))
    parent_of_live = np.full(live.size, -1, dtype=np.int64)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("frame", "parent", "depth", "x", "total", "self")}
    node_x = np.zeros(0)
    next_id, depth = 0, 0
    while live.size and grand_total > 0:
        frame = arrays.frames[arrays.offsets[live] + depth]
        group, first = group_keys((parent_of_live + 1) * (len(profile.frames) + 1) + frame)
        totals = np.bincount(group, weights=weights[live], minlength=first.size)
        keep = np.flatnonzero(totals >= threshold)
        ids = np.full(first.size, -1, dtype=np.int64)
        ids[keep] = next_id + np.arange(keep.size)
        node_of_live = ids[group]
        ends_here = lengths[live] == depth + 1
        selfs = np.bincount(group[ends_here], weights=weights[live][ends_here], minlength=first.size)
        kept_frame, kept_parent, kept_total = frame[first[keep]], parent_of_live[first[keep]], totals[keep]
        # Children of one parent sit side by side in name order, starting at the parent's x.
        order = np.lexsort((name_rank[kept_frame], kept_parent))
        running = np.cumsum(kept_total[order]) - kept_total[order]
        new_parent = np.ones(order.size, dtype=bool)
        new_parent[1:] = kept_parent[order][1:] != kept_parent[order][:-1]
        group_start = np.maximum.accumulate(np.where(new_parent, np.arange(order.size), 0))
        start_x = np.zeros(order.size) if depth == 0 else node_x[kept_parent[order]]
        x = np.empty(order.size)
        x[order] = start_x + running - running[group_start]
        node_x = np.concatenate([node_x, x])
        for key, values in (("frame", kept_frame), ("parent", kept_parent), ("x", x), ("total", kept_total),
                            ("self", selfs[keep]), ("depth", np.full(keep.size, depth))):
            parts[key].append(values)
        next_id += keep.size
        survivors = (node_of_live >= 0) & ~ends_here
        live, parent_of_live = live[survivors], node_of_live[survivors]
        depth += 1

    def joined(key: str, dtype: type) -> np.ndarray:
        return np.concatenate(parts[key]).astype(dtype) if parts[key] else np.zeros(0, dtype=dtype)

    return FlameTree(joined("frame", np.int64), joined("parent", np.int64), joined("depth", np.int64),
                     joined("x", np.float64), joined("total", np.float64), joined("self", np.float64), grand_total)


def format_weight(value: float, unit: str) -> str:
    """A weight as people read it: ``1.25 s``, ``12.0 MiB``, ``3,400 samples``."""
    if unit == "nanoseconds":
        for factor, suffix in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
            if abs(value) >= factor:
                return f"{value / factor:.3g} {suffix}" if abs(value) < factor * 1000 else f"{value / factor:,.0f} {suffix}"
        return f"{value:.0f} ns"
    if unit == "bytes":
        from profkit.units import format_bytes

        return format_bytes(value)
    return f"{value:,.0f} {unit if unit not in ('count', '') else 'samples'}"


def _weight_formatter(unit: str) -> Callable[[float], str]:
    """``format_weight`` for one unit; nanoseconds (CPU profiles, the common case) without the unit test."""
    if unit != "nanoseconds":
        return lambda value: format_weight(value, unit)

    def nanoseconds(value: float) -> str:
        size = value if value >= 0 else -value
        if size >= 1e9:
            return f"{value / 1e9:.3g} s" if size < 1e12 else f"{value / 1e9:,.0f} s"
        if size >= 1e6:
            return f"{value / 1e6:.3g} ms"
        if size >= 1e3:
            return f"{value / 1e3:.3g} µs"
        return f"{value:.0f} ns"

    return nanoseconds


def frame_colour(frame: Frame, language: str) -> str:
    """A warm colour by kind of code (runtime, standard library, dependency, own code), stable per package."""
    name, file = frame.name, frame.file
    if name.startswith("0x"):
        hue, sat, light = 0, 0, 70
        package = name
    elif language == "python" or file.endswith(".py"):
        package = file.rsplit("/", 1)[0]
        if file.startswith("<") or not file:
            hue, sat, light = 0, 70, 62  # native and frozen frames
        elif "site-packages" in file or "dist-packages" in file:
            hue, sat, light = 48, 75, 55  # dependencies
        elif "/lib/python" in file:
            hue, sat, light = 28, 80, 58  # standard library
        else:
            hue, sat, light = 95, 50, 50  # the application's own code
    else:
        package = go_package(name)
        first = package.split("/", 1)[0]
        if package in ("runtime", "runtime/internal", "internal") or package.startswith(("runtime/", "internal/")):
            hue, sat, light = 0, 70, 62
        elif "." not in first:
            hue, sat, light = 28, 80, 58 if package != "main" else 45
        elif first in ("k8s.io", "sigs.k8s.io", "github.com", "golang.org", "google.golang.org", "go.uber.org"):
            hue, sat, light = 48, 75, 55
        else:
            hue, sat, light = 95, 50, 50
    shift = zlib.crc32(package.encode("utf-8", "replace")) % 17
    return f"hsl({hue + shift},{sat}%,{light + shift % 7}%)"


def go_package(function_name: str) -> str:
    """``k8s.io/client-go/rest.(*Request).Do`` -> ``k8s.io/client-go/rest``."""
    slash = function_name.rfind("/")
    dot = function_name.find(".", slash + 1)
    return function_name[:dot] if dot > 0 else function_name


def _label(name: str, width: float) -> str:
    """The full name where it fits, else the short name (last path element, as the icicle shows it), cut."""
    fits = int(width / CHAR_WIDTH)
    if fits < 3:
        return ""
    if len(name) <= fits:
        return name
    short = short_name(name)
    return short if len(short) <= fits else short[: fits - 2] + ".."


def _legend(kinds: Sequence[tuple[str, str]], colour: Callable[[str], str], x: float, y: float) -> str:
    """One line of swatches saying what the frame colours mean (the HTML icicle shows the same)."""
    parts = ['<g id="legend">']
    for origin, text in kinds:
        parts.append(f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" rx="2" fill="{colour(origin)}"/>'
                     f'<text x="{x + 14:.0f}" y="{y:.0f}" style="font-size:11px">{escape(text)}</text>')
        x += 14 + CHAR_WIDTH * len(text) + 16
    parts.append("</g>\n")
    return "".join(parts)


def render_flamegraph_svg(profile: Profile, title: str = "", width: int = 1200, min_fraction: float = 0.001, *,
                          tree: FlameTree | None = None, node_colours: Sequence[str] | None = None,
                          node_notes: Sequence[str] | None = None, theme: SvgTheme = "light") -> str:
    """``profile`` as one standalone SVG document (no external resources).

    A caller may pass the ``tree`` it built and a colour and a tooltip line per node of it (the
    differential flame graph does). ``theme="dark"`` draws it on the report's dark panel colour (the
    compare page embeds it so); the frames keep their colours and dark labels either way.
    """
    from profkit.render.icicle import LEGEND, by_display_name, legend_colour, origin_colour

    background, ink, ui = THEMES[theme]
    origins: list[str] | None = None
    if tree is None:
        # The names and colours of the HTML icicle: Python lines of one function merged into one frame named
        # module.function, coloured by kind of code (own, library, standard library, runtime).
        profile, origins = by_display_name(profile)
        tree = build_tree(profile, min_fraction)
    max_depth = int(tree.depth.max()) + 1 if tree.depth.size else 1
    legend_height = FONT_SIZE + 6 if origins is not None else 0
    height = (max_depth + 1) * FRAME_HEIGHT + 5 * PAD + 2 * FONT_SIZE + legend_height
    scale = (width - 2 * PAD) / tree.grand_total if tree.grand_total > 0 else 0.0
    unit = profile.unit
    heading = title or " ".join(x for x in (profile.target, profile.instance, profile.kind, "flame graph") if x)
    names = [frame.name for frame in profile.frames]
    colours: dict[int, str] = {}
    out = [
        '<?xml version="1.0" standalone="no"?>\n',
        f'<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" data-width="{width}" data-pad="{PAD}" '
        f'data-total="{tree.grand_total:.17g}">\n',
        f"<style>text{{font-family:Verdana,sans-serif;font-size:12px;fill:{ink}}}"
        ".f:hover rect{stroke:#000;stroke-width:0.5}.f{cursor:pointer}#frames text{pointer-events:none;fill:#000}"
        f".ui{{cursor:pointer;fill:{ui}}}.hide{{display:none}}</style>\n",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="{background}"/>\n',
        f'<text x="{width / 2:.1f}" y="{PAD + FONT_SIZE}" text-anchor="middle" style="font-size:15px">'
        f"{escape(heading)}</text>\n",
        f'<text id="unzoom" class="ui hide" x="{PAD}" y="{PAD + FONT_SIZE}">Reset zoom</text>\n',
        f'<text id="search" class="ui" x="{width - PAD}" y="{PAD + FONT_SIZE}" text-anchor="end">'
        "Search (Ctrl+F)</text>\n",
        f'<text id="details" x="{PAD}" y="{height - PAD}"> </text>\n',
        f'<text id="matched" class="ui" x="{width - PAD}" y="{height - PAD}" text-anchor="end"> </text>\n',
        _legend(LEGEND, legend_colour, PAD, PAD + 2 * FONT_SIZE + 4) if origins is not None else "",
        '<g id="frames">\n',
    ]
    base_y = height - 3 * PAD - FONT_SIZE - FRAME_HEIGHT
    total = tree.grand_total or 1.0
    # Escaped once per frame, not per node: the weights and shares in between need no escaping.
    safe_names: dict[int, str] = {}
    safe_files: dict[int, str] = {}
    weight_text = _weight_formatter(unit)
    for node, (frame, depth, x, node_total, node_self) in enumerate(zip(
        tree.frame.tolist(), tree.depth.tolist(), tree.x.tolist(), tree.total.tolist(), tree.self_weight.tolist()
    )):
        name = names[frame]
        colour = node_colours[node] if node_colours is not None else colours.get(frame)
        if colour is None:
            colour = colours[frame] = (origin_colour(names[frame], origins[frame]) if origins is not None
                                       else frame_colour(profile.frames[frame], profile.language))
        safe = safe_names.get(frame)
        if safe is None:
            safe = safe_names[frame] = escape(name)
            where = profile.frames[frame].file
            safe_files[frame] = f"\n{escape(where)}" if where else ""
        px, pw = PAD + x * scale, node_total * scale
        note = f"\n{escape(node_notes[node])}" if node_notes is not None and node_notes[node] else ""
        label = _label(name, pw)
        y = base_y - depth * FRAME_HEIGHT
        out.append(
            f'<g class="f"><title>{safe}\nself {weight_text(node_self)} ({100 * node_self / total:.2f}%), '
            f"total {weight_text(node_total)} ({100 * node_total / total:.2f}%){note}{safe_files[frame]}</title>"
            f'<rect x="{px:.2f}" y="{y}" width="{pw:.2f}" height="{FRAME_HEIGHT - 1}" fill="{colour}" rx="2"/>'
            f'<text x="{px + 3:.2f}" y="{y + FRAME_HEIGHT - 4}">{escape(label) if label else ""}</text></g>\n'
        )
    out.append("</g>\n")
    out.append(f'<script type="text/ecmascript"><![CDATA[\n{FLAMEGRAPH_JS}\n]]></script>\n')
    out.append("</svg>\n")
    return "".join(out)
