"""SVG flame graphs: valid standalone XML, hostile names stay text, tooltips and search, fast on big trees."""

from __future__ import annotations

import html
import random
import time
import xml.etree.ElementTree as ET

import pytest

from profkit.formats import load_profile_file
from profkit.model import Frame, Profile
from profkit.render.flamegraph_svg import build_tree, render_flamegraph_svg
from real_profiles import go_profile, pyspy_profile

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)</script>"


def profile_of(stacks: dict[tuple[str, ...], float], language: str = "go") -> Profile:
    frames: dict[str, int] = {}
    keyed = {tuple(frames.setdefault(n, len(frames)) for n in stack): w for stack, w in stacks.items()}
    return Profile(frames=[Frame(n) for n in frames], stacks=list(keyed), weights=list(keyed.values()),
                   language=language)


def frame_groups(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    frames = root.find(f"{SVG}g[@id='frames']")
    assert frames is not None
    return list(frames)


def test_hostile_function_names_appear_as_text_only() -> None:
    profile = profile_of({("main", HOSTILE): 5, ("main", 'say "hi" & <b>bye</b>'): 5})
    svg = render_flamegraph_svg(profile, title=HOSTILE)
    root = ET.fromstring(svg)  # well-formed XML
    assert len(root.findall(f".//{SVG}script")) == 1, "only profkit's own script"
    assert "<script>alert" not in svg
    titles = [g.find(f"{SVG}title").text or "" for g in frame_groups(svg)]  # type: ignore[union-attr]
    assert any(t.startswith(HOSTILE) for t in titles)
    assert any(t.startswith('say "hi" & <b>bye</b>') for t in titles)


def test_control_characters_in_names_keep_the_svg_well_formed() -> None:
    svg = render_flamegraph_svg(profile_of({("main", "bad\x00\x1bname"): 1}))
    ET.fromstring(svg)


def test_tooltips_give_self_total_and_share() -> None:
    profile = profile_of({("main", "reconcile", "generateKey"): 30e9, ("main", "reconcile"): 10e9,
                          ("main", "idle"): 60e9})
    titles = {t.split("\n")[0]: t for t in (g.find(f"{SVG}title").text or ""  # type: ignore[union-attr]
                                            for g in frame_groups(render_flamegraph_svg(profile)))}
    assert titles["reconcile"].split("\n")[1] == "self 10 s (10.00%), total 40 s (40.00%)"
    assert titles["main"].split("\n")[1] == "self 0 ns (0.00%), total 100 s (100.00%)"


def test_script_offers_zoom_and_search_with_matched_share() -> None:
    svg = render_flamegraph_svg(profile_of({("main", "work"): 1}))
    for needle in ("function zoom(", "new RegExp(term)", "Matched ", "Reset zoom", "Search (Ctrl+F)"):
        assert needle in svg


def test_root_spans_the_width_and_children_fit_inside_their_parent() -> None:
    profile = load_profile_file(go_profile("cpu"))
    tree = build_tree(profile)
    roots = tree.depth == 0
    assert tree.total[roots].sum() == pytest.approx(profile.total)
    for node in range(tree.frame.size):
        parent = int(tree.parent[node])
        if parent >= 0:
            assert tree.x[parent] - 1e-6 <= tree.x[node]
            assert tree.x[node] + tree.total[node] <= tree.x[parent] + tree.total[parent] + 1e-3


def test_frames_narrower_than_a_thousandth_are_left_out() -> None:
    stacks = {("main", f"tiny{i}"): 1.0 for i in range(5000)}
    stacks[("main", "big")] = 5000.0
    tree = build_tree(profile_of(stacks), min_fraction=0.001)
    assert tree.frame.size == 2  # main and big; main keeps the full width
    assert tree.total.max() == 10000.0


def test_colours_follow_the_kind_of_code() -> None:
    go = render_flamegraph_svg(load_profile_file(go_profile("cpu")))
    python = render_flamegraph_svg(load_profile_file(pyspy_profile()))
    for svg in (go, python):
        fills = {rect.get("fill") for g in frame_groups(svg) for rect in g.findall(f"{SVG}rect")}
        assert len(fills) > 3


def test_a_hundred_thousand_node_profile_renders_quickly() -> None:
    rng = random.Random(5)
    names = [f"k8s.io/pkg{i % 40}.Function{i}" for i in range(4000)]
    calls = [[rng.randrange(len(names)) for _ in range(3)] for _ in names]
    stacks: dict[tuple[str, ...], float] = {}
    while len(stacks) < 30_000:  # random walks over a call graph: deep, shared prefixes
        function, stack = 0, ["main"]
        for _ in range(rng.randrange(5, 40)):
            function = calls[function][rng.randrange(3)]
            stack.append(names[function])
        stacks[tuple(stack)] = stacks.get(tuple(stack), 0) + rng.randrange(1, 100)
    profile = profile_of(stacks)
    assert build_tree(profile, min_fraction=0.0).frame.size >= 100_000
    started = time.perf_counter()
    svg = render_flamegraph_svg(profile)
    elapsed = time.perf_counter() - started
    ET.fromstring(svg)
    assert elapsed < 6.0, f"{elapsed:.2f}s (target 2 s on an idle machine)"


def test_svg_and_html_icicle_name_and_colour_frames_alike_with_one_legend() -> None:
    """Issue 10: the same names (module.function for Python, lines of one function merged) and the same
    colour meaning (own code, libraries, standard library, runtime) in the SVG and the report's icicle."""
    from profkit.render.flame_html import flame_legend_html
    from profkit.render.icicle import LEGEND, NameTable, flame_nodes, legend_colour

    for profile in (load_profile_file(pyspy_profile()), load_profile_file(go_profile("cpu"))):
        svg = render_flamegraph_svg(profile, min_fraction=0.0)
        svg_colours = {(g.find(f"{SVG}title").text or "").split("\n")[0]: g.find(f"{SVG}rect").get("fill")  # type: ignore[union-attr]
                       for g in frame_groups(svg)}
        names = NameTable()
        flame_nodes(profile, names, max_nodes=10**6)
        html_colours = {html.unescape(full): colour for full, _, colour in names.names
                        if full != "all" and not full.startswith("other")}
        shared = set(svg_colours) & set(html_colours)
        assert len(shared) >= 0.9 * len(svg_colours), sorted(set(svg_colours) - set(html_colours))[:5]
        assert all(svg_colours[n] == html_colours[n] for n in shared)
        if profile.language == "python":  # py-spy's per-line frames are one function in both
            assert len(svg_colours) < len({f.name for f in profile.frames}) or all(":" not in n for n in svg_colours)
        legend = ET.fromstring(svg).find(f"{SVG}g[@id='legend']")
        assert legend is not None
        assert [t.text for t in legend.findall(f"{SVG}text")] == [text for _, text in LEGEND]
        assert [r.get("fill") for r in legend.findall(f"{SVG}rect")] == [legend_colour(o) for o, _ in LEGEND]
    legend_html = flame_legend_html()
    for origin, text in LEGEND:
        assert legend_colour(origin) in legend_html and text in legend_html
