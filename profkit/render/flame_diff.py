"""Differential flame graph: NEW's call tree coloured by each frame's change in share since BASE (red grew, blue shrank)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from profkit.errors import BadInput
from profkit.render.flamegraph_svg import FlameTree, SvgTheme, build_tree, render_flamegraph_svg

if TYPE_CHECKING:
    from profkit.model import Profile

UNCHANGED = "hsl(0,0%,86%)"
NOISE = 0.0005  # share changes under 0.05 % of the total are drawn as unchanged


@dataclass
class FlameDiff:
    """NEW's tree with, per node, its self and total share of NEW and of BASE (0 where BASE lacks the path)."""

    tree: FlameTree
    new_self: list[float]
    new_total: list[float]
    base_self: list[float]
    base_total: list[float]

    @property
    def self_delta(self) -> list[float]:
        return [n - b for n, b in zip(self.new_self, self.base_self)]


def _check(base: Profile, new: Profile) -> None:
    if base.unit != new.unit:
        raise BadInput(f"cannot compare a {base.kind} profile in {base.unit} with a {new.kind} profile in {new.unit}")
    if base.total <= 0 or new.total <= 0:
        raise BadInput("cannot compare: one of the profiles has no samples")


def _path_shares(tree: FlameTree, names: list[str]) -> tuple[list[tuple[str, ...]], dict[tuple[str, ...], float],
                                                              dict[tuple[str, ...], float]]:
    """Each node's call path (function identities from the root) and the self and total share per path.

    Nodes with the same path (one Python function sampled at several lines is several frames, so
    several sibling nodes) are one function there and add up, as in the text diff."""
    grand = tree.grand_total or 1.0
    paths: list[tuple[str, ...]] = []
    self_share: dict[tuple[str, ...], float] = {}
    total_share: dict[tuple[str, ...], float] = {}
    for frame, parent, own, total in zip(tree.frame.tolist(), tree.parent.tolist(), tree.self_weight.tolist(),
                                         tree.total.tolist()):
        path = (paths[parent] if parent >= 0 else ()) + (names[frame],)
        paths.append(path)
        self_share[path] = self_share.get(path, 0.0) + own / grand
        total_share[path] = total_share.get(path, 0.0) + total / grand
    return paths, self_share, total_share


def flame_diff(base: Profile, new: Profile, min_fraction: float = 0.001) -> FlameDiff:
    """Match NEW's nodes to BASE's by call path of function identities (the names the text diff,
    profkit.compare.functions, uses: Python ``module.function`` without line numbers); shares
    normalise both totals, so two captures of the same code come out neutral."""
    from profkit.analyze.frames import display_name

    _check(base, new)
    tree = build_tree(new, min_fraction)
    base_tree = build_tree(base, 0.0)
    new_paths, new_self, new_total = _path_shares(tree, [display_name(f, new.language) for f in new.frames])
    _, base_self, base_total = _path_shares(base_tree, [display_name(f, base.language) for f in base.frames])
    return FlameDiff(
        tree=tree,
        new_self=[new_self[p] for p in new_paths],
        new_total=[new_total[p] for p in new_paths],
        base_self=[base_self.get(p, 0.0) for p in new_paths],
        base_total=[base_total.get(p, 0.0) for p in new_paths],
    )


def delta_colour(delta: float, largest: float) -> str:
    """Red for growth, blue for shrinkage, paler the smaller the change (relative to the largest)."""
    if abs(delta) < NOISE or largest <= 0:
        return UNCHANGED
    strength = min(1.0, abs(delta) / largest) ** 0.5
    light = round(88 - 40 * strength)
    return f"hsl(0,85%,{light}%)" if delta > 0 else f"hsl(215,80%,{light}%)"


def _pp(value: float) -> str:
    return f"{value * 100:+.2f} pp"


def render_diff_svg(base: Profile, new: Profile, title: str = "", width: int = 1200, theme: SvgTheme = "light") -> str:
    """The differential flame graph as a standalone SVG (widths: NEW; colour: change in self share)."""
    diff = flame_diff(base, new)
    deltas = diff.self_delta
    largest = max((abs(d) for d in deltas), default=0.0)
    colours = [delta_colour(d, largest) for d in deltas]
    notes = [
        f"self {bs:.2%} → {ns:.2%} ({_pp(ns - bs)}), total {bt:.2%} → {nt:.2%} ({_pp(nt - bt)})"
        + (" · new in NEW" if bt == 0 else "")
        for bs, ns, bt, nt in zip(diff.base_self, diff.new_self, diff.base_total, diff.new_total)
    ]
    heading = (title or "differential flame graph") + " · red grew, blue shrank (self share) · widths: NEW"
    return render_flamegraph_svg(new, heading, width, tree=diff.tree, node_colours=colours, node_notes=notes,
                                 theme=theme)


def diff_folded(base: Profile, new: Profile) -> str:
    """Two-column folded stacks (``stack base new``), as flamegraph.pl's difffolded writes them."""
    _check(base, new)
    counts: dict[str, list[float]] = {}
    for column, profile in enumerate((base, new)):
        for names, weight in profile.named_stacks():
            counts.setdefault(";".join(names), [0.0, 0.0])[column] += weight
    return "".join(f"{stack} {b:.0f} {n:.0f}\n" for stack, (b, n) in sorted(counts.items()))


def diff_table(base: Profile, new: Profile, limit: int = 20) -> str:
    """Functions whose share of the total changed most (flat and cumulative), as text."""
    _check(base, new)
    base_flat, base_cum = base.function_totals()
    new_flat, new_cum = new.function_totals()
    bt, nt = base.total, new.total
    names = set(base_flat) | set(new_flat) | set(base_cum) | set(new_cum)
    rows = sorted(names, key=lambda n: -abs(new_cum.get(n, 0) / nt - base_cum.get(n, 0) / bt))[:limit]
    lines = [f"{'flat base':>9} {'flat new':>9} {'cum base':>9} {'cum new':>9} {'Δcum':>9}  function"]
    for name in rows:
        fb, fn = base_flat.get(name, 0) / bt, new_flat.get(name, 0) / nt
        cb, cn = base_cum.get(name, 0) / bt, new_cum.get(name, 0) / nt
        lines.append(f"{fb:9.2%} {fn:9.2%} {cb:9.2%} {cn:9.2%} {_pp(cn - cb):>9}  {name}")
    return "\n".join(lines) + "\n"
